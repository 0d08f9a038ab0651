//! `script { }`: Groovy run by kiln-script, whose step calls come back here and run the
//! same step implementations as `steps { }` does.
//!
//! The script runs on a blocking thread (kiln-script gives it a thread of its own and
//! serves its step calls on ours); each step is driven there with the runtime's handle.
//! Block steps run their async `enter`, then the script's closure (back on the script
//! thread), then their async `exit` (see `block`).

use super::{Args, StepCall, block, library, native, scripted};
use crate::BuildResult;
use crate::build::Build;
use crate::error::StepError;
use crate::eval::{context, script_error};
use crate::scope::Scope;
use kiln_model::{Step, native_step};
use kiln_script::{
    BODY_STEP, ClosureRef, DOCKER_STEP, ScriptContext, ScriptError, StepHost, Value,
};
use kiln_syntax::ast::Stmt;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::runtime::Handle;

/// Runs statements (a `script { }` block, a preamble, a scripted pipeline) in `scope`.
pub(crate) async fn script(
    build: &Arc<Build>,
    stmts: &[Stmt],
    scope: &Scope,
) -> Result<Value, StepError> {
    let stmts = stmts.to_vec();
    blocking(build, scope, None, move |host, ctx| {
        let build = Arc::clone(&host.build);
        build.script.eval_block(&stmts, ctx, host)
    })
    .await
}

/// Runs `work` (a script evaluation) on a blocking thread with a host serving its steps,
/// then keeps what the script changed: its definitions, `env` and `currentBuild`.
pub(crate) async fn blocking<F>(
    build: &Arc<Build>,
    scope: &Scope,
    body: Option<Vec<Step>>,
    work: F,
) -> Result<Value, StepError>
where
    F: FnOnce(&mut ScriptHost<'_>, &mut ScriptContext) -> Result<Value, ScriptError>
        + Send
        + 'static,
{
    let cancelled = Arc::new(AtomicBool::new(scope.cancel.is_cancelled()));
    let watcher = {
        let token = scope.cancel.clone();
        let flag = Arc::clone(&cancelled);
        tokio::spawn(async move {
            token.cancelled().await;
            flag.store(true, Ordering::Relaxed);
        })
    };
    let build = Arc::clone(build);
    let scope = scope.clone();
    let handle = Handle::current();
    let joined = tokio::task::spawn_blocking(move || {
        let mut ctx = context(&build, &scope);
        ctx.cancel = cancelled;
        let before = ctx.env.clone();
        let mut host = ScriptHost::new(&build, &scope, handle);
        host.body = body.as_deref().map(Body::Steps);
        let result = work(&mut host, &mut ctx);
        keep(&build, &before, &ctx);
        result.map_err(|e| host.step_error(e))
    })
    .await;
    watcher.abort();
    joined.map_err(|e| StepError::failed(format!("the script stopped unexpectedly: {e}")))?
}

/// Keeps a script's definitions, `env` writes and `currentBuild` writes for the build.
fn keep(build: &Build, env_before: &BTreeMap<String, String>, ctx: &ScriptContext) {
    build.keep_definitions(ctx);
    build.keep_env(env_before, &ctx.env);
    let cb = &ctx.current_build;
    if let Some(r) = cb
        .result
        .as_deref()
        .and_then(|r| BuildResult::parse(&r.to_ascii_uppercase()))
    {
        build.worsen(r);
    }
    let number = build.spec.number;
    let display = Some(cb.display_name.clone()).filter(|d| *d != format!("#{number}"));
    build.set_labels(display, cb.description.clone());
}

/// The block a library step was called with: steps of `steps { }`, or a script's closure.
pub(crate) enum Body<'b> {
    Steps(&'b [Step]),
    Closure {
        call: &'b kiln_script::StepCall<'b>,
        closure: ClosureRef,
        outer: &'b mut (dyn StepHost + 'b),
    },
}

/// Serves a script's step calls with kiln's steps, in the scope of the script.
pub(crate) struct ScriptHost<'b> {
    pub(crate) build: Arc<Build>,
    pub(crate) scope: Scope,
    pub(crate) handle: Handle,
    /// The last step error, to give the script's error its kind back.
    pub(crate) last_error: Option<StepError>,
    /// For a library step's code: the block its caller gave.
    pub(crate) body: Option<Body<'b>>,
}

impl<'b> ScriptHost<'b> {
    pub(crate) fn new(build: &Arc<Build>, scope: &Scope, handle: Handle) -> Self {
        ScriptHost {
            build: Arc::clone(build),
            scope: scope.clone(),
            handle,
            last_error: None,
            body: None,
        }
    }

    /// A script error as a step error: a step's own error comes back with its kind (an
    /// interruption stays one).
    pub(crate) fn step_error(&mut self, e: ScriptError) -> StepError {
        match self.last_error.take() {
            Some(step_error) if e.message() == step_error.to_string() => step_error,
            Some(step_error) if step_error.is_interruption() => step_error,
            _ => script_error(e),
        }
    }

