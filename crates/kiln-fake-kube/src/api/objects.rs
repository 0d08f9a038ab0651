//! Create, read, list, update, patch and delete of core/v1 objects, with the apiserver's
//! per-type rules for pods (validation, defaulting, immutability, graceful deletion), secrets
//! (`stringData`) and namespaces (contents deleted with them).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::AppState;
use super::request::{ObjectPath, flag, parse_path, query_map};
use super::{body, table, watch};
use crate::api_error::ApiError;
use crate::catalog::{self, ResourceType};
use crate::patch::{self, PatchType};
use crate::pod_defaults::{check_pod_update, default_pod};
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::ensure_object;
use crate::time::format_unix;
use crate::validation;

/// Entry point for every `/api/v1/...` object request.
pub async fn dispatch(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match handle(&state, &method, &uri, &headers, &body).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn handle(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let path = parse_path(uri.path())?;
    let query = query_map(uri);
    let ns = path.namespace.clone().unwrap_or_default();
    if path.watch_prefix || (flag(&query, "watch") && *method == Method::GET) {
        return watch::watch(state, &path, &query);
    }
    let store = &state.store;
    let rt = path.resource;
    match (method.as_str(), &path.name, path.subresource.as_deref()) {
        ("GET", None, None) => list(state, &path, &query, table::wants_table(headers)),
        ("GET", Some(name), None | Some("status")) => {
            let object = store.get(rt, &ns, name)?;
            if table::wants_table(headers) {
                let rv = object
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                return Ok(Json(table::table(rt, &[object], &rv)).into_response());
            }
            Ok(Json(object).into_response())
        }
        ("POST", None, None) => {
            let (object, warnings) = body::decode_object(headers, body, rt, &query)?;
            Ok(body::with_warnings(
                create(state, rt, &ns, object, &query)?,
                &warnings,
            ))
        }
        ("POST", Some(name), Some("eviction")) if rt.plural == "pods" => {
            delete(state, rt, &ns, name, &json!({}), &HashMap::new())?;
            Ok(Json(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})).into_response())
        }
        ("PUT", Some(name), sub @ (None | Some("status"))) => {
            let (object, warnings) = body::decode_object(headers, body, rt, &query)?;
            Ok(body::with_warnings(
                replace(state, rt, &ns, name, sub.is_some(), object)?,
                &warnings,
            ))
        }
        ("PATCH", Some(name), sub @ (None | Some("status"))) => {
            let content_type = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            patch_object(state, rt, &ns, name, sub.is_some(), content_type, body)
        }
        ("DELETE", Some(name), None) => {
            let options = if body.is_empty() {
                json!({})
            } else {
                body::decode_value(headers, body)?
            };
            delete(state, rt, &ns, name, &options, &query)
        }
        ("DELETE", None, None) if rt.namespaced => {
            let (label, field) = selectors(&query)?;
            let (items, _) = store.list(rt, path.namespace.as_deref());
            let mut deleted = Vec::new();
            for item in items
                .iter()
                .filter(|i| label.matches(i) && field.matches(i))
            {
                let name = item
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let item_ns = item
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if delete(state, rt, item_ns, name, &json!({}), &query).is_ok() {
                    deleted.push(strip_type(item.clone()));
                }
            }
            Ok(Json(
                json!({"kind": format!("{}List", rt.kind), "apiVersion": "v1",
                "metadata": {"resourceVersion": store.current_rv().to_string()}, "items": deleted}),
            )
            .into_response())
        }
        ("GET" | "POST" | "PUT" | "PATCH" | "DELETE", _, _) => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn parse_json(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the body of the request was in an unknown format - accepted media types include: application/json (error: {e})"))
    })
}

/// Drops `kind` and `apiVersion`, as list items are served.
fn strip_type(mut item: Value) -> Value {
    if let Some(o) = item.as_object_mut() {
        o.remove("kind");
        o.remove("apiVersion");
    }
    item
}

/// Parses `labelSelector` and `fieldSelector`.
pub fn selectors(
    query: &HashMap<String, String>,
) -> Result<(LabelSelector, FieldSelector), ApiError> {
    Ok((
        LabelSelector::parse(query.get("labelSelector").map_or("", String::as_str))?,
        FieldSelector::parse(query.get("fieldSelector").map_or("", String::as_str))?,
    ))
}

