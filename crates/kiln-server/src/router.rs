//! The router: every route, the edge checks, the token middleware, the body limit and request
//! tracing.

use crate::error::ErrorChain;
use crate::{ApiError, AppState, api, auth, badge, edge, hooks, metrics, ui};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Builds the whole application; tests drive it with `tower::ServiceExt::oneshot`, no socket.
pub fn router(state: AppState) -> Router {
    let limit = state.settings().body_limit;
    let protected = Router::new()
        .nest("/api/v1", api::routes())
        .merge(ui::routes())
        .route("/metrics", get(metrics_page))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .merge(protected)
        .merge(badge::routes(state.clone()))
        .merge(ui::login_routes())
        .merge(ui::asset_routes())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .nest("/hooks", hooks::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(state.clone(), edge::guard))
        .layer(middleware::from_fn(trace))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the store answers and can write, and the scheduler's actor task is alive.
async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    let store = state.store_arc();
    let checked = tokio::task::spawn_blocking(move || {
        store.list_jobs()?;
        store.check_writable()
    })
    .await;
    match checked {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            tracing::warn!(error = %ErrorChain(&err), "not ready: the store cannot write");
            return Err(ApiError::Unavailable(format!(
                "the store cannot write: {}",
                ErrorChain(&err)
            )));
        }
        Err(err) => return Err(ApiError::internal(err)),
    }
    if state.scheduler().is_running() {
        Ok("ready\n")
    } else {
        Err(ApiError::Unavailable("the scheduler is not running".into()))
    }
}

async fn metrics_page(State(state): State<AppState>) -> Response {
    let text = metrics::render(&state.scheduler().stats());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no page `{}`", uri.path()))
}

/// One debug line per request (method, path, status); never headers or bodies, which may hold
/// tokens or secrets.
async fn trace(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    if status.is_server_error() {
        tracing::warn!(%method, %path, status = status.as_u16(), "request failed");
    } else {
        tracing::debug!(%method, %path, status = status.as_u16(), "request");
    }
    response
}
