//! The plain flow steps `echo`, `error`, `unstable` and `sleep`, and the timing helpers of
//! `timeout` (the block steps themselves are in `block`).

use super::StepCall;
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
    // A resumed build repeating itself slept before the restart.
    if call.executor().is_ok_and(|e| e.is_replaying()) {
        return Ok(Value::Null);
    }
    tokio::select! {
        () = tokio::time::sleep(duration) => Ok(Value::Null),
        () = call.scope.cancel.cancelled() => Err(StepError::aborted("sleep was interrupted")),
    }
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
pub(crate) fn human(d: Duration) -> String {
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