/// A list at a resourceVersion: `Exact` from before the compacted window gets `410 Expired`
/// (as etcd compaction causes), any version the server has not reached yet `504`. Lists are
/// served from the current state otherwise (the watch cache's `NotOlderThan`).
fn check_list_version(state: &AppState, query: &HashMap<String, String>) -> Result<(), ApiError> {
    let Some(requested) = query
        .get("resourceVersion")
        .filter(|v| !v.is_empty() && v.as_str() != "0")
    else {
        return Ok(());
    };
    let requested: u64 = requested
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {requested:?}")))?;
    let current = state.store.current_rv();
    if requested > current {
        return Err(ApiError::too_large_resource_version(requested, current));
    }
    let exact = query.get("resourceVersionMatch").map(String::as_str) == Some("Exact");
    if exact && requested < state.store.oldest_rv() {
        return Err(ApiError::list_expired());
    }
    Ok(())
}

fn list(
    state: &AppState,
    path: &ObjectPath,
    query: &HashMap<String, String>,
    as_table: bool,
) -> Result<Response, ApiError> {
    let (label, field) = selectors(query)?;
    check_list_version(state, query)?;
    let (items, rv) = state.store.list(path.resource, path.namespace.as_deref());
    let items: Vec<Value> = items
        .into_iter()
        .filter(|i| label.matches(i) && field.matches(i))
        .map(strip_type)
        .collect();
    if as_table {
        return Ok(Json(table::table(path.resource, &items, &rv.to_string())).into_response());
    }
    Ok(Json(json!({
        "kind": format!("{}List", path.resource.kind),
        "apiVersion": "v1",
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items,
    }))
    .into_response())
}

fn check_kind(rt: &ResourceType, object: &Value) -> Result<(), ApiError> {
    match object.get("kind").and_then(Value::as_str) {
        Some(kind) if kind != rt.kind => Err(ApiError::bad_request(format!(
            "the API version in the data (v1) does not match the expected API version (v1): {kind} is not {}",
            rt.kind
        ))),
        _ => Ok(()),
    }
}

/// Per-type preparation of a new object (validation and defaulting).
fn prepare_new(rt: &ResourceType, object: &mut Value) -> Result<(), ApiError> {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            meta.remove(field);
        }
    }
    match rt.plural {
        "pods" => {
            validation::validate_pod(object)?;
            default_pod(object);
        }
        "secrets" => {
            validation::validate_name(rt.kind, object)?;
            normalize_secret(object);
        }
        "serviceaccounts" => validation::validate_name(rt.kind, object)?,
        "persistentvolumeclaims" => {
            validation::validate_name(rt.kind, object)?;
            bind_claim(object);
        }
        "namespaces" => {
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !validation::is_dns1123_label(name) {
                return Err(ApiError::invalid(
                    "Namespace",
                    name,
                    &[crate::api_error::FieldCause::invalid(
                        "metadata.name",
                        name,
                        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                    )],
                ));
            }
            if let Some(o) = object.as_object_mut() {
                o.insert("spec".to_owned(), json!({"finalizers": ["kubernetes"]}));
                o.insert("status".to_owned(), json!({"phase": "Active"}));
            }
        }
        _ => validation::validate_name(rt.kind, object)?,
    }
    Ok(())
}

/// Moves `stringData` into base64 `data` and defaults `type`, as the apiserver does.
/// A claim is bound at once, as by a provisioner with `Immediate` binding: capacity as
/// requested.
fn bind_claim(object: &mut Value) {
    let modes = object
        .pointer("/spec/accessModes")
        .cloned()
        .unwrap_or_else(|| json!(["ReadWriteOnce"]));
    let capacity = object
        .pointer("/spec/resources/requests")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(o) = object.as_object_mut() {
        o.insert(
            "status".to_owned(),
            json!({"phase": "Bound", "accessModes": modes, "capacity": capacity}),
        );
    }
}

fn normalize_secret(object: &mut Value) {
    let Some(o) = object.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(string_data)) = o.remove("stringData") {
        let data = o.entry("data").or_insert_with(|| json!({}));
        if let Some(d) = data.as_object_mut() {
            for (k, v) in string_data {
                let text = v.as_str().unwrap_or("").to_owned();
                d.insert(
                    k,
                    json!(base64::engine::general_purpose::STANDARD.encode(text)),
                );
            }
        }
    }
    o.entry("type").or_insert(json!("Opaque"));
}

