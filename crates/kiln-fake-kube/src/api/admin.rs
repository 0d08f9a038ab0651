//! `/__fake/...`: the request log and fault injection over HTTP, for use by hand or from
//! another process (tests in this process use the [`crate::FakeKube`] methods instead).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use super::objects::pods;
use crate::api_error::ApiError;
use crate::faults::WatchFault;
use crate::kubelet::{PodTermination, StopReason};

/// The admin routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/requests", get(requests).delete(clear_requests))
        .route("/faults/fail-requests", post(fail_requests))
        .route("/faults/image-pull", post(fail_image))
        .route("/faults/drop-watches", post(drop_watches))
        .route("/faults/expire-watches", post(expire_watches))
        .route("/pods/{ns}/{name}/evict", post(evict))
        .route("/pods/{ns}/{name}/oom", post(oom))
}

async fn requests(State(state): State<AppState>) -> Json<Value> {
    Json(json!(state.recorder.requests()))
}

async fn clear_requests(State(state): State<AppState>) -> Json<Value> {
    state.recorder.clear();
    Json(json!({}))
}

async fn fail_requests(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let path = q.get("path").cloned().unwrap_or_default();
    let count = q.get("count").and_then(|c| c.parse().ok()).unwrap_or(1);
    let code = q.get("code").and_then(|c| c.parse().ok()).unwrap_or(500);
    state.faults.fail_requests(&path, count, code);
    Json(json!({"path": path, "count": count, "code": code}))
}

async fn fail_image(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let image = q.get("image").cloned().unwrap_or_default();
    if q.get("allow").is_some_and(|v| v == "true") {
        state.faults.allow_image(&image);
    } else {
        state.faults.fail_image(&image);
    }
    Json(json!({"image": image}))
}

async fn drop_watches(State(state): State<AppState>) -> Json<Value> {
    state.faults.signal_watches(WatchFault::Drop);
    Json(json!({}))
}

async fn expire_watches(State(state): State<AppState>) -> Json<Value> {
    state.store.compact();
    state.faults.signal_watches(WatchFault::Expire);
    Json(json!({}))
}

fn pod_uid(state: &AppState, ns: &str, name: &str) -> Result<String, ApiError> {
    let pod = state.store.get(pods()?, ns, name)?;
    Ok(pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned())
}

async fn evict(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
) -> Response {
    match pod_uid(&state, &ns, &name) {
        Ok(uid) => {
            let ok = state
                .kubelet
                .stop(&uid, StopReason::Evict(PodTermination::memory_pressure()));
            Json(json!({"evicted": ok})).into_response()
        }
        Err(err) => err.into_response(),
    }
}

async fn oom(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match pod_uid(&state, &ns, &name) {
        Ok(uid) => {
            let container = q.get("container").cloned().unwrap_or_default();
            Json(json!({"killed": state.kubelet.oom_kill(&uid, &container)})).into_response()
        }
        Err(err) => err.into_response(),
    }
}
