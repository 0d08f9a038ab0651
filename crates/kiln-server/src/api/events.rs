//! `GET /api/v1/events[?job=NAME]`: the server-wide event stream the dashboard and job pages
//! follow (server-sent events from the shared [`super::feed::BuildFeed`]).

use super::extract::ApiQuery;
use super::feed::Change;
use super::jobs::known_job;
use crate::{ApiError, AppState};
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only this job's builds (a multibranch job's: its children's).
    job: Option<String>,
}

/// `GET /api/v1/events`: an event per build change, named `queued`, `started`, `stage`,
/// `input` or `finished`, whose data is the build as the pages show it (`job`, `number`,
/// `state`, `label`, `cause`, `commit`, `branch`, `started`, `took`, `stages`); with `job`,
/// that job's builds and its children's (a multibranch job's branches and requests). A client that
/// falls more than a few hundred changes behind gets `resync` (read the page again) instead of
/// the changes it missed.
pub async fn events(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Response, ApiError> {
    if let Some(job) = &q.job {
        known_job(&state, job)?;
    }
    let receiver = state.feed().subscribe(&state);
    let sse = Sse::new(stream(receiver, q.job))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)));
    let mut response = sse.into_response();
    response.headers_mut().insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    Ok(response)
}

fn stream(
    receiver: Receiver<Arc<Change>>,
    job: Option<String>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold((receiver, job), |(mut receiver, job)| async move {
        loop {
            let event = match receiver.recv().await {
                Ok(change) if job.as_ref().is_some_and(|j| !of_job(j, &change.build.job)) => {
                    continue;
                }
                Ok(change) => match serde_json::to_string(&change.build) {
                    Ok(data) => Event::default()
                        .event(change.kind.as_str())
                        .id(change.seq.to_string())
                        .data(data),
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot write a build change");
                        continue;
                    }
                },
                Err(RecvError::Lagged(missed)) => Event::default()
                    .event("resync")
                    .data(format!("{{\"missed\":{missed}}}")),
                Err(RecvError::Closed) => return None,
            };
            return Some((Ok(event), (receiver, job)));
        }
    })
}

/// Whether a build of `build_job` belongs to `job`: it is the job, or one of its children
/// (`job/child`, a multibranch job's branch or request).
fn of_job(job: &str, build_job: &str) -> bool {
    build_job
        .strip_prefix(job)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::of_job;

    #[test]
    fn a_jobs_stream_has_its_childrens_builds() {
        assert!(of_job("app", "app"));
        assert!(of_job("app", "app/main"));
        assert!(of_job("app", "app/PR-3"));
        assert!(!of_job("app", "apple"));
        assert!(!of_job("app/main", "app"));
        assert!(!of_job("app", "other/app"));
    }
}
