//! `meta.k8s.io/v1` Table responses, so `kubectl get` prints its usual columns.

use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::catalog::ResourceType;
use crate::time::parse_rfc3339;

/// Whether the client asked for a Table (`Accept: application/json;as=Table;...`).
pub fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"))
}

fn age(object: &Value) -> String {
    let created = object
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let secs = created.map_or(0, |c| now.saturating_sub(c));
    match secs {
        0..120 => format!("{secs}s"),
        120..7200 => format!("{}m", secs / 60),
        7200..172_800 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

fn pod_cells(pod: &Value) -> Vec<Value> {
    let statuses: Vec<Value> = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let total = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let ready = statuses
        .iter()
        .filter(|s| s.get("ready") == Some(&json!(true)))
        .count();
    let restarts: u64 = statuses
        .iter()
        .filter_map(|s| s.get("restartCount").and_then(Value::as_u64))
        .sum();
    let reason = statuses.iter().find_map(|s| {
        s.pointer("/state/waiting/reason")
            .or_else(|| s.pointer("/state/terminated/reason"))
            .and_then(Value::as_str)
    });
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Pending");
    let status = if pod.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating".to_owned()
    } else if let Some(r) = pod.pointer("/status/reason").and_then(Value::as_str) {
        r.to_owned()
    } else if let Some(r) = reason.filter(|r| *r != "ContainerCreating" || phase == "Pending") {
        r.to_owned()
    } else {
        phase.to_owned()
    };
    vec![
        json!(pod.pointer("/metadata/name")),
        json!(format!("{ready}/{total}")),
        json!(status),
        json!(restarts),
        json!(age(pod)),
    ]
}

/// Renders objects as a Table.
pub fn table(resource: &ResourceType, objects: &[Value], resource_version: &str) -> Value {
    let column = |name: &str, kind: &str| json!({"name": name, "type": kind, "format": if name == "Name" { "name" } else { "" }, "description": "", "priority": 0});
    let columns = if resource.plural == "pods" {
        vec![
            column("Name", "string"),
            column("Ready", "string"),
            column("Status", "string"),
            column("Restarts", "integer"),
            column("Age", "string"),
        ]
    } else {
        vec![column("Name", "string"), column("Age", "string")]
    };
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let cells = if resource.plural == "pods" {
                pod_cells(o)
            } else {
                vec![json!(o.pointer("/metadata/name")), json!(age(o))]
            };
            json!({"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata")}})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns,
        "rows": rows,
    })
}
