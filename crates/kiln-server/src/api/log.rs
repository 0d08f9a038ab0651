//! A build's log: by byte range, and live as server-sent events.

use super::extract::{ApiPath, ApiQuery};
use super::jobs::find_build;
use crate::sse::LogEvents;
use crate::{ApiError, AppState};
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use kiln_scheduler::LogFollower;
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
        // A build's output is not a page a browser may take it for.
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
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
///
/// A client that accepts `text/plain` and not `text/event-stream` gets the log's bytes as they
/// are stored instead, from `offset` (said in `X-Log-Offset`), in one body that ends once the
/// build has finished and its whole log was sent; it reads the result from the build. This is
/// what `kiln` follows with: JSON-escaping a log of short lines and parsing it back cost more
/// than everything else the server does with the log.
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
    if wants_plain_text(&headers) {
        return Response::builder()
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .header("x-log-offset", from)
            .header("x-accel-buffering", "no")
            .body(Body::from_stream(raw_log(follower)))
            .map_err(ApiError::internal);
    }
    let events = LogEvents::new(follower, state.store_arc(), record.id, from).into_stream();
    let sse = Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)));
    let mut response = sse.into_response();
    // Proxies must not buffer a live log.
    response
        .headers_mut()
        .insert("x-accel-buffering", header::HeaderValue::from_static("no"));
    Ok(response)
}

/// Whether the request's `Accept` takes `text/plain` and not server-sent events.
fn wants_plain_text(headers: &HeaderMap) -> bool {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.split(';').next().unwrap_or_default().trim())
        .collect::<Vec<_>>();
    accept.contains(&"text/plain") && !accept.contains(&"text/event-stream")
}

/// A followed log's bytes as a body's chunks; a failed read ends the body abruptly (the
/// client sees an unfinished body, not an end). When a large log was sent, the memory the
/// allocator kept of what the follow freed goes back to the system at its end (see
/// kiln-trim).
fn raw_log(
    follower: LogFollower,
) -> impl futures_util::Stream<Item = Result<Bytes, kiln_store::StoreError>> + Send {
    futures_util::stream::unfold(Some((follower, 0_u64)), |state| async move {
        let (mut follower, sent) = state?;
        match follower.next().await {
            Some(Ok(chunk)) => {
                let sent = sent + chunk.bytes.len() as u64;
                Some((Ok(chunk.bytes), Some((follower, sent))))
            }
            Some(Err(err)) => {
                tracing::error!(build = %follower.build(), error = %err, "cannot read a build's log");
                Some((Err(err), None))
            }
            None => {
                if sent >= GIVE_BACK_AFTER {
                    drop(follower);
                    drop(tokio::task::spawn_blocking(kiln_trim::give_back));
                }
                None
            }
        }
    })
}

/// How much of a log a follow sends before its end gives freed memory back.
const GIVE_BACK_AFTER: u64 = 16 << 20;
