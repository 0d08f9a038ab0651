//! Discovery documents: `/version`, `/api`, `/apis`, `/api/v1`.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;
use crate::catalog::RESOURCES;

/// `/version`.
pub async fn version() -> Json<Value> {
    Json(json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-12-11T00:00:00Z",
        "goVersion": "go1.23.3",
        "compiler": "gc",
        "platform": format!("linux/{}", go_arch()),
    }))
}

/// The Go name of this machine's architecture, as `kubernetes.io/arch` uses it.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// `/healthz` and friends.
pub async fn ok() -> &'static str {
    "ok"
}

/// `/api`: the legacy group's versions.
pub async fn api_versions(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": state.address}],
    }))
}

/// `/apis`: no named groups are served.
pub async fn api_groups() -> Json<Value> {
    Json(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}))
}

/// `/api/v1`: the served resources and their verbs.
pub async fn core_resources() -> Json<Value> {
    let mut resources = Vec::new();
    for r in RESOURCES {
        let mut verbs = vec![
            "create", "delete", "get", "list", "patch", "update", "watch",
        ];
        if r.namespaced {
            verbs.push("deletecollection");
        }
        resources.push(json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
            "kind": r.kind, "verbs": verbs, "shortNames": r.short_names,
        }));
        for sub in r.subresources {
            let (kind, verbs): (&str, &[&str]) = match *sub {
                "status" => (r.kind, &["get", "patch", "update"]),
                "log" => ("Pod", &["get"]),
                "eviction" => ("Eviction", &["create"]),
                _ => ("PodExecOptions", &["create", "get"]),
            };
            resources.push(json!({
                "name": format!("{}/{sub}", r.plural), "singularName": "", "namespaced": r.namespaced,
                "kind": kind, "verbs": verbs,
            }));
        }
    }
    Json(json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": resources}))
}

/// `/openapi/v3`: the index, naming one document for `api/v1`.
pub async fn openapi_index() -> Json<Value> {
    Json(json!({"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=kiln-fake"}}}))
}

/// `/openapi/v3/api/v1`: a skeleton holding only what kubectl reads before it writes: a PATCH
/// operation per kind that advertises the `fieldValidation` and `dryRun` parameters (so kubectl
/// leaves validation to the server). It has no schemas: kubectl then computes apply patches from
/// its built-in types, as it does for a server without OpenAPI.
pub async fn openapi_core() -> Json<Value> {
    let mut paths = serde_json::Map::new();
    for r in RESOURCES {
        let path = if r.namespaced {
            format!("/api/v1/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("/api/v1/{}/{{name}}", r.plural)
        };
        let gvk = json!({"group": "", "version": "v1", "kind": r.kind});
        let params = json!([
            {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
        ]);
        let op = |id: String| json!({"operationId": id, "parameters": params, "x-kubernetes-group-version-kind": gvk, "responses": {}});
        paths.insert(
            path,
            json!({
                "patch": op(format!("patchCoreV1{}", r.kind)),
                "put": op(format!("replaceCoreV1{}", r.kind)),
            }),
        );
    }
    Json(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}
