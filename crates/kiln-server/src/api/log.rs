//! A build's log: by byte range, and live as server-sent events.

use super::extract::{ApiPath, ApiQuery};
use super::jobs::find_build;
use crate::sse::LogEvents;
use crate::{ApiError, AppState};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::time::Duration;

const DEFAULT_LIMIT: usize = 1024 * 1024;
const MAX_LIMIT: usize = 8 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    offset: Option<u64>,
    limit: Option<usize>,
}

/// `GET /api/v1/jobs/{job}/builds/{n}/log?offset=&limit=`: the log's bytes from `offset`
/// (`text/plain`), with `X-Log-Offset` (where they start), `X-Log-End` (the log's length when
/// read) and `X-Build-Status`. A client reads on from `offset + body length`.
pub async fn range(
    State(state): State<AppState>,
    ApiPath((job, number)): ApiPath<(String, u64)>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<Response, ApiError> {
    let record = find_build(&state, &job, number)?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::BadRequest(format!(
            "`limit` must be between 1 and {MAX_LIMIT}, not {limit}"
        )));
    }
    let offset = q.offset.unwrap_or(0);
    let store = state.store_arc();
    let id = record.id.clone();
    let slice = tokio::task::spawn_blocking(move || store.read_log(&id, offset, limit))
        .await
        .map_err(ApiError::internal)??;
    let status = serde_json::to_value(record.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    Response::builder()
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header("x-log-offset", slice.offset)
        .header("x-log-end", slice.end)
        .header("x-build-status", status)
        .body(Body::from(slice.bytes))
        .map_err(ApiError::internal)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    offset: Option<u64>,
}

/// `GET /api/v1/jobs/{job}/builds/{n}/log/stream?offset=`: `log` events whose data is a JSON
/// string of log text and whose `id` is the byte offset after it (so an EventSource resumes with
/// `Last-Event-ID`), then one `end` event with `{"result": ..., "offset": ...}`.
pub async fn stream(
    State(state): State<AppState>,
    ApiPath((job, number)): ApiPath<(String, u64)>,
    ApiQuery(q): ApiQuery<StreamQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let record = find_build(&state, &job, number)?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let from = resume.or(q.offset).unwrap_or(0);
    let follower = state.scheduler().follow_log(&record.id, from);
    let events = LogEvents::new(follower, state.store_arc(), record.id, from).into_stream();
    let sse = Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)));
    let mut response = sse.into_response();
    // Proxies must not buffer a live log.
    response
        .headers_mut()
        .insert("x-accel-buffering", header::HeaderValue::from_static("no"));
    Ok(response)
}
