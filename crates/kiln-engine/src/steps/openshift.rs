//! The OpenShift Pipeline plugin's steps, through the OpenShift API:
//!
//! - `openshiftBuild(buildConfig:, namespace:, apiURL:, authToken:, showBuildLogs:,
//!   commitID:, waitTime:, waitUnit:)` starts a build of the build config
//!   (`.../buildconfigs/NAME/instantiate`), follows it until it ends, logs its output with
//!   `showBuildLogs: 'true'`, and fails unless it completed.
//! - `openshiftDeploy(depCfg:, namespace:, apiURL:, authToken:, waitTime:, waitUnit:)` reads
//!   the deployment config, asks for its latest deployment as the plugin does (a
//!   `DeploymentRequest` with `latest` and `force` to `.../deploymentconfigs/NAME/instantiate`),
//!   then follows the replication controller `NAME-VERSION` of the new version (skipping
//!   cancelled ones, as the plugin does) until its `openshift.io/deployment.phase` annotation
//!   says `Complete` (the step succeeds) or `Failed` (it fails), within the wait time
//!   (default 10 minutes).
//!
//! The plugin's defaults (the API of the cluster Jenkins runs in, its service account's
//! token and namespace) would hand a build kiln's own identity, so kiln asks for `apiURL`,
//! `authToken` and `namespace` (or `PROJECT_NAME` in the environment) instead; without
//! them the step fails saying so. Arguments kiln does not use (`checkForTriggeredDeployments`,
//! `buildName`, `verbose`, `env`) are named in the log.

use super::StepCall;
use super::http_client::{HttpCall, send};
use crate::error::StepError;
use kiln_script::Value;
use std::time::{Duration, Instant};

const FIRST_POLL: Duration = Duration::from_millis(200);
const MAX_POLL: Duration = Duration::from_secs(5);

/// Where a step reaches the OpenShift API, from its arguments.
struct Api {
    step: &'static str,
    url: String,
    token: String,
    namespace: String,
}

impl Api {
    fn of(call: &StepCall<'_>, step: &'static str, unused: &[&str]) -> Result<Api, StepError> {
        let fail = |m: String| StepError::failed(format!("{step}: {m}"));
        let url = call
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
            .ok_or_else(|| fail(format!("`authToken:` is needed to reach {url}")))?;
        call.build.add_secrets([token.clone()]);
        let namespace = call
            .string("namespace")?
            .filter(|s| !s.trim().is_empty())
            .or_else(|| call.scope.var("PROJECT_NAME").map(str::to_owned))
            .ok_or_else(|| fail("give `namespace:` (or set PROJECT_NAME)".to_owned()))?;
        for name in unused {
            if call.has(name) {
                call.log(&format!("[{step}] `{name}` is not used by kiln"));
            }
        }
        Ok(Api {
            step,
            url,
            token,
            namespace,
        })
    }

    fn fail(&self, m: String) -> StepError {
        StepError::failed(format!("{}: {m}", self.step))
    }

    /// A request to `{apiURL}/{group}/namespaces/{namespace}/{path}`.
    fn request(&self, method: &str, group: &str, path: &str) -> HttpCall {
        let url = format!("{}/{group}/namespaces/{}/{path}", self.url, self.namespace);
        HttpCall::new(method, url)
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Accept", "application/json")
    }

    async fn json(&self, request: HttpCall) -> Result<serde_json::Value, StepError> {
        read_json(request).await.map_err(|e| self.fail(e))
    }
}

/// The JSON answer to `request`; what went wrong (with the URL) otherwise.
async fn read_json(request: HttpCall) -> Result<serde_json::Value, String> {
    let url = request.url.clone();
    let reply = send(request).await.map_err(|e| format!("{url}: {e}"))?;
    if !reply.is_success() {
        return Err(format!(
            "{url}: HTTP {} {}",
            reply.status,
            reply.text().trim()
        ));
    }
    reply.json().map_err(|e| format!("{url}: {e}"))
}

/// Waits `delay` (doubled for the next poll, up to [`MAX_POLL`]) unless the build is aborted.
async fn pause(call: &StepCall<'_>, step: &str, delay: &mut Duration) -> Result<(), StepError> {
    tokio::select! {
        () = call.scope.cancel.cancelled() => {
            Err(StepError::aborted(format!("{step} was aborted")))
        }
        () = tokio::time::sleep(*delay) => {
            *delay = (*delay * 2).min(MAX_POLL);
            Ok(())
        }
    }
}

const BUILDS: &str = "apis/build.openshift.io/v1";
const APPS: &str = "apis/apps.openshift.io/v1";
const CORE: &str = "api/v1";

