//! What the build page follows: the build's record as server-sent events, and the log of one
//! stage (the byte ranges the store's log events give that stage and the stages inside it).

use super::dto;
use super::extract::{ApiPath, ApiQuery};
use super::jobs::find_build;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use kiln_store::{BuildRecord, BuildStatus, LogEvent};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::convert::Infallible;
use std::time::Duration;

/// How often a followed build's record is read again.
const POLL: Duration = Duration::from_millis(250);

/// `GET /api/v1/jobs/{job}/builds/{n}/events`: a `build` event with the build (as `GET` of
/// the build answers it) now and each time it changes (stages starting and ending, an input
/// waiting, the result), until it has finished.
pub async fn build_events(
    State(state): State<AppState>,
    ApiPath((job, number)): ApiPath<(String, u64)>,
) -> Result<Response, ApiError> {
    let first = find_build(&state, &job, number)?;
    let events = follow(state, first);
    let sse = Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)));
    let mut response = sse.into_response();
    response.headers_mut().insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    Ok(response)
}

struct Following {
    state: AppState,
    id: kiln_types::BuildRef,
    /// The record to send next (the first one read), else it is read again.
    record: Option<BuildRecord>,
    last: Option<Value>,
    finished: bool,
}

fn follow(state: AppState, first: BuildRecord) -> impl Stream<Item = Result<Event, Infallible>> {
    let start = Following {
        state,
        id: first.id.clone(),
        record: Some(first),
        last: None,
        finished: false,
    };
    futures_util::stream::unfold(start, |mut f| async move {
        loop {
            if f.finished {
                return None;
            }
            let record = match f.record.take() {
                Some(r) => r,
                None => {
                    tokio::time::sleep(POLL).await;
                    match f.state.store().get_build(&f.id) {
                        Ok(Some(r)) => r,
                        Ok(None) => return None,
                        Err(err) => {
                            tracing::warn!(build = %f.id, error = %err, "cannot read a followed build");
                            return None;
                        }
                    }
                }
            };
            f.finished = record.status == BuildStatus::Finished;
            let value = build_value(&f.state, &record);
            if f.last.as_ref() != Some(&value) {
                let event = Event::default().event("build").data(value.to_string());
                f.last = Some(value);
                return Some((Ok(event), f));
            }
        }
    })
}