    /// Runs `closure` of the script with `scope` (its `env` becomes the script's
    /// meanwhile); steps inside are served by a host in that scope.
    pub(crate) fn closure(
        &mut self,
        call: &kiln_script::StepCall<'_>,
        closure: Option<ClosureRef>,
        scope: &Scope,
    ) -> Result<Value, StepError> {
        let Some(c) = closure else {
            return Ok(Value::Null);
        };
        let mut inner = ScriptHost {
            build: Arc::clone(&self.build),
            scope: scope.clone(),
            handle: self.handle.clone(),
            last_error: None,
            body: self.body.take(),
        };
        let result = call.call_closure_in(&mut inner, c, Vec::new(), Some((*scope.env).clone()));
        self.body = inner.body.take();
        result.map_err(|m| match inner.last_error.take() {
            Some(e) if e.to_string() == m || e.is_interruption() => e,
            _ => StepError::failed(m),
        })
    }

    /// The scope a step call runs in: the host's, with the script's `env`.
    fn scope_for(&self, call: &kiln_script::StepCall<'_>) -> Scope {
        Scope {
            env: Arc::new(call.env.clone()),
            ..self.scope.clone()
        }
    }

    fn dispatch(
        &mut self,
        name: &str,
        call: &kiln_script::StepCall<'_>,
    ) -> Result<Value, StepError> {
        let scope = self.scope_for(call);
        if name == BODY_STEP {
            return self.caller_body(&scope);
        }
        if name == DOCKER_STEP {
            return super::docker_global::call(self, call, &scope);
        }
        if name == kiln_script::ARTIFACTORY_STEP {
            return super::artifactory::call(self, call, &scope);
        }
        if name == "withDockerContainer" && self.build.scripts.libraries.step(name).is_none() {
            return super::docker_global::with_docker_container(self, call, &scope);
        }
        if let Some(result) = scripted::call(self, name, call, &scope) {
            return result;
        }
        // A library's global step shadows a kiln step of the same name (see `run_step`).
        if let Some(def) =
            native_step(name).filter(|_| self.build.scripts.libraries.step(name).is_none())
        {
            let mut named: BTreeMap<String, Value> = call.named.clone();
            if let (Some(first), Some(param)) = (call.positional.first(), def.params.first()) {
                named
                    .entry(param.name.to_owned())
                    .or_insert_with(|| first.clone());
            }
            let step_call = StepCall {
                build: &Arc::clone(&self.build),
                scope: &scope,
                name,
                args: Args::Script(&named),
                body: None,
            };
            if block::is_block(def.id) {
                return self.block(def.id, &step_call, call);
            }
            return self.handle.block_on(native(def.id, &step_call));
        }
        if self.build.scripts.libraries.step(name).is_some() {
            return library::from_script(self, name, call, &scope);
        }
        Err(StepError::failed(format!("`{name}` is not a kiln step")))
    }

    /// A block step called from a script: `enter`, the closure, `exit` (again for `retry`).
    pub(crate) fn block(
        &mut self,
        id: kiln_model::StepId,
        step_call: &StepCall<'_>,
        call: &kiln_script::StepCall<'_>,
    ) -> Result<Value, StepError> {
        let mut entered = self.handle.block_on(block::enter(id, step_call))?;
        loop {
            let result = if entered.skip {
                Ok(())
            } else {
                self.closure(call, call.body, &entered.scope).map(|_| ())
            };
            match self
                .handle
                .block_on(block::exit(step_call, &mut entered, result))
            {
                block::After::Done(v) => return v,
                block::After::Again => {}
            }
        }
    }

    /// `body()` in library code: the block the library step was called with.
    fn caller_body(&mut self, scope: &Scope) -> Result<Value, StepError> {
        match self.body.take() {
            None => Ok(Value::Null),
            Some(Body::Steps(steps)) => {
                let build = Arc::clone(&self.build);
                let result = self.handle.block_on(super::run_steps(&build, steps, scope));
                self.body = Some(Body::Steps(steps));
                result.map(|()| Value::Null)
            }
            Some(Body::Closure {
                call,
                closure,
                outer,
            }) => {
                let result =
                    call.call_closure_in(outer, closure, Vec::new(), Some((*scope.env).clone()));
                self.body = Some(Body::Closure {
                    call,
                    closure,
                    outer,
                });
                result.map_err(StepError::failed)
            }
        }
    }
}

impl StepHost for ScriptHost<'_> {
    fn has_step(&self, name: &str) -> bool {
        native_step(name).is_some()
            || scripted::is_script_step(name)
            || name == BODY_STEP
            || name == DOCKER_STEP
            || name == kiln_script::ARTIFACTORY_STEP
            || self.build.scripts.libraries.step(name).is_some()
    }

    fn missing_step(&self, name: &str) -> Option<String> {
        Some(kiln_model::unprovided_step_message(name))
    }

    fn call_step(&mut self, name: &str, call: kiln_script::StepCall<'_>) -> Result<Value, String> {
        match self.dispatch(name, &call) {
            Ok(v) => Ok(v),
            Err(e) => {
                let message = e.to_string();
                self.last_error = Some(e);
                Err(message)
            }
        }
    }
}

/// The method a host object's call names (`$method`), or "" when the call names none.
pub(crate) fn host_method(call: &kiln_script::StepCall<'_>) -> String {
    call.named
        .get("$method")
        .and_then(kiln_script::Value::as_str)
        .unwrap_or_default()
        .to_owned()
}
