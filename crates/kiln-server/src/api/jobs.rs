//! `GET /jobs`, `GET /jobs/{job}` and the job/build lookups other handlers share.

use super::dto;
use super::extract::ApiPath;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use kiln_store::{BuildRecord, Page};
use kiln_types::{BuildRef, JobName};
use serde_json::Value;

/// `GET /api/v1/jobs`: every configured job with its last build.
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let settings = state.settings();
    let mut jobs = Vec::new();
    for view in state.scheduler().jobs() {
        let last = last_build(&state, &view.name)?;
        jobs.push(dto::job(&view, last.as_ref(), &settings));
    }
    Ok(Json(serde_json::json!({ "jobs": jobs })))
}

/// `GET /api/v1/jobs/{job}`.
pub async fn show(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let view = state
        .scheduler()
        .job(&name)
        .ok_or_else(|| unknown_job(&name))?;
    let last = last_build(&state, &view.name)?;
    Ok(Json(dto::job(&view, last.as_ref(), &state.settings())))
}

pub fn unknown_job(name: &str) -> ApiError {
    ApiError::NotFound(format!("no job named `{name}`"))
}

/// A job name from a URL: valid, and known to the configuration or the store.
pub fn known_job(state: &AppState, name: &str) -> Result<JobName, ApiError> {
    let job = JobName::new(name).map_err(|_| unknown_job(name))?;
    if state.scheduler().job(name).is_some() || state.store().get_job(&job)?.is_some() {
        Ok(job)
    } else {
        Err(unknown_job(name))
    }
}

/// A build from a URL's job and number, or 404.
pub fn find_build(state: &AppState, job: &str, number: u64) -> Result<BuildRecord, ApiError> {
    let job = known_job(state, job)?;
    let id = BuildRef { job, number };
    state
        .store()
        .get_build(&id)?
        .ok_or_else(|| ApiError::NotFound(format!("no build {id}")))
}

fn last_build(state: &AppState, name: &str) -> Result<Option<BuildRecord>, ApiError> {
    let Ok(job) = JobName::new(name) else {
        return Ok(None);
    };
    let page = Page {
        before: None,
        limit: 1,
    };
    Ok(state.store().list_builds(&job, page)?.into_iter().next())
}