pub(crate) async fn openshift_build(call: &StepCall<'_>) -> Result<Value, StepError> {
    let bc = call.req_string("buildConfig")?;
    let unused = [
        "checkForTriggeredDeployments",
        "buildName",
        "verbose",
        "env",
    ];
    let api = Api::of(call, "openshiftBuild", &unused)?;
    let fail = |m: String| api.fail(m);
    let namespace = &api.namespace;
    let show_logs = call
        .string("showBuildLogs")?
        .is_some_and(|s| s.eq_ignore_ascii_case("true"));
    let wait = wait_time(call, 15)?;
    let request = |method: &str, path: String| api.request(method, BUILDS, &path);
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
    let started = api
        .json(request("POST", format!("buildconfigs/{bc}/instantiate")).json(&body))
        .await?;
    let name = started
        .pointer("/metadata/name")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| fail("the API's answer names no build".to_owned()))?
        .to_owned();
    call.log(&format!("[openshiftBuild] Started build \"{name}\""));
    let deadline = Instant::now() + wait;
    let mut delay = FIRST_POLL;
    let phase = loop {
        let build = api.json(request("GET", format!("builds/{name}"))).await?;
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
        pause(call, api.step, &mut delay).await?;
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

/// `openshiftDeploy(depCfg:)`: a new deployment of the deployment config, followed until
/// its replication controller says it completed or failed.
pub(crate) async fn openshift_deploy(call: &StepCall<'_>) -> Result<Value, StepError> {
    let dc = call.req_string("depCfg")?.trim().to_owned();
    let api = Api::of(call, "openshiftDeploy", &["verbose", "env"])?;
    let fail = |m: String| api.fail(m);
    let wait = wait_time(call, 10)?;
    call.log(&format!(
        "[openshiftDeploy] Starting a deployment of deployment config \"{dc}\" in namespace \"{}\"",
        api.namespace
    ));
    let config_path = format!("deploymentconfigs/{dc}");
    let before = read_json(api.request("GET", APPS, &config_path))
        .await
        .map_err(|e| {
            fail(format!(
                "the deployment config \"{dc}\" could not be read ({e})"
            ))
        })?;
    let request = serde_json::json!({
        "kind": "DeploymentRequest",
        "apiVersion": "apps.openshift.io/v1",
        "name": dc,
        "latest": true,
        "force": true,
    });
    let after = api
        .json(
            api.request("POST", APPS, &format!("{config_path}/instantiate"))
                .json(&request),
        )
        .await?;
    let version = |v: &serde_json::Value| {
        v.pointer("/status/latestVersion")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    let (old, mut latest) = (version(&before), version(&after));
    if latest <= old {
        call.log(&format!(
            "[openshiftDeploy] The latest version of \"{dc}\" is still {latest}"
        ));
    }
    let deadline = Instant::now() + wait;
    let mut delay = FIRST_POLL;
    loop {
        let (name, phase) = match latest_controller(&api, &dc, &mut latest).await? {
            Some((name, phase)) => (name, phase),
            None => (format!("{dc}-{latest}"), String::new()),
        };
        match phase.as_str() {
            "Complete" => {
                call.log(&format!(
                    "[openshiftDeploy] Deployment \"{name}\" completed"
                ));
                return Ok(Value::Str(name));
            }
            "Failed" => {
                return Err(fail(format!(
                    "deployment \"{name}\" ended with phase Failed"
                )));
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            let phase = if phase.is_empty() {
                "not started"
            } else {
                &phase
            };
            return Err(fail(format!(
                "deployment \"{name}\" did not end within {} s (phase {phase})",
                wait.as_secs()
            )));
        }
        pause(call, api.step, &mut delay).await?;
    }
}

/// The newest replication controller of `dc` that was not cancelled, from version `latest`
/// down (lowering `latest` past cancelled ones): its name and deployment phase; `None`
/// when there is none yet.
async fn latest_controller(
    api: &Api,
    dc: &str,
    latest: &mut u64,
) -> Result<Option<(String, String)>, StepError> {
    while *latest > 0 {
        let name = format!("{dc}-{latest}");
        let reply = send(api.request("GET", CORE, &format!("replicationcontrollers/{name}")))
            .await
            .map_err(|e| api.fail(e.to_string()))?;
        if reply.status == 404 {
            return Ok(None);
        }
        if !reply.is_success() {
            return Err(api.fail(format!(
                "replication controller \"{name}\": HTTP {} {}",
                reply.status,
                reply.text().trim()
            )));
        }
        let rc: serde_json::Value = reply.json().map_err(|e| api.fail(e.to_string()))?;
        let annotation = |key: &str| {
            rc.pointer("/metadata/annotations")
                .and_then(|a| a.get(key))
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        if annotation("openshift.io/deployment.cancelled").eq_ignore_ascii_case("true") {
            *latest -= 1;
            continue;
        }
        return Ok(Some((name, annotation("openshift.io/deployment.phase"))));
    }
    Ok(None)
}

/// `waitTime` in `waitUnit` (`sec`, `min`, default milliseconds as the plugin counts);
/// `minutes` when not given.
fn wait_time(call: &StepCall<'_>, minutes: u64) -> Result<Duration, StepError> {
    let Some(n) = call
        .string("waitTime")?
        .and_then(|s| s.trim().parse::<u64>().ok())
    else {
        return Ok(Duration::from_secs(minutes * 60));
    };
    Ok(match call.string("waitUnit")?.as_deref() {
        Some("sec") => Duration::from_secs(n),
        Some("min") => Duration::from_secs(n * 60),
        _ => Duration::from_millis(n),
    })
}
