//! Shared-library steps (`vars/NAME.rhai`): called from `steps { }` with the caller's
//! block as steps, or from a script with its closure. The library code runs in
//! kiln-script; its steps come back to the same host and run in the calling stage.

use super::script::{Body, ScriptHost, blocking};
use crate::build::Build;
use crate::error::StepError;
use crate::eval::{context, eval};
use crate::scope::Scope;
use kiln_model::Step;
use kiln_script::Value;
use kiln_syntax::ast::Arg;
use std::sync::Arc;

/// A library step written in `steps { }`.
pub(crate) async fn from_steps(
    build: &Arc<Build>,
    name: &str,
    args: &[Arg],
    body: Option<&[Step]>,
    scope: &Scope,
) -> Result<Value, StepError> {
    if build.scripts.libraries.step(name).is_none() {
        return Err(not_defined(build, name));
    }
    let mut named = Vec::new();
    let mut positional = Vec::new();
    for a in args {
        let v = eval(&a.value, build, scope)?;
        match &a.name {
            Some(n) => named.push((n.name.clone(), v)),
            None => positional.push(v),
        }
    }
    let value = arguments(named, positional);
    let has_body = body.is_some();
    let name = name.to_owned();
    blocking(
        build,
        scope,
        body.map(<[Step]>::to_vec),
        move |host, ctx| {
            let build = Arc::clone(&host.build);
            let Some(lib) = build.scripts.libraries.step(&name) else {
                return Ok(Value::Null);
            };
            build
                .script
                .call_library(&lib.code, &name, &value, has_body, ctx, host)
        },
    )
    .await
}

/// A library step called from a script.
pub(crate) fn from_script(
    host: &mut ScriptHost<'_>,
    name: &str,
    call: &kiln_script::StepCall<'_>,
    scope: &Scope,
) -> Result<Value, StepError> {
    let build = Arc::clone(&host.build);
    let Some(lib) = build.scripts.libraries.step(name) else {
        return Err(not_defined(&build, name));
    };
    let named: Vec<(String, Value)> = call
        .named
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let value = arguments(named, call.positional.clone());
    let mut ctx = context(&build, scope);
    let mut lib_host = ScriptHost::new(&build, scope, host.handle.clone());
    lib_host.body = call.body.map(|closure| Body::Closure {
        call,
        closure,
        outer: host,
    });
    let result = build.script.call_library(
        &lib.code,
        name,
        &value,
        call.body.is_some(),
        &mut ctx,
        &mut lib_host,
    );
    result.map_err(|e| match lib_host.last_error.take() {
        Some(step) if step.is_interruption() => step,
        _ => StepError::failed(e.to_string()),
    })
}

/// What `fn call(args)` receives: the named arguments as a map, else the single
/// positional argument (a list when there are several, null when none).
fn arguments(named: Vec<(String, Value)>, mut positional: Vec<Value>) -> Value {
    match (named.is_empty(), positional.len()) {
        (false, _) => Value::Map(named),
        (true, 0) => Value::Null,
        (true, 1) => positional.remove(0),
        (true, _) => Value::List(positional),
    }
}

fn not_defined(build: &Build, name: &str) -> StepError {
    let libs = &build.scripts.libraries;
    if libs.is_empty() {
        return StepError::failed(kiln_model::unprovided_step_message(name));
    }
    let labels: Vec<&str> = libs.iter().map(|l| l.label()).collect();
    StepError::failed(format!(
        "step `{name}` is not defined by the loaded libraries ({})",
        labels.join(", ")
    ))
}
