//! The web UI: server-rendered HTML (no JavaScript build), a live log through EventSource.

mod html;
mod login;
mod pages;
mod reports;

use crate::AppState;
use axum::Router;
use axum::routing::get;

pub(crate) use html::url_segment;
pub use login::login_routes;

/// `/`, `/jobs/{job}`, `/jobs/{job}/{n}`: behind the token middleware like the API.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::jobs))
        .route("/jobs/{job}", get(pages::job))
        .route("/jobs/{job}/{number}", get(pages::build))
}
