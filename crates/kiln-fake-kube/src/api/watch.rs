//! Watches: newline-delimited JSON events (`ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`, `ERROR`)
//! streamed from a resourceVersion, with `410 Expired` for versions older than the history.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::AppState;
use super::objects::selectors;
use super::request::{ObjectPath, flag};
use crate::api_error::ApiError;
use crate::catalog::ResourceType;
use crate::faults::WatchFault;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::Change;

struct Filter {
    resource: &'static ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    label: LabelSelector,
    field: FieldSelector,
}

impl Filter {
    fn matches(&self, resource: &ResourceType, object: &Value) -> bool {
        let meta = |k: &str| {
            object
                .pointer(&format!("/metadata/{k}"))
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        resource.plural == self.resource.plural
            && self
                .namespace
                .as_deref()
                .is_none_or(|ns| ns == meta("namespace"))
            && self.name.as_deref().is_none_or(|n| n == meta("name"))
            && self.label.matches(object)
            && self.field.matches(object)
    }
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut text = json!({"type": kind, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

fn bookmark(resource: &ResourceType, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        if let Some(o) = meta.as_object_mut() {
            o.insert(
                "annotations".to_owned(),
                json!({"k8s.io/initial-events-end": "true"}),
            );
        }
    }
    line(
        "BOOKMARK",
        &json!({"kind": resource.kind, "apiVersion": "v1", "metadata": meta}),
    )
}

/// Starts a watch and returns its streaming response.
pub fn watch(
    state: &AppState,
    path: &ObjectPath,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let (label, field) = selectors(query)?;
    let filter = Filter {
        resource: path.resource,
        namespace: path.namespace.clone(),
        name: path.name.clone(),
        label,
        field,
    };
    let requested = query
        .get("resourceVersion")
        .filter(|v| !v.is_empty() && *v != "0");
    let from = match requested {
        Some(v) => v.parse::<u64>().map_err(|_| ApiError {
            code: 400,
            reason: "BadRequest",
            message: format!("resourceVersion: Invalid value: \"{v}\": strconv.ParseUint: parsing \"{v}\": invalid syntax"),
            details: None,
        })?,
        None => state.store.current_rv(),
    };
    let bookmarks = flag(query, "allowWatchBookmarks");
    let send_initial = flag(query, "sendInitialEvents") || requested.is_none();
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    match state.store.watch_from(from) {
        Err(expired) => {
            // The apiserver answers 200 and reports the expiry as the stream's only event.
            let _ = tx.try_send(line("ERROR", &expired.to_status()));
        }
        Ok(start) => {
            let mut initial = Vec::new();
            if send_initial {
                let (items, _) = state.store.list(path.resource, path.namespace.as_deref());
                initial = items
                    .into_iter()
                    .filter(|i| filter.matches(path.resource, i))
                    .collect();
            }
            let initial_end = flag(query, "sendInitialEvents") && bookmarks;
            let task = WatchTask {
                filter,
                tx,
                bookmarks,
                bookmark_interval: state.config.bookmark_interval,
                timeout,
                signals: state.faults.watch_signals(),
            };
            tokio::spawn(task.run(initial, initial_end, start));
        }
    }
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

struct WatchTask {
    filter: Filter,
    tx: mpsc::Sender<Bytes>,
    bookmarks: bool,
    bookmark_interval: Duration,
    timeout: Duration,
    signals: tokio::sync::watch::Receiver<(u64, WatchFault)>,
}

impl WatchTask {
    async fn send(&self, bytes: Bytes) -> bool {
        self.tx.send(bytes).await.is_ok()
    }

    async fn run(
        mut self,
        initial: Vec<Value>,
        initial_end: bool,
        start: crate::store::WatchStart,
    ) {
        let mut last_rv = start.current_rv;
        for object in &initial {
            if !self.send(line("ADDED", object)).await {
                return;
            }
        }
        if initial_end
            && !self
                .send(bookmark(self.filter.resource, start.current_rv, true))
                .await
        {
            return;
        }
        for change in &start.backlog {
            if !self.forward(change).await {
                return;
            }
        }
        let mut receiver = start.receiver;
        let deadline = tokio::time::sleep(self.timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(self.bookmark_interval);
        ticker.tick().await;
        self.signals.borrow_and_update();
        loop {
            tokio::select! {
                () = &mut deadline => return,
                () = self.tx.closed() => return,
                _ = ticker.tick(), if self.bookmarks => {
                    if !self.send(bookmark(self.filter.resource, last_rv, false)).await {
                        return;
                    }
                }
                changed = self.signals.changed() => {
                    let fault = self.signals.borrow_and_update().1;
                    match (changed, fault) {
                        (Err(_), _) | (_, WatchFault::Drop) => return,
                        (_, WatchFault::Expire) => {
                            let status = ApiError::expired(last_rv, last_rv + 1).to_status();
                            let _ = self.send(line("ERROR", &status)).await;
                            return;
                        }
                        (_, WatchFault::None) => {}
                    }
                }
                change = receiver.recv() => match change {
                    Ok(change) => {
                        last_rv = last_rv.max(change.rv);
                        if !self.forward(&change).await {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        let status = ApiError::expired(last_rv, last_rv + 1).to_status();
                        let _ = self.send(line("ERROR", &status)).await;
                        return;
                    }
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }

    async fn forward(&self, change: &Arc<Change>) -> bool {
        if !self.filter.matches(change.resource, &change.object) {
            return true;
        }
        self.send(line(change.kind.as_str(), &change.object)).await
    }
}
