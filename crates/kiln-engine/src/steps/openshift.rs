//! `openshiftBuild(buildConfig:, namespace:, apiURL:, authToken:, showBuildLogs:,
//! commitID:, waitTime:, waitUnit:)` (OpenShift Pipeline plugin): starts a build of the
//! build config through the OpenShift API (`.../buildconfigs/NAME/instantiate`), follows
//! it until it ends, logs its output with `showBuildLogs: 'true'`, and fails unless it
//! completed.
//!
//! The plugin's defaults (the API of the cluster Jenkins runs in, its service account's
//! token and namespace) would hand a build kiln's own identity, so kiln asks for `apiURL`,
//! `authToken` and `namespace` (or `PROJECT_NAME` in the environment) instead; without
//! them the step fails saying so. `checkForTriggeredDeployments`, `buildName` and
//! `verbose` are named in the log as not used.

use super::StepCall;
use super::http_client::{HttpCall, send};
use crate::error::StepError;
use kiln_script::Value;
use std::time::{Duration, Instant};

const FIRST_POLL: Duration = Duration::from_millis(200);
const MAX_POLL: Duration = Duration::from_secs(5);

pub(crate) async fn openshift_build(call: &StepCall<'_>) -> Result<Value, StepError> {
    let fail = |m: String| StepError::failed(format!("openshiftBuild: {m}"));
    let bc = call.req_string("buildConfig")?;
    let api = call
        .string("apiURL")?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            fail("no OpenShift API: give `apiURL:` (and `authToken:`); kiln does not use its own cluster identity for builds".to_owned())
        })?
        .trim_end_matches('/')
        .to_owned();
    let token = call
        .string("authToken")?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| fail(format!("`authToken:` is needed to reach {api}")))?;
    call.build.add_secrets([token.clone()]);
    let namespace = call
        .string("namespace")?
        .filter(|s| !s.trim().is_empty())
        .or_else(|| call.scope.var("PROJECT_NAME").map(str::to_owned))
        .ok_or_else(|| fail("give `namespace:` (or set PROJECT_NAME)".to_owned()))?;
    for unused in [
        "checkForTriggeredDeployments",
        "buildName",
        "verbose",
        "env",
    ] {
        if call.has(unused) {
            call.log(&format!("[openshiftBuild] `{unused}` is not used by kiln"));
        }
    }
    let show_logs = call
        .string("showBuildLogs")?
        .is_some_and(|s| s.eq_ignore_ascii_case("true"));
    let wait = wait_time(call)?;
    let base = format!("{api}/apis/build.openshift.io/v1/namespaces/{namespace}");
    let request = |method: &str, path: String| {
        HttpCall::new(method, format!("{base}/{path}"))
            .header("Authorization", format!("Bearer {token}"))
            .header("Accept", "application/json")
    };
    let mut body = serde_json::json!({
        "kind": "BuildRequest",
        "apiVersion": "build.openshift.io/v1",
        "metadata": {"name": bc},
    });
    if let Some(commit) = call.string("commitID")?.filter(|c| !c.is_empty()) {
        body["revision"] = serde_json::json!({"type": "Git", "git": {"commit": commit}});
    }
    call.log(&format!(
        "[openshiftBuild] Starting a build of build config \"{bc}\" in namespace \"{namespace}\""
    ));
    let started =
        json(request("POST", format!("buildconfigs/{bc}/instantiate")).json(&body)).await?;
    let name = started
        .pointer("/metadata/name")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| fail("the API's answer names no build".to_owned()))?
        .to_owned();
    call.log(&format!("[openshiftBuild] Started build \"{name}\""));
    let deadline = Instant::now() + wait;
    let mut delay = FIRST_POLL;
    let phase = loop {
        let build = json(request("GET", format!("builds/{name}"))).await?;
        let phase = build
            .pointer("/status/phase")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if matches!(
            phase.as_str(),
            "Complete" | "Failed" | "Error" | "Cancelled"
        ) {
            break phase;
        }
        if Instant::now() >= deadline {
            return Err(fail(format!(
                "build \"{name}\" did not end within {} s (phase {phase})",
                wait.as_secs()
            )));
        }
        tokio::select! {
            () = call.scope.cancel.cancelled() => {
                return Err(StepError::aborted("openshiftBuild was aborted"));
            }
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(MAX_POLL);
    };
    if show_logs {
        let reply = send(request("GET", format!("builds/{name}/log")))
            .await
            .map_err(|e| fail(e.to_string()))?;
        if reply.is_success() {
            for line in reply.text().lines() {
                call.log(line);
            }
        } else {
            call.log(&format!(
                "[openshiftBuild] The build's log could not be read: HTTP {}",
                reply.status
            ));
        }
    }
    if phase != "Complete" {
        return Err(fail(format!("build \"{name}\" ended with phase {phase}")));
    }
    call.log(&format!("[openshiftBuild] Build \"{name}\" completed"));
    Ok(Value::Str(name))
}

/// `waitTime` in `waitUnit` (`sec`, `min`, default milliseconds as the plugin counts);
/// 15 minutes when not given.
fn wait_time(call: &StepCall<'_>) -> Result<Duration, StepError> {
    let Some(n) = call
        .string("waitTime")?
        .and_then(|s| s.trim().parse::<u64>().ok())
    else {
        return Ok(Duration::from_secs(15 * 60));
    };
    Ok(match call.string("waitUnit")?.as_deref() {
        Some("sec") => Duration::from_secs(n),
        Some("min") => Duration::from_secs(n * 60),
        _ => Duration::from_millis(n),
    })
}

async fn json(request: HttpCall) -> Result<serde_json::Value, StepError> {
    let url = request.url.clone();
    let fail = |what: String| StepError::failed(format!("openshiftBuild: {url}: {what}"));
    let reply = send(request).await.map_err(|e| fail(e.to_string()))?;
    if !reply.is_success() {
        return Err(fail(format!(
            "HTTP {} {}",
            reply.status,
            reply.text().trim()
        )));
    }
    reply.json().map_err(|e| fail(e.to_string()))
}
