//! The three patch formats of `PATCH`: JSON merge patch (RFC 7386), strategic merge patch (the
//! common directives, with merge keys for the pod fields that have them) and JSON patch (RFC 6902).

use serde_json::{Map, Value};

use crate::api_error::ApiError;

/// Which patch format a request body is in, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/json-patch+json`.
    Json,
}

impl PatchType {
    /// Maps a `Content-Type` to a patch format.
    pub fn from_content_type(content_type: &str) -> Result<Self, ApiError> {
        let base = content_type.split(';').next().unwrap_or("").trim();
        match base {
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/strategic-merge-patch+json" => Ok(Self::Strategic),
            "application/json-patch+json" => Ok(Self::Json),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }
}

/// Applies `patch` to `target` in the given format.
pub fn apply(kind: PatchType, target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    match kind {
        PatchType::Merge => {
            merge(target, patch, false);
            Ok(())
        }
        PatchType::Strategic => {
            merge(target, patch, true);
            Ok(())
        }
        PatchType::Json => json_patch(target, patch),
    }
}

/// The merge key of a list field in strategic merge patch, for the fields the fake knows.
fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "hostAliases"
        | "readinessGates" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "ports" => Some("containerPort"),
        "conditions" => Some("type"),
        "tolerations" => None,
        _ => None,
    }
}

fn merge(target: &mut Value, patch: &Value, strategic: bool) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if strategic && patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replaced = patch_map.clone();
        replaced.remove("$patch");
        *target = Value::Object(replaced);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_map) = target else {
        return;
    };
    for (key, value) in patch_map {
        if strategic && key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            target_map.remove(key);
            continue;
        }
        match (strategic, merge_key(key), value) {
            (true, Some(mkey), Value::Array(items)) => {
                let existing = target_map
                    .entry(key.clone())
                    .or_insert(Value::Array(Vec::new()));
                merge_list(existing, items, mkey);
            }
            (_, _, Value::Object(_)) => {
                let existing = target_map.entry(key.clone()).or_insert(Value::Null);
                merge(existing, value, strategic);
            }
            _ => {
                target_map.insert(key.clone(), value.clone());
            }
        }
    }
}

fn merge_list(existing: &mut Value, items: &[Value], mkey: &str) {
    if !existing.is_array() {
        *existing = Value::Array(Vec::new());
    }
    let Value::Array(list) = existing else { return };
    for item in items {
        let Some(key_value) = item.get(mkey) else {
            list.push(item.clone());
            continue;
        };
        let position = list.iter().position(|e| e.get(mkey) == Some(key_value));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (position, delete) {
            (Some(i), true) => {
                list.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => merge(&mut list[i], item, true),
            (None, false) => {
                let mut fresh = Value::Null;
                merge(&mut fresh, item, true);
                list.push(fresh);
            }
        }
    }
}

fn json_patch(target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let ops = patch
        .as_array()
        .ok_or_else(|| ApiError::bad_request("json patch must be an array of operations"))?;
    for op in ops {
        let field = |name: &str| op.get(name).and_then(Value::as_str).unwrap_or("");
        let path = field("path");
        match field("op") {
            "add" => add(
                target,
                path,
                op.get("value").cloned().unwrap_or(Value::Null),
            )?,
            "remove" => {
                remove(target, path)?;
            }
            "replace" => {
                remove(target, path)?;
                add(
                    target,
                    path,
                    op.get("value").cloned().unwrap_or(Value::Null),
                )?;
            }
            "test" => {
                if target.pointer(path) != op.get("value") {
                    return Err(ApiError {
                        code: 422,
                        reason: "Invalid",
                        message: format!(
                            "the server rejected our request due to an error in our request: testing value {path} failed"
                        ),
                        details: None,
                    });
                }
            }
            "move" => {
                let value = remove(target, field("from"))?;
                add(target, path, value)?;
            }
            "copy" => {
                let value = target
                    .pointer(field("from"))
                    .cloned()
                    .ok_or_else(|| missing(field("from")))?;
                add(target, path, value)?;
            }
            other => {
                return Err(ApiError::bad_request(format!("Unexpected kind: {other}")));
            }
        }
    }
    Ok(())
}

fn missing(path: &str) -> ApiError {
    ApiError {
        code: 422,
        reason: "Invalid",
        message: format!(
            "the server rejected our request due to an error in our request: doc is missing path: \"{path}\": missing value"
        ),
        details: None,
    }
}

fn split_parent(path: &str) -> Result<(&str, String), ApiError> {
    let (parent, last) = path.rsplit_once('/').ok_or_else(|| missing(path))?;
    Ok((parent, last.replace("~1", "/").replace("~0", "~")))
}

fn add(target: &mut Value, path: &str, value: Value) -> Result<(), ApiError> {
    let (parent, last) = split_parent(path)?;
    match target.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(last, value);
            Ok(())
        }
        Some(Value::Array(list)) => {
            let index = if last == "-" {
                list.len()
            } else {
                last.parse().map_err(|_| missing(path))?
            };
            if index > list.len() {
                return Err(missing(path));
            }
            list.insert(index, value);
            Ok(())
        }
        _ => Err(missing(path)),
    }
}

fn remove(target: &mut Value, path: &str) -> Result<Value, ApiError> {
    let (parent, last) = split_parent(path)?;
    match target.pointer_mut(parent) {
        Some(Value::Object(map)) => map.remove(&last).ok_or_else(|| missing(path)),
        Some(Value::Array(list)) => {
            let index: usize = last.parse().map_err(|_| missing(path))?;
            if index >= list.len() {
                return Err(missing(path));
            }
            Ok(list.remove(index))
        }
        _ => Err(missing(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::{PatchType, apply};
    use serde_json::json;

    #[test]
    fn strategic_merges_containers_by_name() {
        let mut pod = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let patch = json!({"$setElementOrder/containers": [{"name": "a"}], "spec": {"containers": [{"name": "b", "image": "z"}]}});
        apply(PatchType::Strategic, &mut pod, &patch).unwrap();
        assert_eq!(pod["spec"]["containers"][1]["image"], "z");
        assert_eq!(pod["spec"]["containers"][0]["image"], "x");
    }

    #[test]
    fn merge_patch_replaces_lists_and_deletes_nulls() {
        let mut obj = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "list": [1, 2]});
        apply(
            PatchType::Merge,
            &mut obj,
            &json!({"metadata": {"labels": {"a": null}}, "list": [3]}),
        )
        .unwrap();
        assert_eq!(
            obj,
            json!({"metadata": {"labels": {"b": "2"}}, "list": [3]})
        );
    }

    #[test]
    fn json_patch_ops() {
        let mut obj = json!({"metadata": {"labels": {"a": "1"}}, "list": [1, 2]});
        let ops = json!([
            {"op": "add", "path": "/metadata/labels/b", "value": "2"},
            {"op": "remove", "path": "/list/0"},
            {"op": "replace", "path": "/metadata/labels/a", "value": "9"},
        ]);
        apply(PatchType::Json, &mut obj, &ops).unwrap();
        assert_eq!(
            obj,
            json!({"metadata": {"labels": {"a": "9", "b": "2"}}, "list": [2]})
        );
    }
}
