//! The authentication and authorization filter in front of `/api/v1/`, when the cluster is
//! configured with RBAC: bearer token to identity (401 when unknown), then RBAC on the verb
//! and resource the request maps to (403 in the API server's words).

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::request::{flag, parse_path, query_map};
use crate::api_error::ApiError;
use crate::catalog;
use crate::rbac::{Attributes, Identity, forbidden};

/// The RBAC verb of a request (websocket exec, attach and port-forward are `create`, as the
/// API server checks them since 1.31).
fn verb(method: &Method, has_name: bool, subresource: Option<&str>, watch: bool) -> &'static str {
    match (method.as_str(), has_name, subresource) {
        (_, _, Some("exec" | "attach" | "portforward")) => "create",
        ("GET", _, _) if watch => "watch",
        ("GET", true, _) => "get",
        ("GET", false, _) => "list",
        ("POST", _, _) => "create",
        ("PUT", _, _) => "update",
        ("PATCH", _, _) => "patch",
        ("DELETE", true, _) => "delete",
        ("DELETE", false, _) => "deletecollection",
        _ => "unknown",
    }
}

/// Lets a request through only when RBAC allows it.
pub async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let on = state.config.rbac || state.rbac.enabled();
    if !on || !request.uri().path().starts_with("/api/v1/") {
        return next.run(request).await;
    }
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let Some(who) = Identity::from_token(token.trim()).filter(|who| account_exists(&state, who))
    else {
        return ApiError::unauthorized().into_response();
    };
    let Ok(path) = parse_path(request.uri().path()) else {
        return next.run(request).await;
    };
    let query = query_map(request.uri());
    let watch = path.watch_prefix || flag(&query, "watch");
    let name = path.name.clone().unwrap_or_default();
    let resource = match &path.subresource {
        Some(sub) => format!("{}/{sub}", path.resource.plural),
        None => path.resource.plural.to_owned(),
    };
    let namespace = path.namespace.clone().unwrap_or_else(|| {
        // `/api/v1/namespaces/x` names a namespace: a cluster-scoped object.
        String::new()
    });
    let what = Attributes {
        verb: verb(
            request.method(),
            path.name.is_some(),
            path.subresource.as_deref(),
            watch,
        ),
        resource,
        namespace: &namespace,
        name: &name,
    };
    if state.rbac.allows(&who, &what) {
        next.run(request).await
    } else {
        forbidden(&who, &what).into_response()
    }
}

/// A service account's token stops working when the account is deleted.
fn account_exists(state: &AppState, who: &Identity) -> bool {
    let Some((ns, name)) = &who.service_account else {
        return true;
    };
    catalog::resource("serviceaccounts").is_some_and(|rt| state.store.get(rt, ns, name).is_ok())
}
