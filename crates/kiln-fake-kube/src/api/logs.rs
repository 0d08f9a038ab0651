//! `GET pods/{name}/log`: a container's output, whole, tailed, or followed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::AppState;
use super::objects::pods;
use super::request::flag;
use crate::api_error::ApiError;
use crate::log_store::LogBuffer;

fn container_names(pod: &Value, list: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// Picks the container a log or exec request means, with the apiserver's errors.
pub fn pick_container(pod: &Value, requested: Option<&String>) -> Result<String, ApiError> {
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let regular = container_names(pod, "containers");
    let init = container_names(pod, "initContainers");
    match requested.filter(|r| !r.is_empty()) {
        Some(c) if regular.contains(c) || init.contains(c) => Ok(c.clone()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}"
        ))),
        None => {
            if let Some(default) = pod
                .pointer("/metadata/annotations/kubectl.kubernetes.io~1default-container")
                .and_then(Value::as_str)
            {
                return Ok(default.to_owned());
            }
            match regular.as_slice() {
                [only] => Ok(only.clone()),
                _ => Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}] or one of the init containers: [{}]",
                    regular.join(" "),
                    init.join(" ")
                ))),
            }
        }
    }
}

fn waiting_reason(pod: &Value, container: &str) -> String {
    ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|l| {
            pod.pointer(&format!("/status/{l}"))
                .and_then(Value::as_array)
        })
        .flatten()
        .find(|s| s.get("name").and_then(Value::as_str) == Some(container))
        .and_then(|s| s.pointer("/state/waiting/reason").and_then(Value::as_str))
        .map_or_else(|| "ContainerCreating".to_owned(), str::to_owned)
}

/// The handler.
pub async fn logs(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let pod = state.store.get(pods()?, &ns, &name)?;
    let container = pick_container(&pod, query.get("container"))?;
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let previous = flag(&query, "previous");
    let Some(buffer) = state.logs.get(uid, &container, previous) else {
        let message = if previous {
            format!("previous terminated container \"{container}\" in pod \"{name}\" not found")
        } else {
            let reason = waiting_reason(&pod, &container);
            let why = if reason.contains("ImagePull") {
                "trying and failing to pull image".to_owned()
            } else {
                reason
            };
            format!("container \"{container}\" in pod \"{name}\" is waiting to start: {why}")
        };
        return Err(ApiError::bad_request(message));
    };
    let (mut bytes, _) = buffer.read_from(0);
    let offset = bytes.len();
    if let Some(n) = query.get("tailLines").and_then(|t| t.parse::<usize>().ok()) {
        bytes = tail(&bytes, n);
    }
    if let Some(limit) = query
        .get("limitBytes")
        .and_then(|t| t.parse::<usize>().ok())
    {
        bytes.truncate(limit);
    }
    let head = [(header::CONTENT_TYPE, "text/plain")];
    if !flag(&query, "follow") {
        return Ok((head, bytes).into_response());
    }
    let stream = futures_util::stream::unfold(
        (
            Some(bytes),
            offset,
            buffer,
            None::<tokio::sync::watch::Receiver<u64>>,
        ),
        follow_step,
    );
    Ok((head, Body::from_stream(stream)).into_response())
}

type FollowState = (
    Option<Vec<u8>>,
    usize,
    Arc<LogBuffer>,
    Option<tokio::sync::watch::Receiver<u64>>,
);

async fn follow_step(state: FollowState) -> Option<(Result<Bytes, Infallible>, FollowState)> {
    let (first, offset, buffer, changes) = state;
    let mut changes = changes.unwrap_or_else(|| buffer.subscribe());
    if let Some(first) = first {
        return Some((
            Ok(Bytes::from(first)),
            (None, offset, buffer, Some(changes)),
        ));
    }
    loop {
        changes.borrow_and_update();
        let (more, closed) = buffer.read_from(offset);
        if !more.is_empty() {
            let next = offset + more.len();
            return Some((Ok(Bytes::from(more)), (None, next, buffer, Some(changes))));
        }
        if closed || changes.changed().await.is_err() {
            return None;
        }
    }
}

fn tail(bytes: &[u8], n: usize) -> Vec<u8> {
    let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let starts: Vec<usize> = text
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    if n == 0 {
        return Vec::new();
    }
    let lines = starts.len() + 1;
    if n >= lines {
        return bytes.to_vec();
    }
    bytes[starts[lines - n - 1]..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::tail;

    #[test]
    fn tails_lines() {
        assert_eq!(tail(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(tail(b"a\nb\nc\n", 5), b"a\nb\nc\n");
        assert_eq!(tail(b"a\nb", 1), b"b");
    }
}
