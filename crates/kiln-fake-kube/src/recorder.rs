//! The request log: every API request the fake served, for tests to count and inspect.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::api_error::ApiError;
use crate::faults::{Failure, Faults};

/// One served request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// Raw query string (empty when none).
    pub query: String,
    /// Response status code.
    pub status: u16,
    /// Time until the response head was ready (for watches and follows, not the stream's life).
    #[serde(rename = "durationMicros", serialize_with = "micros")]
    pub duration: Duration,
    /// Whether this was a watch (`watch=true` or `/watch/` path).
    pub watch: bool,
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u128(d.as_micros())
}

/// Shared request log.
#[derive(Clone, Default)]
pub struct Recorder {
    records: Arc<Mutex<Vec<RequestRecord>>>,
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

/// Counts one request in flight until dropped.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Recorder {
    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Forgets the requests so far (and the peak of requests in flight).
    pub fn clear(&self) {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        self.peak
            .store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// The most requests (not watches) that were being served at once, counted until each
    /// response head was ready.
    pub fn peak_in_flight(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    fn enter(&self) -> InFlight {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        InFlight(self.in_flight.clone())
    }

    fn push(&self, record: RequestRecord) {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(record);
    }
}

/// State the middleware needs.
#[derive(Clone)]
pub struct RecordState {
    /// Where records go.
    pub recorder: Recorder,
    /// Armed request failures.
    pub faults: Arc<Faults>,
}

/// Middleware: injects armed delays, 5xx failures and lost answers, and records every API request (not
/// `/__fake/`).
pub async fn record(State(state): State<RecordState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    if path.starts_with("/__fake/") {
        return next.run(request).await;
    }
    let watch = path.contains("/watch/")
        || query
            .split('&')
            .any(|kv| kv == "watch=true" || kv == "watch=1");
    let counted = (!watch).then(|| state.recorder.enter());
    if let Some(delay) = state.faults.delay_for(&path) {
        tokio::time::sleep(delay).await;
    }
    let response = match state.faults.take_failure(&method, &path) {
        Some(Failure {
            code,
            performed: None,
        }) => ApiError::injected(code).into_response(),
        Some(Failure {
            code,
            performed: Some(wait),
        }) => {
            let performed = next.run(request).await;
            tracing::debug!(%method, %path, status = performed.status().as_u16(), "performed; its answer is lost");
            tokio::time::sleep(wait).await;
            ApiError::timed_out(code).into_response()
        }
        None => next.run(request).await,
    };
    drop(counted);
    let status = response.status().as_u16();
    tracing::debug!(%method, %path, %query, status, "served");
    state.recorder.push(RequestRecord {
        method,
        path,
        query,
        status,
        duration: started.elapsed(),
        watch,
    });
    response
}
