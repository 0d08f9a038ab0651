//! What `load 'ci/helpers.groovy'` returns when the loaded file ends with `return this`:
//! its functions, callable as methods (`helpers.deploy('prod')`). See `crate::load`.

use super::types::RtResult;
use crate::translate::names;
use crate::unit::Unit;
use rhai::{Array, CallFnOptions, Dynamic, EvalAltResult, NativeCallContext, Scope};
use std::sync::Arc;

/// The script object `this` at the top level of a script (only `load` uses it).
#[derive(Clone, Debug)]
pub(crate) struct GScriptThis;

/// A loaded script: its compiled code, whose functions are its methods.
#[derive(Clone)]
pub(crate) struct GLoaded {
    pub path: String,
    pub unit: Arc<Unit>,
}

impl std::fmt::Debug for GLoaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "loaded script {}", self.path)
    }
}

/// Calls function `name` of the loaded script; `None` when it has none taking `args`.
pub(crate) fn call(
    ctx: &NativeCallContext,
    loaded: &GLoaded,
    name: &str,
    args: &Array,
) -> RtResult<Option<Dynamic>> {
    let function = names::function(name);
    let result = ctx.engine().call_fn_with_options::<Dynamic>(
        CallFnOptions::new().eval_ast(false),
        &mut Scope::new(),
        &loaded.unit.ast,
        &function,
        args.clone(),
    );
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) => match *e {
            EvalAltResult::ErrorFunctionNotFound(ref sig, _)
                if sig
                    .strip_prefix(&function)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '('])) =>
            {
                Ok(None)
            }
            _ => Err(e),
        },
    }
}
