//! Steps that run a block: `dir`, `withEnv`, `timeout`, `retry`, `catchError`, `warnError`,
//! wrappers (`timestamps`, `ansiColor`, `container`), and the plain flow steps `echo`,
//! `error`, `unstable` and `sleep`.

use super::{StepCall, run_steps};
use crate::BuildResult;
use crate::error::{Interruption, StepError};
use crate::scope::Scope;
use kiln_script::Value;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub(crate) fn echo(call: &StepCall<'_>) -> Result<Value, StepError> {
    let message = call
        .value("message")?
        .map(|v| v.to_string())
        .unwrap_or_default();
    for line in message.split('\n') {
        call.log(line);
    }
    Ok(Value::Null)
}

pub(crate) fn error(call: &StepCall<'_>) -> Result<Value, StepError> {
    let message = call
        .value("message")?
        .map(|v| v.to_string())
        .unwrap_or_default();
    Err(StepError::Failed(message))
}

pub(crate) fn unstable(call: &StepCall<'_>) -> Result<Value, StepError> {
    let message = call.req_string("message")?;
    call.log(&format!("WARNING: {message}"));
    call.scope.stage.worsen(BuildResult::Unstable);
    call.build.worsen(BuildResult::Unstable);
    Ok(Value::Null)
}

pub(crate) async fn sleep(call: &StepCall<'_>) -> Result<Value, StepError> {
    let time = call.int("time")?.unwrap_or(0);
    let unit = call.string("unit")?.unwrap_or_else(|| "SECONDS".to_owned());
    let duration = duration_of(time, &unit)?;
    tokio::select! {
        () = tokio::time::sleep(duration) => Ok(Value::Null),
        () = call.scope.cancel.cancelled() => Err(StepError::aborted("sleep was interrupted")),
    }
}

pub(crate) async fn dir(call: &StepCall<'_>) -> Result<Value, StepError> {
    let path = call.req_string("path")?;
    let cwd = call.scope.cwd.join(path);
    call.build.executor.create_dir(&cwd).await?;
    let scope = Scope {
        cwd,
        ..call.scope.clone()
    };
    run_steps(call.build, call.body(), &scope).await?;
    Ok(Value::Null)
}

pub(crate) async fn with_env(call: &StepCall<'_>) -> Result<Value, StepError> {
    let overrides = call.string_list("overrides")?;
    let mut vars = Vec::with_capacity(overrides.len());
    for entry in overrides {
        let Some((name, value)) = entry.split_once('=') else {
            return Err(StepError::failed(format!(
                "withEnv: `{entry}` is not of the form NAME=value"
            )));
        };
        vars.push(env_override(call.scope, name, value));
    }
    let scope = call.scope.with_env(vars);
    run_steps(call.build, call.body(), &scope).await?;
    Ok(Value::Null)
}

/// `NAME=value`, or Jenkins' `PATH+ANYTHING=/dir`, which puts `/dir` in front of `PATH`.
fn env_override(scope: &Scope, name: &str, value: &str) -> (String, String) {
    match name.split_once('+') {
        Some((base, _)) => {
            let joined = match scope.var(base) {
                Some(old) if !old.is_empty() => format!("{value}:{old}"),
                _ => value.to_owned(),
            };
            (base.to_owned(), joined)
        }
        None => (name.to_owned(), value.to_owned()),
    }
}

pub(crate) async fn timeout(call: &StepCall<'_>) -> Result<Value, StepError> {
    let time = call.int("time")?.unwrap_or(0);
    let unit = call.string("unit")?.unwrap_or_else(|| "MINUTES".to_owned());
    let duration = duration_of(time, &unit)?;
    let token = call.scope.cancel.child_token();
    let scope = Scope {
        cancel: token.clone(),
        ..call.scope.clone()
    };
    let body = run_steps(call.build, call.body(), &scope);
    with_timeout(body, &token, duration, |line| call.log(line)).await?;
    Ok(Value::Null)
}

/// Runs `body` (which must watch `token`) for at most `limit`. When the time runs out, the
/// token fires and the body's interruption becomes Jenkins' "Timeout has been exceeded".
pub(crate) async fn with_timeout<T>(
    body: impl Future<Output = Result<T, StepError>>,
    token: &CancellationToken,
    limit: Duration,
    log: impl Fn(&str),
) -> Result<T, StepError> {
    tokio::pin!(body);
    let timer = tokio::time::sleep(limit);
    tokio::pin!(timer);
    let mut expired = false;
    let result = loop {
        tokio::select! {
            r = &mut body => break r,
            () = &mut timer, if !expired => {
                expired = true;
                log(&format!("Timeout set to expire after {}", human(limit)));
                log("Cancelling nested steps due to timeout");
                token.cancel();
            }
        }
    };
    match result {
        Err(e) if expired && e.is_interruption() => Err(StepError::Interrupted {
            cause: Interruption::Timeout,
            message: "Timeout has been exceeded".to_owned(),
        }),
        other => other,
    }
}

