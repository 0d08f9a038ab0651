//! Parsing of `/api/v1/...` object paths and their query parameters.

use std::collections::HashMap;

use axum::http::Uri;

use crate::api_error::ApiError;
use crate::catalog::{self, ResourceType};

/// A parsed object path.
#[derive(Debug)]
pub struct ObjectPath {
    /// The resource type.
    pub resource: &'static ResourceType,
    /// Namespace from the path (`None` for cluster-scoped paths and all-namespace lists).
    pub namespace: Option<String>,
    /// Object name, for item paths.
    pub name: Option<String>,
    /// Subresource (`status`, `eviction`).
    pub subresource: Option<String>,
    /// Whether the legacy `/watch/` prefix was used.
    pub watch_prefix: bool,
}

/// Parses `/api/v1/[watch/][namespaces/{ns}/]{resource}[/{name}[/{sub}]]`.
pub fn parse_path(path: &str) -> Result<ObjectPath, ApiError> {
    let rest = path
        .strip_prefix("/api/v1/")
        .ok_or_else(ApiError::no_route)?;
    let mut segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let watch_prefix = segs.first() == Some(&"watch");
    if watch_prefix {
        segs.remove(0);
    }
    let namespaced_form = segs.len() >= 3
        && segs[0] == "namespaces"
        && catalog::resource(segs[2]).is_some_and(|r| r.namespaced);
    let (namespace, rest) = if namespaced_form {
        (Some(segs[1].to_owned()), &segs[2..])
    } else {
        (None, &segs[..])
    };
    let resource = rest
        .first()
        .and_then(|p| catalog::resource(p))
        .ok_or_else(ApiError::no_route)?;
    if rest.len() > 3 || (namespace.is_some() && !resource.namespaced) {
        return Err(ApiError::no_route());
    }
    Ok(ObjectPath {
        resource,
        namespace,
        name: rest.get(1).map(|s| (*s).to_owned()),
        subresource: rest.get(2).map(|s| (*s).to_owned()),
        watch_prefix,
    })
}

/// Query parameters (last value wins).
pub fn query_map(uri: &Uri) -> HashMap<String, String> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|q| q.0.into_iter().collect())
        .unwrap_or_default()
}

/// Whether a boolean query parameter is set (`true` or `1`).
pub fn flag(query: &HashMap<String, String>, key: &str) -> bool {
    query.get(key).is_some_and(|v| v == "true" || v == "1")
}
