//! Node loss as the control plane handles it: the node lifecycle controller marks the node's
//! Ready condition `Unknown`, taints it `node.kubernetes.io/unreachable` and marks its pods not
//! ready; the taint eviction controller deletes the pods once their toleration runs out; and
//! PodGC fails and removes the pods of a node object that is deleted.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::api_error::ApiError;
use crate::catalog;
use crate::controller::ControlPlane;
use crate::events::{self, Note, Reporter};
use crate::store::{Store, ensure_object};
use crate::time::{format_unix, now_rfc3339};

const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn resource(plural: &str) -> Result<&'static catalog::ResourceType, ApiError> {
    catalog::resource(plural).ok_or_else(ApiError::no_route)
}

/// The pods bound to `node` that still run (not Succeeded or Failed).
fn pods_on(store: &Store, node: &str) -> Result<Vec<Value>, ApiError> {
    let (pods, _) = store.list(resource("pods")?, None);
    Ok(pods
        .into_iter()
        .filter(|p| text(p, "/spec/nodeName") == node)
        .filter(|p| !matches!(text(p, "/status/phase"), "Succeeded" | "Failed"))
        .collect())
}

/// Cuts `node` off: its kubelet stops reporting, the node goes `Ready=Unknown` with the
/// `unreachable` taints, its pods get `Ready=False` and a `NodeNotReady` event, and each pod
/// is deleted by the taint eviction controller when its toleration (or the configured grace)
/// runs out.
pub fn lose_node(control: &Arc<ControlPlane>, node: &str) -> Result<(), ApiError> {
    let store = &control.store;
    let nodes = resource("nodes")?;
    store.get(nodes, "", node)?;
    control.kubelet.lose_node(node);
    let now = now_rfc3339();
    let updated = store.update(nodes, "", node, |n| {
        mark_unknown(n, &now);
        Ok(true)
    })?;
    events::record_about(
        store,
        &updated,
        Reporter::NodeController,
        Note {
            warning: false,
            reason: "NodeNotReady",
            message: &format!("Node {node} status is now: NodeNotReady"),
            field_path: None,
        },
    );
    let grace = control.node_lost_grace();
    for pod in pods_on(store, node)? {
        mark_not_ready(store, &pod)?;
        let wait = toleration_seconds(&pod).unwrap_or(grace);
        let store = store.clone();
        let (ns, name, uid) = (
            text(&pod, "/metadata/namespace").to_owned(),
            text(&pod, "/metadata/name").to_owned(),
            text(&pod, "/metadata/uid").to_owned(),
        );
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if let Err(err) = evict_for_taint(&store, &ns, &name, &uid) {
                tracing::debug!(%err, pod = %name, "taint eviction skipped");
            }
        });
    }
    Ok(())
}

/// Every condition `Unknown` as the node lifecycle controller writes it, and the taints.
fn mark_unknown(node: &mut Value, now: &str) {
    let status = ensure_object(node, "status");
    if let Some(conditions) = status.get_mut("conditions").and_then(Value::as_array_mut) {
        for c in conditions.iter_mut() {
            if let Some(obj) = c.as_object_mut() {
                obj.insert("status".to_owned(), json!("Unknown"));
                obj.insert("reason".to_owned(), json!("NodeStatusUnknown"));
                obj.insert(
                    "message".to_owned(),
                    json!("Kubelet stopped posting node status."),
                );
                obj.insert("lastTransitionTime".to_owned(), json!(now));
            }
        }
    }
    let spec = ensure_object(node, "spec");
    let taints = spec.entry("taints").or_insert_with(|| json!([]));
    if let Some(list) = taints.as_array_mut() {
        list.retain(|t| t.get("key").and_then(Value::as_str) != Some(UNREACHABLE));
        list.push(json!({"key": UNREACHABLE, "effect": "NoSchedule", "timeAdded": now}));
        list.push(json!({"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": now}));
    }
}

