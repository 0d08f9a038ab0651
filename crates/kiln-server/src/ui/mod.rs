//! The web UI: server-rendered pages (maud templates) with small embedded scripts (plain JS,
//! no build step) that follow the server's event streams, and browser sessions for servers
//! with tokens.

mod assets;
mod build_page;
mod dashboard;
mod job_page;
pub(crate) mod layout;
mod login;
mod reports;
pub(crate) mod session;

use crate::AppState;
use axum::Router;
use axum::routing::get;

pub(crate) use layout::url_segment;
pub use login::login_routes;
pub use session::Sessions;

/// `/`, `/jobs/{job}`, `/jobs/{job}/{n}` (a multibranch job's child: `/jobs/{job}/{child}` and
/// `/jobs/{job}/{child}/{n}`, or its name escaped, `/jobs/app%2Fmain`): behind the token middleware like the API.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/jobs/{job}", get(job_page::page))
        .route("/jobs/{job}/{number}", get(build_page::page_or_child))
        .route("/jobs/{job}/{child}/{number}", get(build_page::child_page))
}

/// The embedded stylesheet and scripts, open to all (the login page needs them too).
pub fn asset_routes() -> Router<AppState> {
    Router::new().route("/ui/assets/{name}", get(assets::serve))
}
