//! `/__fake/...`: the request log and fault injection over HTTP, for use by hand or from
//! another process (tests in this process use the [`crate::FakeKube`] methods instead).

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use super::objects::pods;
use crate::api_error::ApiError;
use crate::config::AutoscalerConfig;
use crate::faults::WatchFault;
use crate::kubelet::{PodTermination, StopReason};

/// The admin routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/requests", get(requests).delete(clear_requests))
        .route("/faults/fail-requests", post(fail_requests))
        .route("/faults/lose-answers", post(lose_answers))
        .route("/faults/image-pull", post(fail_image))
        .route("/faults/drop-watches", post(drop_watches))
        .route("/faults/expire-watches", post(expire_watches))
        .route("/pods/{ns}/{name}/evict", post(evict))
        .route("/scheduling", post(scheduling))
        .route("/compaction", post(compaction))
        .route("/autoscaler", post(autoscaler).delete(autoscaler_off))
        .route("/nodes/{name}/lose", post(lose_node))
        .route("/nodes/{name}/remove", post(remove_node))
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

/// `?method=POST&path=/pods&count=1&code=504&delayMs=0`: the next matching requests are
/// performed, then answered with `code` instead of their result.
async fn lose_answers(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let method = q.get("method").map_or("POST", String::as_str);
    let path = q.get("path").cloned().unwrap_or_default();
    let count = match q.get("count").map(|v| (v, v.parse::<u32>())) {
        None => 1,
        Some((_, Ok(n))) => n,
        Some((v, Err(_))) => return bad_number("count", v).into_response(),
    };
    let code = match q.get("code").map(|v| (v, v.parse::<u16>())) {
        None => 504,
        Some((_, Ok(c))) if (400..600).contains(&c) => c,
        Some((v, _)) => {
            return ApiError::bad_request(format!(
                "query parameter code: expected an HTTP error status (400-599), got {v:?}"
            ))
            .into_response();
        }
    };
    let wait = match millis(&q, "delayMs", 0) {
        Ok(d) => d,
        Err(err) => return err.into_response(),
    };
    state.faults.lose_answers(method, &path, count, code, wait);
    Json(json!({"method": method.to_ascii_uppercase(), "path": path, "count": count, "code": code, "delayMs": wait.as_millis()}))
        .into_response()
}

async fn fail_image(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let image = q.get("image").cloned().unwrap_or_default();
    if q.get("allow").is_some_and(|v| v == "true") {
        state.faults.allow_image(&image);
    } else if let Some(count) = q.get("count") {
        match count.parse() {
            Ok(n) => state.faults.fail_image_times(&image, n),
            Err(_) => return bad_number("count", count).into_response(),
        }
    } else {
        state.faults.fail_image(&image);
    }
    Json(json!({"image": image})).into_response()
}

fn bad_number(field: &str, value: &str) -> ApiError {
    ApiError::bad_request(format!(
        "query parameter {field}: expected a non-negative integer, got {value:?}"
    ))
}

/// A millisecond count from the query, `default` when absent.
fn millis(q: &HashMap<String, String>, field: &str, default: u64) -> Result<Duration, ApiError> {
    match q.get(field) {
        None => Ok(Duration::from_millis(default)),
        Some(v) => v
            .parse()
            .map(Duration::from_millis)
            .map_err(|_| bad_number(field, v)),
    }
}

async fn scheduling(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match millis(&q, "delayMs", 0) {
        Ok(delay) => {
            state.control.set_scheduling_delay(delay);
            Json(json!({"delayMs": delay.as_millis()})).into_response()
        }
        Err(err) => err.into_response(),
    }
}

async fn autoscaler(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let delay = match millis(&q, "delayMs", 1000) {
        Ok(d) => d,
        Err(err) => return err.into_response(),
    };
    let max_nodes = match q.get("maxNodes").map(|v| (v, v.parse::<u32>())) {
        None => 1,
        Some((_, Ok(n))) => n,
        Some((v, Err(_))) => return bad_number("maxNodes", v).into_response(),
    };
    let mut config = AutoscalerConfig::new(delay, max_nodes);
    if let Some(group) = q.get("group") {
        group.clone_into(&mut config.node_group);
    }
    let cpu = q.get("cpu").map_or("4", String::as_str);
    let memory = q.get("memory").map_or("8Gi", String::as_str);
    config.template = config.template.capacity(cpu, memory);
    state.control.set_autoscaler(Some(config));
    Json(json!({"delayMs": delay.as_millis(), "maxNodes": max_nodes})).into_response()
}

async fn compaction(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(window) = q.get("window") else {
        return ApiError::bad_request("query parameter window: required (changes kept)")
            .into_response();
    };
    match window.parse() {
        Ok(n) => {
            state.store.set_history_limit(n);
            Json(json!({"window": n, "oldestResourceVersion": state.store.oldest_rv().to_string()}))
                .into_response()
        }
        Err(_) => bad_number("window", window).into_response(),
    }
}

async fn autoscaler_off(State(state): State<AppState>) -> Json<Value> {
    state.control.set_autoscaler(None);
    Json(json!({}))
}

async fn lose_node(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if q.contains_key("graceMs") {
        match millis(&q, "graceMs", 0) {
            Ok(grace) => state.control.set_node_lost_grace(grace),
            Err(err) => return err.into_response(),
        }
    }
    match crate::node_lifecycle::lose_node(&state.control, &name) {
        Ok(()) => Json(json!({"lost": name})).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn remove_node(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match crate::node_lifecycle::remove_node(&state.control, &name) {
        Ok(()) => Json(json!({"removed": name})).into_response(),
        Err(err) => err.into_response(),
    }
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
