//! Webhooks from GitHub and GitLab: payload parsing, signature checks, deliveries taken once,
//! matching to jobs.

mod deliveries;
mod event;
pub mod github;
pub mod gitlab;
mod handler;
pub mod signature;

pub(crate) use deliveries::Deliveries;
pub use event::{HookAction, HookEvent, PayloadError};

use crate::AppState;
use axum::Router;
use axum::routing::post;

/// `/hooks/github` and `/hooks/gitlab`: authenticated by the jobs' webhook secrets, not tokens.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/github", post(handler::github_hook))
        .route("/gitlab", post(handler::gitlab_hook))
}
