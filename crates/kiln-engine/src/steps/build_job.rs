//! `build job: 'name', parameters: [...], wait: true, propagate: true, quietPeriod: 5`:
//! queues a build of another job through the build's [`crate::Coordinator`], says so in the
//! log (`Starting building: name #N` with its URL), waits for it and propagates its result
//! as the Pipeline: Build Step plugin does: with `propagate`, a downstream FAILURE fails the
//! step, ABORTED aborts it, UNSTABLE makes the stage and build UNSTABLE; without, the step
//! succeeds and the caller reads `result`. Stopping the step while it waits (the build is
//! aborted) aborts the downstream build too, as Jenkins does.

use super::StepCall;
use crate::error::StepError;
use crate::eval::eval_string;
use crate::{BuildId, BuildResult, FinishedJob, JobRequest};
use kiln_script::Value;
use kiln_syntax::ast::{Expr, ExprKind};
use std::collections::BTreeMap;

/// The parameter kinds `parameters: [...]` may hold.
const KINDS: &[&str] = &["string", "booleanParam", "text", "choice", "password"];

pub(crate) async fn build_job(call: &StepCall<'_>) -> Result<Value, StepError> {
    let job = call.req_string("job")?;
    let quiet_period = match call.int("quietPeriod")? {
        None => None,
        Some(n) => Some(u64::try_from(n).map_err(|_| {
            StepError::failed(format!("build: `quietPeriod` must be 0 or more, not {n}"))
        })?),
    };
    let req = JobRequest {
        job: job.clone(),
        params: parameters(call)?,
        wait: call.bool("wait", true)?,
        quiet_period,
    };
    let propagate = call.bool("propagate", true)?;
    let wait = req.wait;
    let started = call
        .build
        .spec
        .coordinator
        .start_job(req)
        .await
        .map_err(StepError::failed)?;
    let shown = shown(&started.id);
    match &started.url {
        Some(url) => call.log(&format!("Starting building: {shown} ({url})")),
        None => call.log(&format!("Starting building: {shown}")),
    }
    let Some(finished) = started.finished.filter(|_| wait) else {
        return Ok(wrapper(&started.id, started.url.as_deref(), None));
    };
    let end: FinishedJob = tokio::select! {
        end = finished => end.map_err(StepError::failed)?,
        () = call.scope.cancel.cancelled() => {
            return Err(StepError::aborted(format!("the build was aborted while waiting for {shown}")));
        }
    };
    call.log(&format!("Build {shown} completed: {}", end.result));
    if propagate {
        propagate_result(call, &shown, end.result)?;
    }
    Ok(wrapper(&started.id, started.url.as_deref(), Some(&end)))
}

/// Jenkins' full display name of a build: `name #4`.
fn shown(id: &BuildId) -> String {
    format!("{} #{}", id.job, id.number)
}

fn propagate_result(
    call: &StepCall<'_>,
    shown: &str,
    result: BuildResult,
) -> Result<(), StepError> {
    let why = format!("{shown} completed with status {result} (propagate: false to ignore)");
    match result {
        BuildResult::Success => Ok(()),
        BuildResult::Unstable => {
            call.scope.stage.worsen(BuildResult::Unstable);
            call.build.worsen(BuildResult::Unstable);
            Ok(())
        }
        BuildResult::Aborted => Err(StepError::aborted(why)),
        BuildResult::Failure | BuildResult::NotBuilt => Err(StepError::failed(why)),
    }
}

/// What the step returns, as Jenkins' `RunWrapper` offers it to scripts.
fn wrapper(id: &BuildId, url: Option<&str>, end: Option<&FinishedJob>) -> Value {
    let mut entries = vec![
        (
            "number".to_owned(),
            Value::Int(i64::try_from(id.number).unwrap_or(i64::MAX)),
        ),
        ("projectName".to_owned(), Value::Str(id.job.clone())),
        ("fullProjectName".to_owned(), Value::Str(id.job.clone())),
        (
            "displayName".to_owned(),
            Value::Str(format!("#{}", id.number)),
        ),
        ("fullDisplayName".to_owned(), Value::Str(shown(id))),
        (
            "absoluteUrl".to_owned(),
            url.map_or(Value::Null, |u| Value::Str(u.to_owned())),
        ),
    ];
    match end {
        Some(end) => {
            let result = end.result.to_string();
            entries.push(("result".to_owned(), Value::Str(result.clone())));
            entries.push(("currentResult".to_owned(), Value::Str(result)));
            let vars = end
                .variables
                .iter()
                .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
                .collect();
            entries.push(("buildVariables".to_owned(), Value::Map(vars)));
        }
        None => {
            entries.push(("result".to_owned(), Value::Null));
            entries.push(("buildVariables".to_owned(), Value::Map(Vec::new())));
        }
    }
    Value::Map(entries)
}

/// `parameters: [string(name: 'X', value: 'y'), booleanParam(name: 'B', value: true)]`, as
/// written in `steps { }` or as the descriptor maps a script passes.
fn parameters(call: &StepCall<'_>) -> Result<BTreeMap<String, String>, StepError> {
    let mut out = BTreeMap::new();
    if let super::Args::Script(_) = call.args {
        let items = match call.value("parameters")? {
            None => return Ok(out),
            Some(Value::List(items)) => items,
            Some(one) => vec![one],
        };
        for item in items {
            let kind = item
                .get(super::scripted::DESCRIPTOR_KEY)
                .and_then(Value::as_str)
                .map(str::to_owned);
            let name = item.get("name").map(ToString::to_string);
            let value = item.get("value").map(ToString::to_string);
            let (Some(kind), Some(name)) = (kind, name) else {
                return Err(bad_parameter());
            };
            checked_kind(&kind)?;
            out.insert(name, value.unwrap_or_default());
        }
        return Ok(out);
    }
    let Some(expr) = call.expr("parameters") else {
        return Ok(out);
    };
    let items: Vec<&Expr> = match &expr.kind {
        ExprKind::List(items) => items.iter().collect(),
        _ => vec![expr],
    };
    for item in items {
        let ExprKind::Call { callee, args, .. } = &item.kind else {
            return Err(bad_parameter());
        };
        checked_kind(callee.as_ident().unwrap_or_default())?;
        let (mut name, mut value) = (None, String::new());
        for a in args {
            match a.name.as_ref().map(|n| n.name.as_str()) {
                Some("name") => name = Some(eval_string(&a.value, call.build, call.scope)?),
                Some("value") => value = eval_string(&a.value, call.build, call.scope)?,
                _ => {}
            }
        }
        out.insert(name.ok_or_else(bad_parameter)?, value);
    }
    Ok(out)
}

fn checked_kind(kind: &str) -> Result<(), StepError> {
    if KINDS.contains(&kind) {
        Ok(())
    } else {
        Err(StepError::failed(format!(
            "build: parameter kind `{kind}` is not supported; use string, booleanParam, text, choice or password"
        )))
    }
}

fn bad_parameter() -> StepError {
    StepError::failed(
        "build: expected parameters such as `string(name: 'X', value: 'y')` or `booleanParam(name: 'B', value: true)`",
    )
}
