//! SonarQube: `withSonarQubeEnv('name') { }` gives its block the variables the scanners
//! read, from the `sonarqube:` servers of kiln.yaml; `waitForQualityGate` follows the
//! analysis task the scanner's `report-task.txt` names through SonarQube's web API and
//! returns the quality gate's `status`.

use super::StepCall;
use super::http_client::{HttpCall, basic_auth, send};
use crate::Credential;
use crate::error::StepError;
use kiln_config::SonarQubeConfig;
use kiln_script::Value;
use std::path::Path;
use std::time::Duration;

/// Where the scanners leave their report (CLI, Maven, Gradle).
const REPORT_FILES: &[&str] = &[
    ".scannerwork/report-task.txt",
    "target/sonar/report-task.txt",
    "build/sonar/report-task.txt",
];
const FIRST_POLL: Duration = Duration::from_millis(500);
const MAX_POLL: Duration = Duration::from_secs(10);

/// The variables of `withSonarQubeEnv(installationName, credentialsId:, envOnly:)`; the
/// token is masked from now on.
pub(crate) fn environment(call: &StepCall<'_>) -> Result<Vec<(String, String)>, StepError> {
    let server = server(call, call.string("installationName")?.as_deref())?;
    call.log(&format!(
        "Injecting SonarQube environment variables using the configuration: {}",
        server.name
    ));
    let credential = call.string("credentialsId")?.or(server.credential.clone());
    let token = match credential {
        Some(id) => secret_text(call, &id)?,
        None => String::new(),
    };
    let extra = server.additional_properties.clone().unwrap_or_default();
    let mut params = serde_json::Map::new();
    params.insert("sonar.host.url".into(), server.url.clone().into());
    if !token.is_empty() {
        call.build.add_secrets([token.clone()]);
        params.insert("sonar.login".into(), token.clone().into());
        params.insert("sonar.token".into(), token.clone().into());
    }
    for pair in extra.split_whitespace() {
        if let Some((k, v)) = pair.trim_start_matches("-D").split_once('=') {
            params.insert(k.to_owned(), v.into());
        }
    }
    Ok(vec![
        ("SONAR_CONFIG_NAME".into(), server.name.clone()),
        ("SONAR_HOST_URL".into(), server.url.clone()),
        ("SONAR_AUTH_TOKEN".into(), token),
        ("SONAR_MAVEN_GOAL".into(), "sonar:sonar".into()),
        ("SONAR_EXTRA_PROPS".into(), extra),
        (
            "SONARQUBE_SCANNER_PARAMS".into(),
            serde_json::Value::Object(params).to_string(),
        ),
    ])
}

/// The server called `name`, or the only one when no name is given.
fn server<'c>(
    call: &'c StepCall<'_>,
    name: Option<&str>,
) -> Result<&'c SonarQubeConfig, StepError> {
    let servers = &call.build.spec.services.sonarqube;
    let names = || {
        servers
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name.filter(|n| !n.is_empty()) {
        Some(name) => servers.iter().find(|s| s.name == name).ok_or_else(|| {
            StepError::failed(if servers.is_empty() {
                format!(
                    "{}: no SonarQube server `{name}`: add it to `sonarqube:` in kiln.yaml (kiln run: --config FILE)",
                    call.name
                )
            } else {
                format!(
                    "{}: no SonarQube server `{name}` in `sonarqube:` (configured: {})",
                    call.name,
                    names()
                )
            })
        }),
        None => match servers.as_slice() {
            [only] => Ok(only),
            [] => Err(StepError::failed(format!(
                "{}: no SonarQube server is configured: add one to `sonarqube:` in kiln.yaml (kiln run: --config FILE)",
                call.name
            ))),
            _ => Err(StepError::failed(format!(
                "{}: several SonarQube servers are configured ({}): name one",
                call.name,
                names()
            ))),
        },
    }
}

fn secret_text(call: &StepCall<'_>, id: &str) -> Result<String, StepError> {
    match call.build.spec.credentials.get(id) {
        Some(Credential::Secret(s)) => {
            call.build.add_secrets([s.clone()]);
            Ok(s)
        }
        Some(_) => Err(StepError::failed(format!(
            "{}: credential `{id}` must be a secret text (a token)",
            call.name
        ))),
        None => Err(StepError::failed(format!(
            "{}: credential `{id}` does not exist",
            call.name
        ))),
    }
}

