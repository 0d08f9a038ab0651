//! `script { }`: Groovy run by kiln-script, whose step calls come back here and run the
//! same step implementations as `steps { }` does.
//!
//! The script runs on a blocking thread (kiln-script gives it a thread of its own and
//! serves its step calls on ours); each step call is driven to completion there with the
//! runtime's handle.

use super::{Args, StepCall, native};
use crate::build::Build;
use crate::error::StepError;
use crate::eval::{context, script_error};
use crate::scope::Scope;
use kiln_model::{BodyRule, native_step};
use kiln_script::{StepHost, Value};
use kiln_syntax::ast::Stmt;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::runtime::Handle;

pub(crate) async fn script(
    build: &Arc<Build>,
    stmts: &[Stmt],
    scope: &Scope,
) -> Result<Value, StepError> {
    let cancelled = Arc::new(AtomicBool::new(scope.cancel.is_cancelled()));
    let watcher = {
        let token = scope.cancel.clone();
        let flag = Arc::clone(&cancelled);
        tokio::spawn(async move {
            token.cancelled().await;
            flag.store(true, Ordering::Relaxed);
        })
    };
    let mut host = ScriptHost {
        build: Arc::clone(build),
        scope: scope.clone(),
        handle: Handle::current(),
        last_error: None,
    };
    let stmts = stmts.to_vec();
    let joined = tokio::task::spawn_blocking(move || {
        let mut ctx = context(&host.build, &host.scope);
        ctx.cancel = cancelled;
        let build = Arc::clone(&host.build);
        let result = build.script.eval_block(&stmts, &mut ctx, &mut host);
        result.map_err(|e| match host.last_error.take() {
            // A step's own error comes back with its kind (an interruption stays one).
            Some(step_error) if e.message() == step_error.to_string() => step_error,
            _ => script_error(e),
        })
    })
    .await;
    watcher.abort();
    joined.map_err(|e| StepError::failed(format!("the script block stopped unexpectedly: {e}")))?
}

/// Serves a script's step calls with kiln's steps, in the scope of the `script { }` step.
struct ScriptHost {
    build: Arc<Build>,
    scope: Scope,
    handle: Handle,
    /// The last step error, to give the block's error its kind back.
    last_error: Option<StepError>,
}

impl StepHost for ScriptHost {
    fn has_step(&self, name: &str) -> bool {
        native_step(name).is_some()
    }

    fn call_step(&mut self, name: &str, call: kiln_script::StepCall<'_>) -> Result<Value, String> {
        let Some(def) = native_step(name) else {
            return Err(format!("`{name}` is not a kiln step"));
        };
        if def.body != BodyRule::None && call.body.is_some() {
            return Err(format!(
                "`{name} {{ }}` inside `script {{ }}` is not run yet by kiln; use it in `steps {{ }}`"
            ));
        }
        let mut named: BTreeMap<String, Value> = call.named.clone();
        if let (Some(first), Some(param)) = (call.positional.first(), def.params.first()) {
            named
                .entry(param.name.to_owned())
                .or_insert_with(|| first.clone());
        }
        let step_call = StepCall {
            build: &self.build,
            scope: &self.scope,
            name,
            args: Args::Script(&named),
            body: None,
        };
        match self.handle.block_on(native(def.id, &step_call)) {
            Ok(v) => Ok(v),
            Err(e) => {
                let message = e.to_string();
                self.last_error = Some(e);
                Err(message)
            }
        }
    }
}
