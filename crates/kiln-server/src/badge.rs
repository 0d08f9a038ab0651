//! `GET /jobs/{job}/badge.svg` (and `?branch=NAME`): the status of the job's newest build (on
//! that branch) as a shields-style SVG. It needs a token with the `read` role like any page,
//! unless `server.public_badges: true` opens it (for README images on a forge).

use crate::api::extract::{ApiPath, ApiQuery};
use crate::api::jobs::known_job;
use crate::{ApiError, AppState, auth};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kiln_forge::BadgeStatus;
use kiln_store::{BuildRecord, BuildStatus, Page};
use serde::Deserialize;

/// The builds searched for the newest on a branch.
const BRANCH_SEARCH: usize = 100;

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/jobs/{job}/badge.svg", get(badge))
        .route("/jobs/{job}/{child}/badge.svg", get(child_badge))
        .layer(middleware::from_fn_with_state(state, access))
}

/// Open when `server.public_badges` says so, else the token check of every page.
async fn access(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if state.settings().public_badges {
        return Ok(next.run(request).await);
    }
    auth::require_token(State(state), request, next).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BadgeQuery {
    branch: Option<String>,
}

/// A multibranch job's child, `/jobs/app/main/badge.svg`.
async fn child_badge(
    state: State<AppState>,
    ApiPath((parent, child)): ApiPath<(String, String)>,
    query: ApiQuery<BadgeQuery>,
) -> Result<Response, ApiError> {
    badge(state, ApiPath(format!("{parent}/{child}")), query).await
}

async fn badge(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(mut q): ApiQuery<BadgeQuery>,
) -> Result<Response, ApiError> {
    let mut name = name;
    // `?branch=` of a multibranch job is its child's badge.
    let config = state.scheduler().config();
    if let (Some(job), Some(branch)) = (config.job(&name), &q.branch)
        && job.multibranch.is_some()
        && let Ok(child) = kiln_types::JobName::child(&job.name, branch)
    {
        name = child.to_string();
        q.branch = None;
    }
    let job = known_job(&state, &name)?;
    let store = state.store_arc();
    let limit = if q.branch.is_some() { BRANCH_SEARCH } else { 1 };
    let page = Page {
        before: None,
        limit,
    };
    let records = tokio::task::spawn_blocking(move || store.list_builds(&job, page))
        .await
        .map_err(ApiError::internal)??;
    let newest = records
        .iter()
        .find(|r| q.branch.is_none() || r.branch == q.branch);
    let svg = kiln_forge::badge::svg("build", status_of(newest));
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml;charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache, max-age=0"),
        ],
        svg,
    )
        .into_response())
}

fn status_of(build: Option<&BuildRecord>) -> BadgeStatus {
    match build {
        None => BadgeStatus::NoBuilds,
        Some(b) if b.status != BuildStatus::Finished => BadgeStatus::Running,
        Some(b) => b.result.map_or(BadgeStatus::Running, BadgeStatus::Finished),
    }
}