fn create(
    state: &AppState,
    rt: &'static ResourceType,
    ns: &str,
    mut object: Value,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    check_kind(rt, &object)?;
    if let Some(body_ns) = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
    {
        if rt.namespaced && !body_ns.is_empty() && body_ns != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    prepare_new(rt, &mut object)?;
    let mut warnings = Vec::new();
    if rt.plural == "pods" {
        admit_service_account(&state.store, ns, &object)?;
        warnings = admit_pod_security(&state.store, ns, &object)?;
    }
    if query.contains_key("dryRun") {
        let response = (axum::http::StatusCode::CREATED, Json(object)).into_response();
        return Ok(body::with_warnings(response, &warnings));
    }
    let created = state.store.create(rt, ns, object)?;
    if rt.plural == "namespaces" {
        let name = created
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        crate::fake_kube::create_default_service_account(&state.store, name);
    }
    let response = (axum::http::StatusCode::CREATED, Json(created)).into_response();
    Ok(body::with_warnings(response, &warnings))
}

/// The ServiceAccount admission plugin: the pod's service account must exist.
fn admit_service_account(
    store: &crate::store::Store,
    ns: &str,
    pod: &Value,
) -> Result<(), ApiError> {
    let Some(sas) = catalog::resource("serviceaccounts") else {
        return Ok(());
    };
    let account = pod
        .pointer("/spec/serviceAccountName")
        .and_then(Value::as_str)
        .unwrap_or("default");
    if store.get(sas, ns, account).is_ok() {
        return Ok(());
    }
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    Err(ApiError::forbidden(
        "pods",
        name,
        &format!(
            "error looking up service account {ns}/{account}: serviceaccount \"{account}\" not found"
        ),
    ))
}

/// Pod Security admission by the namespace's `pod-security.kubernetes.io/enforce` label (a
/// 403 naming every violation) and `.../warn` label (warnings).
fn admit_pod_security(
    store: &crate::store::Store,
    ns: &str,
    pod: &Value,
) -> Result<Vec<String>, ApiError> {
    use crate::pod_security::{Level, denial};
    let Some(namespaces) = catalog::resource("namespaces") else {
        return Ok(Vec::new());
    };
    let Ok(namespace) = store.get(namespaces, "", ns) else {
        return Ok(Vec::new());
    };
    let level = |mode: &str| {
        namespace
            .pointer("/metadata/labels")
            .and_then(|l| l.get(format!("pod-security.kubernetes.io/{mode}")))
            .and_then(Value::as_str)
            .and_then(Level::from_label)
    };
    let spec = pod.get("spec").cloned().unwrap_or(Value::Null);
    if let Some(why) = level("enforce").and_then(|l| denial(l, &spec)) {
        let name = pod
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        return Err(ApiError::forbidden(
            "pods",
            name,
            &format!("violates {why}"),
        ));
    }
    Ok(level("warn")
        .and_then(|l| denial(l, &spec))
        .map(|why| vec![format!("would violate {why}")])
        .unwrap_or_default())
}

/// Carries the parts of `old` that a write to the main resource (or to `status`) must keep.
fn merge_write(
    rt: &ResourceType,
    old: &Value,
    mut new: Value,
    status_only: bool,
) -> Result<Value, ApiError> {
    if status_only {
        let mut result = old.clone();
        if let Some(o) = result.as_object_mut() {
            o.insert(
                "status".to_owned(),
                new.get("status").cloned().unwrap_or(json!({})),
            );
        }
        return Ok(result);
    }
    if rt.plural == "pods" || rt.plural == "namespaces" || rt.plural == "nodes" {
        if let (Some(o), Some(status)) = (new.as_object_mut(), old.get("status")) {
            o.insert("status".to_owned(), status.clone());
        }
    }
    if rt.plural == "pods" {
        check_pod_update(old, &new)?;
    }
    if rt.plural == "secrets" {
        normalize_secret(&mut new);
    }
    for field in ["deletionTimestamp", "deletionGracePeriodSeconds"] {
        let meta = ensure_object(&mut new, "metadata");
        match old.pointer(&format!("/metadata/{field}")) {
            Some(v) => meta.insert(field.to_owned(), v.clone()),
            None => meta.remove(field),
        };
    }
    if let Some(o) = new.as_object_mut() {
        o.insert("kind".to_owned(), json!(rt.kind));
        o.insert("apiVersion".to_owned(), json!("v1"));
    }
    Ok(new)
}

fn replace(
    state: &AppState,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    status_only: bool,
    object: Value,
) -> Result<Response, ApiError> {
    check_kind(rt, &object)?;
    update_at_version(state, (rt, ns, name), &object, status_only, |_| {
        Ok(object.clone())
    })
}

fn patch_object(
    state: &AppState,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    status_only: bool,
    content_type: &str,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let kind = PatchType::from_content_type(content_type)?;
    let patch_doc = parse_json(body)?;
    update_at_version(state, (rt, ns, name), &patch_doc, status_only, |current| {
        let mut patched = current.clone();
        patch::apply(kind, &mut patched, &patch_doc)?;
        Ok(patched)
    })
}

/// Writes what `write` makes of the current object (a replace or a patch), refused with a
/// conflict when `doc` names a `resourceVersion` that is not the current one.
fn update_at_version(
    state: &AppState,
    (rt, ns, name): (&'static ResourceType, &str, &str),
    doc: &Value,
    status_only: bool,
    write: impl FnOnce(&Value) -> Result<Value, ApiError>,
) -> Result<Response, ApiError> {
    let expected = doc
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let updated = state.store.update(rt, ns, name, |current| {
        let current_rv = current
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str);
        if expected.as_deref().is_some_and(|e| Some(e) != current_rv) {
            return Err(ApiError::conflict(rt.plural, name));
        }
        let new = write(current)?;
        *current = merge_write(rt, current, new, status_only)?;
        Ok(true)
    })?;
    Ok(Json(updated).into_response())
}

fn delete(
    state: &AppState,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    options: &Value,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let store = &state.store;
    let current = store.get(rt, ns, name)?;
    if let Some(uid) = options
        .pointer("/preconditions/uid")
        .and_then(Value::as_str)
    {
        if current.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid) {
            return Err(ApiError::conflict(rt.plural, name));
        }
    }
    match rt.plural {
        "pods" => delete_pod(state, rt, ns, name, &current, options, query),
        "namespaces" => {
            store.delete_namespace_contents(name);
            let mut gone = store.delete(rt, ns, name)?;
            if let Some(o) = gone.as_object_mut() {
                o.insert("status".to_owned(), json!({"phase": "Terminating"}));
            }
            Ok(Json(gone).into_response())
        }
        _ => {
            let gone = store.delete(rt, ns, name)?;
            Ok(Json(json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": name, "kind": rt.plural, "uid": gone.pointer("/metadata/uid")},
            }))
            .into_response())
        }
    }
}

fn delete_pod(
    state: &AppState,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    current: &Value,
    options: &Value,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let grace = query
        .get("gracePeriodSeconds")
        .and_then(|g| g.parse::<i64>().ok())
        .or_else(|| options.get("gracePeriodSeconds").and_then(Value::as_i64))
        .or_else(|| {
            current
                .pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
        })
        .unwrap_or(30)
        .max(0);
    let unbound = current
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty();
    let terminal = matches!(
        current.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    if unbound || terminal || grace == 0 {
        return Ok(Json(state.store.delete(rt, ns, name)?).into_response());
    }
    if current.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(Json(current.clone()).into_response());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let deadline = format_unix(now + u64::try_from(grace).unwrap_or(0));
    let updated = state.store.update(rt, ns, name, |p| {
        let meta = ensure_object(p, "metadata");
        meta.insert("deletionTimestamp".to_owned(), json!(deadline));
        meta.insert("deletionGracePeriodSeconds".to_owned(), json!(grace));
        Ok(true)
    })?;
    Ok(Json(updated).into_response())
}

/// The `catalog` lookup for pods, failing as a missing route would.
pub fn pods() -> Result<&'static ResourceType, ApiError> {
    catalog::resource("pods").ok_or_else(ApiError::no_route)
}
