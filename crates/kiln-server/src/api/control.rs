//! Writes: trigger a build, cancel one, answer its `input`.

use super::extract::{ApiPath, JsonBody};
use super::jobs::{find_build, unknown_job};
use crate::{ApiError, AppState, Caller};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use kiln_engine::{BuildCause, InputAnswer};
use kiln_scheduler::{TriggerError, TriggerRequest};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// `POST /api/v1/jobs/{job}/builds` body; every field is optional.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TriggerBody {
    /// Parameter values: strings, numbers or booleans.
    #[serde(default)]
    params: BTreeMap<String, Value>,
    /// The branch to build, for jobs whose branch is a pattern.
    #[serde(default)]
    branch: Option<String>,
    /// An exact commit to build instead of the branch's head.
    #[serde(default)]
    commit: Option<String>,
}

/// `POST /api/v1/jobs/{job}/builds`: 201 with the build's id and URL; for a multibranch job
/// without a branch, 202: a scan of its repository started (Jenkins' "Scan Multibranch
/// Pipeline Now"), whose new and moved branches get builds.
pub async fn trigger(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(job): ApiPath<String>,
    JsonBody(body): JsonBody<TriggerBody>,
) -> Result<Response, ApiError> {
    if state.scheduler().job(&job).is_none() {
        return Err(unknown_job(&job));
    }
    let params = scalar_params(body.params)?;
    let request = TriggerRequest {
        replay: None,
        job,
        params,
        cause: BuildCause::User(caller.name),
        branch: body.branch,
        tag: None,
        commit: body.commit,
        change: None,
    };
    let id = match state.scheduler().trigger(request).await {
        Ok(id) => id,
        // The scheduler started the scan when it refused to build the parent itself.
        Err(TriggerError::Multibranch(job)) => return Ok(scan_started(&state, &job)),
        Err(e) => return Err(e.into()),
    };
    let url = state.settings().build_url(id.job.as_str(), id.number);
    let body = json!({ "id": id.to_string(), "job": id.job, "number": id.number, "url": url });
    Ok((StatusCode::CREATED, [(header::LOCATION, url)], Json(body)).into_response())
}

/// 202: a scan of multibranch job `job` started; `Location` is the job's page.
fn scan_started(state: &AppState, job: &str) -> Response {
    let url = state.settings().job_url(job);
    let message = format!(
        "scan of multibranch job `{job}` started: new and moved branches and requests get jobs and builds"
    );
    let body = json!({ "job": job, "scan": "started", "url": url, "message": message });
    (StatusCode::ACCEPTED, [(header::LOCATION, url)], Json(body)).into_response()
}

/// Parameter values as strings; arrays, objects and null are refused, naming the parameter.
fn scalar_params(given: BTreeMap<String, Value>) -> Result<BTreeMap<String, String>, ApiError> {
    let mut params = BTreeMap::new();
    for (name, value) in given {
        let text = match value {
            Value::String(s) => s,
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "invalid request body: parameter `{name}` must be a string, number or boolean, not {}",
                    kind(&other)
                )));
            }
        };
        params.insert(name, text);
    }
    Ok(params)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
        _ => "a scalar",
    }
}

/// `POST /api/v1/jobs/{job}/builds/{n}/cancel`.
pub async fn cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath((job, number)): ApiPath<(String, u64)>,
) -> Result<Json<Value>, ApiError> {
    let record = find_build(&state, &job, number)?;
    state.scheduler().cancel(&record.id, &caller.name).await?;
    Ok(Json(
        json!({ "id": record.id.to_string(), "cancelled": true }),
    ))
}

#[derive(Deserialize, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Action {
    #[default]
    Approve,
    Abort,
}

/// `POST /api/v1/jobs/{job}/builds/{n}/input` body.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct InputBody {
    action: Action,
    #[serde(default)]
    params: BTreeMap<String, Value>,
}

/// `POST /api/v1/jobs/{job}/builds/{n}/input`: approve (with the input's parameters) or abort.
pub async fn input(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath((job, number)): ApiPath<(String, u64)>,
    JsonBody(body): JsonBody<InputBody>,
) -> Result<Json<Value>, ApiError> {
    let record = find_build(&state, &job, number)?;
    if let Some(pending) = &record.pending_input
        && !may_submit(&caller, pending.submitter.as_deref())
    {
        return Err(ApiError::Forbidden(format!(
            "only {} may answer this input",
            pending.submitter.as_deref().unwrap_or_default()
        )));
    }
    let answer = match body.action {
        Action::Approve => InputAnswer::Proceed {
            values: scalar_params(body.params)?,
            by: caller.name,
        },
        Action::Abort => InputAnswer::Abort { by: caller.name },
    };
    let action = if body.action == Action::Abort {
        "abort"
    } else {
        "approve"
    };
    state.scheduler().answer_input(&record.id, answer).await?;
    Ok(Json(
        json!({ "id": record.id.to_string(), "action": action }),
    ))
}

/// Whether `caller` may answer an input whose `submitter` is given (comma-separated names, as
/// Jenkins writes it): anyone without one, admins always, else the names listed.
pub fn may_submit(caller: &Caller, submitter: Option<&str>) -> bool {
    match submitter {
        None => true,
        Some(_) if caller.role >= kiln_config::Role::Admin => true,
        Some(list) => list.split(',').map(str::trim).any(|n| n == caller.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_config::Role;

    fn caller(name: &str, role: Role) -> Caller {
        Caller {
            name: name.into(),
            role,
        }
    }

    #[test]
    fn submitter_lists_who_may_answer() {
        let bob = caller("bob", Role::Trigger);
        assert!(may_submit(&bob, None));
        assert!(may_submit(&bob, Some("alice, bob")));
        assert!(!may_submit(&bob, Some("alice")));
        assert!(!may_submit(&bob, Some("bobby")));
        assert!(may_submit(&caller("root", Role::Admin), Some("alice")));
    }
}
