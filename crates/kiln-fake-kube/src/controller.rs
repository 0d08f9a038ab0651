//! The control loop: watches pod and node changes in the store and drives the scheduler and
//! the kubelet, so that everything a client sees happens through the API objects.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::catalog;
use crate::kubelet::{Kubelet, StopReason};
use crate::scheduler;
use crate::store::{ChangeType, Store};

/// Runs until `cancel` fires.
pub async fn run(store: Store, kubelet: Arc<Kubelet>, cancel: CancellationToken) {
    let mut changes = store.subscribe();
    resync(&store, &kubelet);
    loop {
        let change = tokio::select! {
            () = cancel.cancelled() => return,
            change = changes.recv() => change,
        };
        match change {
            Ok(change) => match (change.resource.plural, change.kind) {
                ("pods", ChangeType::Deleted) => {
                    if let Some(uid) = change
                        .object
                        .pointer("/metadata/uid")
                        .and_then(Value::as_str)
                    {
                        kubelet.stop(uid, StopReason::Delete(Duration::ZERO));
                    }
                    reschedule_pending(&store);
                }
                ("pods", _) => {
                    reconcile_pod(&store, &kubelet, &change.object);
                    if is_terminal(&change.object) {
                        reschedule_pending(&store);
                    }
                }
                ("nodes", _) => reschedule_pending(&store),
                _ => {}
            },
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "controller lagged behind the store; resyncing");
                resync(&store, &kubelet);
            }
            Err(RecvError::Closed) => return,
        }
    }
}

fn is_terminal(pod: &Value) -> bool {
    matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    )
}

fn resync(store: &Store, kubelet: &Arc<Kubelet>) {
    if let Some(pods) = catalog::resource("pods") {
        for pod in store.list(pods, None).0 {
            reconcile_pod(store, kubelet, &pod);
        }
    }
}

fn reschedule_pending(store: &Store) {
    let Some(pods) = catalog::resource("pods") else {
        return;
    };
    for pod in store.list(pods, None).0 {
        if pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
            && pod.pointer("/metadata/deletionTimestamp").is_none()
        {
            scheduler::schedule(store, &pod);
        }
    }
}

fn reconcile_pod(store: &Store, kubelet: &Arc<Kubelet>, pod: &Value) {
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if let Some(grace) = pod
        .pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_u64)
    {
        if pod.pointer("/metadata/deletionTimestamp").is_some()
            && !kubelet.stop(uid, StopReason::Delete(Duration::from_secs(grace)))
        {
            // Nothing runs it: remove it now.
            let ns = pod
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("");
            let name = pod
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if let Some(pods) = catalog::resource("pods") {
                let _ = store.delete(pods, ns, name);
            }
        }
        return;
    }
    if node.is_empty() {
        if !pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.get("type").and_then(Value::as_str) == Some("PodScheduled"))
            })
        {
            scheduler::schedule(store, pod);
        }
    } else if !kubelet.knows(uid) && !is_terminal(pod) {
        kubelet.start(pod);
    }
}