fn build_value(state: &AppState, record: &BuildRecord) -> Value {
    let view = state.scheduler().job(record.id.job.as_str());
    serde_json::to_value(dto::build(record, &state.settings(), view.as_ref()))
        .unwrap_or(Value::Null)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageLogQuery {
    offset: Option<u64>,
    limit: Option<usize>,
}

const STAGE_LOG_LIMIT: usize = 1024 * 1024;

/// `GET /api/v1/jobs/{job}/builds/{n}/log/stages/{node}?offset=&limit=`: the lines of stage
/// `node` (and of the stages inside it) from log offset `offset`, at most `limit` bytes:
/// `{"text": ..., "next": N, "more": bool}`; ask again from `next` while `more`.
pub async fn stage_log(
    State(state): State<AppState>,
    ApiPath((job, number, node)): ApiPath<(String, u64, u32)>,
    ApiQuery(q): ApiQuery<StageLogQuery>,
) -> Result<Json<Value>, ApiError> {
    let record = find_build(&state, &job, number)?;
    if !record.stages.iter().any(|s| s.node == node) {
        return Err(ApiError::NotFound(format!(
            "build {} has no stage {node}",
            record.id
        )));
    }
    let limit = q
        .limit
        .unwrap_or(STAGE_LOG_LIMIT)
        .clamp(1, 8 * STAGE_LOG_LIMIT);
    let from = q.offset.unwrap_or(0);
    let nodes = with_descendants(&record, node);
    let store = state.store_arc();
    let id = record.id.clone();
    let read = tokio::task::spawn_blocking(move || -> Result<Value, kiln_store::StoreError> {
        let events = store.read_log_events(&id)?;
        let ranges = stage_ranges(&events, &nodes, from);
        let mut text = Vec::new();
        let mut next = from;
        let mut more = false;
        for (start, end) in ranges {
            if text.len() >= limit {
                more = true;
                break;
            }
            let want = usize::try_from(end - start)
                .unwrap_or(usize::MAX)
                .min(limit - text.len());
            let slice = store.read_log(&id, start, want)?;
            next = slice.offset + slice.bytes.len() as u64;
            text.extend_from_slice(&slice.bytes);
            if next < end {
                more = true;
                break;
            }
        }
        Ok(json!({
            "text": String::from_utf8_lossy(&text),
            "next": next,
            "more": more,
        }))
    });
    let value = read.await.map_err(ApiError::internal)??;
    Ok(Json(value))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimesQuery {
    offset: Option<u64>,
    end: Option<u64>,
}

/// The most entries one answer of `log/times` holds.
const MAX_TIMES: usize = 50_000;

/// `GET /api/v1/jobs/{job}/builds/{n}/log/times?offset=&end=`: when the pieces of the log
/// between the two offsets were recorded, from the store's log events: `{"times": [[offset,
/// ms], ...]}` in order (each piece runs to the next one's offset), for the timestamps of the
/// build page's log.
pub async fn log_times(
    State(state): State<AppState>,
    ApiPath((job, number)): ApiPath<(String, u64)>,
    ApiQuery(q): ApiQuery<TimesQuery>,
) -> Result<Json<Value>, ApiError> {
    let record = find_build(&state, &job, number)?;
    let from = q.offset.unwrap_or(0);
    let to = q.end.unwrap_or(u64::MAX);
    let store = state.store_arc();
    let id = record.id.clone();
    let events = tokio::task::spawn_blocking(move || store.read_log_events(&id))
        .await
        .map_err(ApiError::internal)??;
    let times: Vec<(u64, u64)> = events
        .iter()
        .filter(|e| e.end() > from && e.offset < to && e.at_ms > 0)
        .map(|e| (e.offset, e.at_ms))
        .take(MAX_TIMES)
        .collect();
    Ok(Json(json!({ "times": times })))
}

/// `node` and every stage whose chain of parents reaches it.
fn with_descendants(record: &BuildRecord, node: u32) -> HashSet<u32> {
    let mut set = HashSet::from([node]);
    loop {
        let before = set.len();
        for s in &record.stages {
            if s.parent.is_some_and(|p| set.contains(&p)) {
                set.insert(s.node);
            }
        }
        if set.len() == before {
            return set;
        }
    }
}

/// The byte ranges of the events of `nodes` from `from` on, neighbours merged.
fn stage_ranges(events: &[LogEvent], nodes: &HashSet<u32>, from: u64) -> Vec<(u64, u64)> {
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for e in events {
        if !e.stage.is_some_and(|s| nodes.contains(&s)) || e.end() <= from {
            continue;
        }
        let start = e.offset.max(from);
        match ranges.last_mut() {
            Some(last) if last.1 == start => last.1 = e.end(),
            _ => ranges.push((start, e.end())),
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(offset: u64, len: u64, stage: Option<u32>) -> LogEvent {
        LogEvent {
            stage,
            ..LogEvent::plain(offset, len)
        }
    }

    #[test]
    fn a_stage_s_ranges_merge_and_start_at_the_offset() {
        let events = [
            event(0, 5, None),
            event(5, 3, Some(1)),
            event(8, 4, Some(2)),
            event(12, 2, Some(1)),
            event(14, 6, Some(3)),
        ];
        let one = HashSet::from([1]);
        assert_eq!(stage_ranges(&events, &one, 0), vec![(5, 8), (12, 14)]);
        assert_eq!(stage_ranges(&events, &one, 6), vec![(6, 8), (12, 14)]);
        let both = HashSet::from([1, 2]);
        assert_eq!(stage_ranges(&events, &both, 0), vec![(5, 14)]);
    }
}
