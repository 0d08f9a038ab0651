//! Writes core/v1 Events the way the scheduler and kubelet report them.

use serde_json::{Value, json};

use crate::catalog;
use crate::store::Store;
use crate::time::now_rfc3339;

/// Who reports an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reporter<'a> {
    /// `default-scheduler`.
    Scheduler,
    /// `kubelet` on the named node.
    Kubelet(&'a str),
}

/// Records an event about `pod`; `field_path` is e.g. `spec.containers{build}`.
pub fn record(
    store: &Store,
    pod: &Value,
    reporter: Reporter<'_>,
    warning: bool,
    reason: &str,
    message: &str,
    field_path: Option<&str>,
) {
    let namespace = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let (component, host) = match reporter {
        Reporter::Scheduler => ("default-scheduler", None),
        Reporter::Kubelet(node) => ("kubelet", Some(node)),
    };
    let now = now_rfc3339();
    let mut involved = json!({
        "kind": "Pod",
        "namespace": namespace,
        "name": name,
        "uid": pod.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
        "apiVersion": "v1",
        "resourceVersion": pod.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null),
    });
    if let (Some(fp), Some(obj)) = (field_path, involved.as_object_mut()) {
        obj.insert("fieldPath".to_owned(), json!(fp));
    }
    let mut source = json!({"component": component});
    if let (Some(h), Some(obj)) = (host, source.as_object_mut()) {
        obj.insert("host".to_owned(), json!(h));
    }
    let event = json!({
        "metadata": {"generateName": format!("{name}.")},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "source": source,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": if warning { "Warning" } else { "Normal" },
        "eventTime": null,
        "reportingComponent": component,
        "reportingInstance": host.unwrap_or(""),
    });
    if let Some(events) = catalog::resource("events") {
        if let Err(err) = store.create(events, namespace, event) {
            tracing::debug!(%err, "event not recorded");
        }
    }
}
