//! Writes core/v1 Events the way the scheduler, kubelet and controllers report them, with the
//! event recorder's aggregation: a repeat of the same event raises its `count`.

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
    /// `cluster-autoscaler`.
    Autoscaler,
    /// `node-controller` (the node lifecycle controller).
    NodeController,
    /// `taint-eviction-controller`.
    TaintEviction,
}

impl Reporter<'_> {
    fn component(self) -> &'static str {
        match self {
            Self::Scheduler => "default-scheduler",
            Self::Kubelet(_) => "kubelet",
            Self::Autoscaler => "cluster-autoscaler",
            Self::NodeController => "node-controller",
            Self::TaintEviction => "taint-eviction-controller",
        }
    }
}

/// What an event says.
#[derive(Debug, Clone, Copy)]
pub struct Note<'a> {
    /// `Warning` rather than `Normal`.
    pub warning: bool,
    /// The reason, e.g. `FailedScheduling`.
    pub reason: &'a str,
    /// The message.
    pub message: &'a str,
    /// e.g. `spec.containers{build}`.
    pub field_path: Option<&'a str>,
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
    record_about(
        store,
        pod,
        reporter,
        Note {
            warning,
            reason,
            message,
            field_path,
        },
    );
}

/// Records an event about any object (a Pod or a Node); node events go to `default`, as the
/// node controller's do.
pub fn record_about(store: &Store, object: &Value, reporter: Reporter<'_>, note: Note<'_>) {
    let kind = if object.pointer("/spec/containers").is_some() {
        "Pod"
    } else {
        "Node"
    };
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let Some(events) = catalog::resource("events") else {
        return;
    };
    let component = reporter.component();
    let host = match reporter {
        Reporter::Kubelet(node) => Some(node),
        _ => None,
    };
    let uid = object
        .pointer("/metadata/uid")
        .cloned()
        .unwrap_or(Value::Null);
    let now = now_rfc3339();
    if aggregate(store, namespace, &uid, component, note, &now) {
        return;
    }
    let mut involved = json!({
        "kind": kind,
        "name": name,
        "uid": uid,
        "apiVersion": "v1",
        "resourceVersion": object.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null),
    });
    if let Some(obj) = involved.as_object_mut() {
        if kind == "Pod" {
            obj.insert("namespace".to_owned(), json!(namespace));
        }
        if let Some(fp) = note.field_path {
            obj.insert("fieldPath".to_owned(), json!(fp));
        }
    }
    let mut source = json!({"component": component});
    if let (Some(h), Some(obj)) = (host, source.as_object_mut()) {
        obj.insert("host".to_owned(), json!(h));
    }
    let event = json!({
        "metadata": {"generateName": format!("{name}.")},
        "involvedObject": involved,
        "reason": note.reason,
        "message": note.message,
        "source": source,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": if note.warning { "Warning" } else { "Normal" },
        "eventTime": null,
        "reportingComponent": component,
        "reportingInstance": host.unwrap_or(""),
    });
    if let Err(err) = store.create(events, namespace, event) {
        tracing::debug!(%err, "event not recorded");
    }
}

/// Raises the count of an identical earlier event (same object, source, reason, message and
/// field); `false` when there is none.
fn aggregate(
    store: &Store,
    namespace: &str,
    uid: &Value,
    component: &str,
    note: Note<'_>,
    now: &str,
) -> bool {
    let Some(events) = catalog::resource("events") else {
        return false;
    };
    let (list, _) = store.list(events, Some(namespace));
    let same = list.iter().find(|e| {
        e.pointer("/involvedObject/uid") == Some(uid)
            && e.pointer("/source/component").and_then(Value::as_str) == Some(component)
            && e.get("reason").and_then(Value::as_str) == Some(note.reason)
            && e.get("message").and_then(Value::as_str) == Some(note.message)
            && e.pointer("/involvedObject/fieldPath")
                .and_then(Value::as_str)
                == note.field_path
    });
    let Some(name) = same
        .and_then(|e| e.pointer("/metadata/name"))
        .and_then(Value::as_str)
    else {
        return false;
    };
    store
        .update(events, namespace, name, |e| {
            let count = e.get("count").and_then(Value::as_u64).unwrap_or(1);
            if let Some(obj) = e.as_object_mut() {
                obj.insert("count".to_owned(), json!(count + 1));
                obj.insert("lastTimestamp".to_owned(), json!(now));
            }
            Ok(true)
        })
        .is_ok()
}
