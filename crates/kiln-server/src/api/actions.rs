//! The web UI's build actions beside the API's trigger and cancel: rebuild a build with the
//! same parameters, replay it with an edited Jenkinsfile, and read the Jenkinsfile it ran.

use super::extract::{ApiPath, JsonBody};
use super::jobs::{find_build, unknown_job};
use crate::{ApiError, AppState, Caller};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use kiln_engine::BuildCause;
use kiln_scheduler::{ChangeTrigger, TriggerRequest};
use kiln_store::{BuildRecord, ReplayRecord};
use serde::Deserialize;
use serde_json::{Value, json};

/// `POST /api/v1/jobs/{job}/builds/{n}/rebuild`: a new build of the same branch with the same
/// parameters (every one the build ran with, defaults included); a pull request's build stays
/// one, and a replay is rebuilt with its text.
pub async fn rebuild(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath((job, number)): ApiPath<(String, u64)>,
) -> Result<Response, ApiError> {
    let record = find_build(&state, &job, number)?;
    // A replayed build is rebuilt with the text it ran.
    let request = request_like(&state, &record, caller, record.replay.clone())?;
    created(&state, request).await
}

/// `POST /api/v1/jobs/{job}/builds/{n}/replay` body.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    jenkinsfile: String,
}

/// `POST /api/v1/jobs/{job}/builds/{n}/replay`: runs `jenkinsfile` (an edit of what build
/// `n` ran) at build `n`'s commit with its parameters (those the edited text still declares);
/// the new build records the text.
pub async fn replay(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath((job, number)): ApiPath<(String, u64)>,
    JsonBody(body): JsonBody<ReplayBody>,
) -> Result<Response, ApiError> {
    if body.jenkinsfile.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "invalid request body: `jenkinsfile` is empty".into(),
        ));
    }
    let record = find_build(&state, &job, number)?;
    let replay = ReplayRecord {
        of: number,
        jenkinsfile: body.jenkinsfile,
    };
    let request = request_like(&state, &record, caller, Some(replay))?;
    created(&state, request).await
}

/// `GET /api/v1/jobs/{job}/builds/{n}/jenkinsfile`: the Jenkinsfile build `n` ran (a replay's
/// own text, else the job's file at the build's commit), as `text/plain`.
pub async fn jenkinsfile(
    State(state): State<AppState>,
    ApiPath((job, number)): ApiPath<(String, u64)>,
) -> Result<Response, ApiError> {
    let text = ran_jenkinsfile(&state, &find_build(&state, &job, number)?).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// The Jenkinsfile `record` ran.
async fn ran_jenkinsfile(state: &AppState, record: &BuildRecord) -> Result<String, ApiError> {
    if let Some(replay) = &record.replay {
        return Ok(replay.jenkinsfile.clone());
    }
    Ok(state
        .scheduler()
        .jenkinsfile(
            record.id.job.as_str(),
            record.branch.as_deref(),
            record.commit.as_deref(),
        )
        .await?)
}

fn request_like(
    state: &AppState,
    record: &BuildRecord,
    caller: Caller,
    replay: Option<ReplayRecord>,
) -> Result<TriggerRequest, ApiError> {
    let job = record.id.job.as_str();
    let config = state.scheduler().config();
    let job_config = config.job(job).ok_or_else(|| unknown_job(job))?;
    // A job whose branch is one name builds that branch; a pattern's build names its own.
    let branch = if job_config.branch_is_pattern() {
        record.branch.clone()
    } else {
        None
    };
    let request = TriggerRequest {
        job: job.to_owned(),
        params: record.params.clone(),
        cause: BuildCause::User(caller.name),
        branch,
        // A replay runs at the build's commit; a rebuild at the branch's head.
        commit: replay.as_ref().and_then(|_| record.commit.clone()),
        tag: None,
        replay,
        change: None,
    };
    Ok(match change_of(record) {
        Some((target, change)) => TriggerRequest {
            branch: Some(target),
            commit: record.commit.clone(),
            change: Some(change),
            ..request
        },
        None => request,
    })
}

/// A pull request's build is rebuilt (or replayed) as a build of the same request: its target
/// branch, its head, its change variables and `PR-N` name, and the judgement of its trust
/// made when its webhook came (the head is the same commit, so the same code).
fn change_of(record: &BuildRecord) -> Option<(String, ChangeTrigger)> {
    let judged = record.change.as_ref()?;
    let target = judged.vars.get("CHANGE_TARGET")?.clone();
    let change = ChangeTrigger {
        vars: judged.vars.clone(),
        branch_name: record.branch.clone()?,
        fork: false,
        author_key: None,
        judged: Some(judged.clone()),
    };
    Some((target, change))
}

async fn created(state: &AppState, request: TriggerRequest) -> Result<Response, ApiError> {
    let id = state.scheduler().trigger(request).await?;
    let url = state.settings().build_url(id.job.as_str(), id.number);
    let body: Value =
        json!({ "id": id.to_string(), "job": id.job, "number": id.number, "url": url });
    Ok((StatusCode::CREATED, [(header::LOCATION, url)], Json(body)).into_response())
}