/// `Ready=False` (the condition's reason and message kept), as `MarkPodsNotReady` writes it.
fn mark_not_ready(store: &Store, pod: &Value) -> Result<(), ApiError> {
    let pods = resource("pods")?;
    let now = now_rfc3339();
    let mut changed = false;
    let updated = store.update(
        pods,
        text(pod, "/metadata/namespace"),
        text(pod, "/metadata/name"),
        |p| {
            let ready = p
                .pointer_mut("/status/conditions")
                .and_then(Value::as_array_mut)
                .and_then(|cs| {
                    cs.iter_mut()
                        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
                });
            if let Some(obj) = ready.and_then(Value::as_object_mut) {
                if obj.get("status").and_then(Value::as_str) != Some("False") {
                    obj.insert("status".to_owned(), json!("False"));
                    obj.insert("lastTransitionTime".to_owned(), json!(now));
                    changed = true;
                }
            }
            Ok(changed)
        },
    )?;
    if changed {
        events::record(
            store,
            &updated,
            Reporter::NodeController,
            true,
            "NodeNotReady",
            "Node is not ready",
            None,
        );
    }
    Ok(())
}

/// The pod's own `tolerationSeconds` for the `unreachable` `NoExecute` taint.
fn toleration_seconds(pod: &Value) -> Option<Duration> {
    pod.pointer("/spec/tolerations")
        .and_then(Value::as_array)?
        .iter()
        .filter(|t| {
            let key = t.get("key").and_then(Value::as_str).unwrap_or("");
            let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
            (key == UNREACHABLE || key.is_empty()) && (effect == "NoExecute" || effect.is_empty())
        })
        .find_map(|t| t.get("tolerationSeconds").and_then(Value::as_u64))
        .map(Duration::from_secs)
}

/// What the taint eviction controller does when a pod's toleration has run out: a
/// `DisruptionTarget` condition, a `TaintManagerEviction` event, and a graceful deletion that
/// nobody confirms (the pod stays `Terminating` while its kubelet is gone).
fn evict_for_taint(store: &Store, ns: &str, name: &str, uid: &str) -> Result<(), ApiError> {
    let pods = resource("pods")?;
    let now_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let now = format_unix(now_secs);
    let updated = store.update(pods, ns, name, |p| {
        if text(p, "/metadata/uid") != uid || p.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(false);
        }
        let grace = p
            .pointer("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(30);
        set_condition(
            p,
            json!({"type": "DisruptionTarget", "status": "True", "lastProbeTime": null,
                   "lastTransitionTime": now, "reason": "DeletionByTaintManager",
                   "message": "Taint manager: deleting due to NoExecute taint"}),
        );
        let meta = ensure_object(p, "metadata");
        meta.insert(
            "deletionTimestamp".to_owned(),
            json!(format_unix(now_secs + grace)),
        );
        meta.insert("deletionGracePeriodSeconds".to_owned(), json!(grace));
        Ok(true)
    })?;
    events::record(
        store,
        &updated,
        Reporter::TaintEviction,
        false,
        "TaintManagerEviction",
        &format!("Marking for deletion Pod {ns}/{name}"),
        None,
    );
    Ok(())
}

fn set_condition(pod: &mut Value, condition: Value) {
    let kind = condition.get("type").cloned();
    let status = ensure_object(pod, "status");
    let list = status.entry("conditions").or_insert_with(|| json!([]));
    if let Some(list) = list.as_array_mut() {
        list.retain(|c| c.get("type") != kind.as_ref());
        list.push(condition);
    }
}

/// Deletes a node object; PodGC then marks each of its pods `Failed` with a
/// `DisruptionTarget` condition (reason `DeletionByPodGC`) and removes it.
pub fn remove_node(control: &Arc<ControlPlane>, node: &str) -> Result<(), ApiError> {
    let store = &control.store;
    let nodes = resource("nodes")?;
    let pods_rt = resource("pods")?;
    store.delete(nodes, "", node)?;
    control.kubelet.lose_node(node);
    let now = now_rfc3339();
    let (all, _) = store.list(pods_rt, None);
    for pod in all.iter().filter(|p| text(p, "/spec/nodeName") == node) {
        let (ns, name) = (
            text(pod, "/metadata/namespace"),
            text(pod, "/metadata/name"),
        );
        let result = store.update(pods_rt, ns, name, |p| {
            if !matches!(text(p, "/status/phase"), "Succeeded" | "Failed") {
                ensure_object(p, "status").insert("phase".to_owned(), json!("Failed"));
            }
            set_condition(
                p,
                json!({"type": "DisruptionTarget", "status": "True", "lastProbeTime": null,
                       "lastTransitionTime": now, "reason": "DeletionByPodGC",
                       "message": "PodGC: node no longer exists"}),
            );
            Ok(true)
        });
        if let Err(err) = result {
            tracing::debug!(%err, pod = %name, "PodGC status not written");
        }
        // Gone already is fine.
        let _ = store.delete(pods_rt, ns, name);
    }
    Ok(())
}
