//! The JSON API under `/api/v1`.

mod actions;
mod builds;
pub(crate) mod control;
pub mod dto;
mod events;
pub mod extract;
pub(crate) mod feed;
pub mod jobs;
mod live;
mod locks;
mod log;
pub mod reports;
mod served;

use crate::{ApiError, AppState};
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};

pub fn routes() -> Router<AppState> {
    let build = "/jobs/{job}/builds/{number}";
    Router::new()
        .route("/events", get(events::events))
        .route("/jobs", get(jobs::list))
        .route("/jobs/{job}", get(jobs::show))
        .route(
            "/jobs/{job}/builds",
            get(builds::list).post(control::trigger),
        )
        .route(build, get(builds::show))
        .route(&format!("{build}/log"), get(log::range))
        .route(&format!("{build}/log/stream"), get(log::stream))
        .route(
            &format!("{build}/log/stages/{{node}}"),
            get(live::stage_log),
        )
        .route(&format!("{build}/log/times"), get(live::log_times))
        .route(&format!("{build}/events"), get(live::build_events))
        .route(&format!("{build}/rebuild"), post(actions::rebuild))
        .route(&format!("{build}/replay"), post(actions::replay))
        .route(&format!("{build}/jenkinsfile"), get(actions::jenkinsfile))
        .route(&format!("{build}/cancel"), post(control::cancel))
        .route(&format!("{build}/input"), post(control::input))
        .route(&format!("{build}/tests"), get(builds::tests))
        .route(&format!("{build}/artifacts"), get(builds::artifacts))
        .route(
            &format!("{build}/artifacts/{{*path}}"),
            get(builds::artifact),
        )
        .route(&format!("{build}/reports"), get(reports::list))
        .route(&format!("{build}/reports/{{dir}}"), get(reports::index))
        .route(
            &format!("{build}/reports/{{dir}}/{{*path}}"),
            get(reports::file),
        )
        .route("/locks", get(locks::list))
        .route("/admin/reload", post(reload))
        .route("/admin/clock", post(advance_clock))
        .fallback(not_found)
}

/// `POST /api/v1/admin/reload`: asks the server to read its configuration file again.
async fn reload(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    state.request_reload();
    (
        StatusCode::ACCEPTED,
        Json(json!({ "message": "configuration reload requested" })),
    )
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ClockBody {
    advance_secs: u64,
}

/// `POST /api/v1/admin/clock` `{"advance_secs": N}`: moves the scheduler's manual clock (only
/// when the server was started with `KILN_MANUAL_CLOCK=1`, for tests of cron triggers).
async fn advance_clock(
    State(state): State<AppState>,
    extract::JsonBody(body): extract::JsonBody<ClockBody>,
) -> Result<Json<Value>, ApiError> {
    use kiln_scheduler::Clock as _;
    let clock = state.manual_clock().ok_or_else(|| {
        ApiError::NotFound(
            "this server runs on the system clock (KILN_MANUAL_CLOCK is not set)".into(),
        )
    })?;
    clock.advance(std::time::Duration::from_secs(body.advance_secs));
    Ok(Json(json!({ "now_ms": clock.now_ms() })))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no API endpoint `{}`", uri.path()))
}
