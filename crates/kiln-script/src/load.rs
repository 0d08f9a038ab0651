//! `load 'ci/helpers.groovy'`: runs a Groovy file of the workspace inside the running
//! script and returns its value; with `return this` at its end, an object whose methods
//! are the file's functions (`helpers.deploy('prod')`), as in Jenkins.
//!
//! The file is read with the host's `readFile` step (so only what the build itself can
//! read), translated like any script, and run on the same Rhai engine with the same
//! globals (`env`, `params`, script variables); the steps it calls are asked of the host
//! as it is loaded. Its problems are reported with the file's own line and column.

use crate::run::RunState;
use crate::runtime::loaded::{GLoaded, GScriptThis};
use crate::runtime::types::{RtResult, fail, groovy_str};
use crate::translate;
use crate::unit::compile;
use kiln_diagnostics::{Diagnostic, SourceFile, Span};
use rhai::{Dynamic, Map, NativeCallContext, Scope};

/// The problem `d` in the loaded file `path`, as `load('path') line:col: message`.
fn describe(path: &str, text: &str, d: &Diagnostic) -> String {
    let at = SourceFile::new(path, text).line_col(d.primary_span().start);
    format!("load('{path}'): {}:{}: {}", at.line, at.col, d.message)
}

/// Loads and runs `path`.
pub(crate) fn load(
    state: &RunState,
    ctx: &NativeCallContext,
    path: &str,
    span: Span,
) -> RtResult<Dynamic> {
    let Some(bridge) = state.bridge.as_ref().filter(|b| b.has("readFile")) else {
        return fail(format!(
            "load('{path}'): files can be loaded only where the build has a workspace"
        ));
    };
    let mut named = Map::new();
    named.insert("file".into(), path.to_string().into());
    let text =
        groovy_str(&state.step(ctx, bridge, "readFile", &named, &[], &Dynamic::UNIT, span)?);
    let (file, diags) = kiln_syntax::parse(&text);
    if let Some(d) = diags.iter().find(|d| d.is_error()) {
        return fail(describe(path, &text, d));
    }
    let unit = match compile(ctx.engine(), translate::block(&file.statements)) {
        Ok(unit) => unit,
        Err(diags) => {
            return match diags.iter().find(|d| d.is_error()) {
                Some(d) => fail(describe(path, &text, d)),
                None => fail(format!("load('{path}'): the file cannot be run")),
            };
        }
    };
    let unknown: Vec<String> = unit
        .calls
        .iter()
        .filter(|n| !bridge.has(n))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        bridge.learn(unknown)?;
    }
    let value = ctx
        .engine()
        .eval_ast_with_scope::<Dynamic>(&mut Scope::new(), &unit.ast)?;
    if value.is::<GScriptThis>() {
        return Ok(Dynamic::from(GLoaded {
            path: path.to_string(),
            unit,
        }));
    }
    Ok(value)
}