pub(crate) async fn retry(call: &StepCall<'_>) -> Result<Value, StepError> {
    let count = call.int("count")?.unwrap_or(1).max(1);
    let mut attempt = 1;
    loop {
        match run_steps(call.build, call.body(), call.scope).await {
            Ok(()) => return Ok(Value::Null),
            Err(e) if !retryable(&e, call.scope) || attempt >= count => return Err(e),
            Err(e) => {
                call.log(&format!("ERROR: {e}"));
                call.log("Retrying");
                attempt += 1;
            }
        }
    }
}

/// Errors and expired timeouts inside the block are retried; aborts are not.
pub(crate) fn retryable(e: &StepError, scope: &Scope) -> bool {
    !scope.cancel.is_cancelled()
        && !matches!(
            e,
            StepError::Interrupted {
                cause: Interruption::Aborted,
                ..
            }
        )
}

/// `catchError` (build and stage FAILURE by default) and `warnError` (both UNSTABLE).
pub(crate) async fn catch_error(call: &StepCall<'_>, warn: bool) -> Result<Value, StepError> {
    let default = if warn {
        BuildResult::Unstable
    } else {
        BuildResult::Failure
    };
    let build_result = result_arg(call, "buildResult", default)?;
    let stage_result = result_arg(call, "stageResult", default)?;
    let message = call.string("message")?;
    let catch_interruptions = call.bool("catchInterruptions", true)?;
    match run_steps(call.build, call.body(), call.scope).await {
        Ok(()) => Ok(Value::Null),
        Err(e) if e.is_interruption() && !catch_interruptions => Err(e),
        Err(e) => {
            if let Some(m) = &message {
                call.log(
                    if warn {
                        format!("WARNING: {m}")
                    } else {
                        m.clone()
                    }
                    .as_str(),
                );
            }
            call.log(&format!("ERROR: {e}"));
            let (b, s) = if e.is_interruption() {
                (BuildResult::Aborted, BuildResult::Aborted)
            } else {
                (build_result, stage_result)
            };
            call.build.worsen(b);
            call.scope.stage.worsen(s);
            Ok(Value::Null)
        }
    }
}

fn result_arg(
    call: &StepCall<'_>,
    name: &str,
    default: BuildResult,
) -> Result<BuildResult, StepError> {
    match call.string(name)? {
        None => Ok(default),
        Some(s) => BuildResult::parse(&s.to_ascii_uppercase()).ok_or_else(|| {
            StepError::failed(format!(
                "`{name}` must be SUCCESS, UNSTABLE, FAILURE, NOT_BUILT or ABORTED, not `{s}`"
            ))
        }),
    }
}

pub(crate) async fn timestamps(call: &StepCall<'_>) -> Result<Value, StepError> {
    let scope = Scope {
        timestamps: true,
        ..call.scope.clone()
    };
    run_steps(call.build, call.body(), &scope).await?;
    Ok(Value::Null)
}

/// `ansiColor { }`: colours pass through untouched, so only the body runs.
pub(crate) async fn ansi_color(call: &StepCall<'_>) -> Result<Value, StepError> {
    run_steps(call.build, call.body(), call.scope).await?;
    Ok(Value::Null)
}

/// `container('x') { }`: with an executor that has containers (a pod), the body's processes
/// run in container `x`; otherwise a notice says the step is ignored.
pub(crate) async fn container(call: &StepCall<'_>) -> Result<Value, StepError> {
    let name = call.req_string("name")?;
    if call.build.executor.runs_in_containers() {
        let scope = Scope {
            container: Some(name),
            ..call.scope.clone()
        };
        run_steps(call.build, call.body(), &scope).await?;
        return Ok(Value::Null);
    }
    call.build.notice_once(format!(
        "container('{name}') is ignored by the {} executor: steps run on this machine",
        call.build.executor.describe()
    ));
    run_steps(call.build, call.body(), call.scope).await?;
    Ok(Value::Null)
}

/// A `time` in a Java `TimeUnit`.
pub(crate) fn duration_of(time: i64, unit: &str) -> Result<Duration, StepError> {
    let time = u64::try_from(time)
        .map_err(|_| StepError::failed(format!("time must not be negative, got {time}")))?;
    Ok(match unit.to_ascii_uppercase().as_str() {
        "NANOSECONDS" => Duration::from_nanos(time),
        "MICROSECONDS" => Duration::from_micros(time),
        "MILLISECONDS" => Duration::from_millis(time),
        "SECONDS" => Duration::from_secs(time),
        "MINUTES" => Duration::from_secs(time.saturating_mul(60)),
        "HOURS" => Duration::from_secs(time.saturating_mul(3600)),
        "DAYS" => Duration::from_secs(time.saturating_mul(86_400)),
        other => return Err(StepError::failed(format!("unknown time unit `{other}`"))),
    })
}

/// `1 min 30 sec`, `250 ms`.
fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms} ms");
    }
    let secs = d.as_secs();
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s} sec"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} sec"),
    }
}