/// `waitForQualityGate(abortPipeline:, credentialsId:, webhookSecretId:)`.
pub(crate) async fn wait_for_quality_gate(call: &StepCall<'_>) -> Result<Value, StepError> {
    let abort = call.bool("abortPipeline", false)?;
    if call.string("webhookSecretId")?.is_some() {
        call.log(
            "waitForQualityGate: webhookSecretId has no effect in kiln (it asks SonarQube's web API for the result instead of waiting for a webhook)",
        );
    }
    let report = report_task(call).await?;
    let (server_url, task_id) = (report.server_url.clone(), report.task_id.clone());
    let configured = call
        .build
        .spec
        .services
        .sonarqube
        .iter()
        .find(|s| s.url == server_url.trim_end_matches('/'));
    let credential = call
        .string("credentialsId")?
        .or_else(|| configured.and_then(|s| s.credential.clone()));
    let token = match credential {
        Some(id) => Some(secret_text(call, &id)?),
        None => None,
    };
    let name = configured.map_or(server_url.as_str(), |s| s.name.as_str());
    call.log(&format!(
        "Checking status of SonarQube task '{task_id}' on server '{name}'"
    ));
    let get = |path: String| {
        let mut c = HttpCall::new("GET", format!("{}{path}", server_url.trim_end_matches('/')));
        if let Some(t) = &token {
            c = c.header("Authorization", basic_auth(t, ""));
        }
        c
    };
    let analysis = follow_task(call, &task_id, &get).await?;
    let status = api_json(
        call,
        get(format!(
            "/api/qualitygates/project_status?analysisId={analysis}"
        )),
    )
    .await?
    .pointer("/projectStatus/status")
    .and_then(serde_json::Value::as_str)
    .map(str::to_owned)
    .ok_or_else(|| {
        StepError::failed("waitForQualityGate: SonarQube's answer has no `projectStatus.status`")
    })?;
    call.log(&format!(
        "SonarQube task '{task_id}' completed. Quality gate is '{status}'"
    ));
    if abort && status != "OK" {
        return Err(StepError::failed(format!(
            "Pipeline aborted due to quality gate failure: {status}"
        )));
    }
    Ok(Value::Map(vec![("status".to_owned(), Value::Str(status))]))
}

/// Polls `/api/ce/task` until the task ends; its analysis id.
async fn follow_task(
    call: &StepCall<'_>,
    task_id: &str,
    get: &impl Fn(String) -> HttpCall,
) -> Result<String, StepError> {
    let mut delay = FIRST_POLL;
    let mut last = String::new();
    loop {
        let answer = api_json(call, get(format!("/api/ce/task?id={task_id}"))).await?;
        let status = answer
            .pointer("/task/status")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if status != last {
            call.log(&format!("SonarQube task '{task_id}' status is '{status}'"));
            last.clone_from(&status);
        }
        match status.as_str() {
            "SUCCESS" => {
                return answer
                    .pointer("/task/analysisId")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        StepError::failed("waitForQualityGate: the finished task has no analysisId")
                    });
            }
            "PENDING" | "IN_PROGRESS" => {}
            other => {
                return Err(StepError::failed(format!(
                    "waitForQualityGate: SonarQube analysis task '{task_id}' ended with status '{other}'"
                )));
            }
        }
        tokio::select! {
            () = call.scope.cancel.cancelled() => {
                return Err(StepError::aborted("waitForQualityGate was aborted"));
            }
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(MAX_POLL);
    }
}

async fn api_json(call: &StepCall<'_>, request: HttpCall) -> Result<serde_json::Value, StepError> {
    let url = request.url.clone();
    let fail = |what: String| StepError::failed(format!("{}: {url}: {what}", call.name));
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

/// What the scanner's `report-task.txt` says.
struct ReportTask {
    server_url: String,
    task_id: String,
}

async fn report_task(call: &StepCall<'_>) -> Result<ReportTask, StepError> {
    let executor = call.executor()?;
    for rel in REPORT_FILES {
        let path = call.scope.cwd.join(Path::new(rel));
        if !executor.file_exists(&path).await? {
            continue;
        }
        let text = String::from_utf8_lossy(&executor.read_file(&path).await?).into_owned();
        let value = |key: &str| {
            text.lines()
                .filter_map(|l| l.split_once('='))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().replace("\\:", ":"))
        };
        return match (value("serverUrl"), value("ceTaskId")) {
            (Some(server_url), Some(task_id)) => Ok(ReportTask {
                server_url,
                task_id,
            }),
            _ => Err(StepError::failed(format!(
                "waitForQualityGate: {rel} has no `serverUrl` and `ceTaskId`"
            ))),
        };
    }
    Err(StepError::failed(format!(
        "waitForQualityGate: no SonarQube analysis found: run the scanner in withSonarQubeEnv first (looked for {})",
        REPORT_FILES.join(", ")
    )))
}
