//! Authentication by service account bearer tokens and RBAC authorization: Roles,
//! ClusterRoles and their bindings decide every verb on every core/v1 resource and
//! subresource, and a refusal is the API server's 403.
//!
//! The fake mints its own opaque tokens ([`service_account_token`]) instead of signed JWTs;
//! the kubeconfig's token stays an administrator (`system:masters`), so tests can set up
//! objects and then act as a service account.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;

use crate::api_error::ApiError;

/// The token of the kubeconfig [`crate::FakeKube::kubeconfig_yaml`] writes: an administrator.
pub const ADMIN_TOKEN: &str = "kiln-fake-token";

const TOKEN_PREFIX: &str = "kiln-fake-sa.";

/// The bearer token the fake accepts for a service account.
pub fn service_account_token(namespace: &str, name: &str) -> String {
    format!("{TOKEN_PREFIX}{namespace}.{name}")
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `system:serviceaccount:NS:NAME`, or the administrator's name.
    pub user: String,
    /// Groups, `system:masters` for the administrator.
    pub groups: Vec<String>,
    /// The service account, as (namespace, name).
    pub service_account: Option<(String, String)>,
}

impl Identity {
    /// The identity a bearer token stands for; `None` for an unknown token.
    pub fn from_token(token: &str) -> Option<Self> {
        if token == ADMIN_TOKEN {
            return Some(Self {
                user: "kubernetes-admin".to_owned(),
                groups: vec![
                    "system:masters".to_owned(),
                    "system:authenticated".to_owned(),
                ],
                service_account: None,
            });
        }
        let (ns, name) = token.strip_prefix(TOKEN_PREFIX)?.split_once('.')?;
        Some(Self {
            user: format!("system:serviceaccount:{ns}:{name}"),
            groups: vec![
                "system:serviceaccounts".to_owned(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".to_owned(),
            ],
            service_account: Some((ns.to_owned(), name.to_owned())),
        })
    }
}

/// One request as the authorizer sees it.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub verb: &'a str,
    /// `pods`, or `pods/exec` with its subresource.
    pub resource: String,
    /// Empty for cluster-scoped requests.
    pub namespace: &'a str,
    /// Empty for collections and creates.
    pub name: &'a str,
}

/// The loaded RBAC objects.
#[derive(Default)]
pub struct Rbac {
    objects: Mutex<Vec<Value>>,
    /// Turned on at run time (kiln's identity installed), besides `FakeKubeConfig::rbac`.
    enabled: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// Why RBAC objects could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RbacError {
    /// The text is not YAML.
    #[error("RBAC manifest is not valid YAML: {0}")]
    Yaml(String),
    /// A document is not one of the four RBAC kinds of `rbac.authorization.k8s.io/v1`.
    #[error(
        "document {index}: expected a Role, ClusterRole, RoleBinding or ClusterRoleBinding of rbac.authorization.k8s.io/v1, found {found}"
    )]
    Kind {
        /// 0-based document index.
        index: usize,
        /// `apiVersion/kind` found.
        found: String,
    },
}

impl Rbac {
    /// Adds every Role, ClusterRole, RoleBinding and ClusterRoleBinding of a YAML text
    /// (several documents allowed).
    pub fn load_yaml(&self, yaml: &str) -> Result<usize, RbacError> {
        let documents: Vec<Value> =
            kiln_yaml::parse_documents(yaml).map_err(|e| RbacError::Yaml(e.reason))?;
        let documents: Vec<Value> = documents.into_iter().filter(|d| !d.is_null()).collect();
        self.load_values(documents)
    }

    /// Adds RBAC objects already parsed (checked like [`Rbac::load_yaml`]'s).
    pub fn load_values(&self, documents: Vec<Value>) -> Result<usize, RbacError> {
        check_kinds(&documents)?;
        let count = documents.len();
        lock(&self.objects).extend(documents);
        Ok(count)
    }

    /// Turns authentication and authorization on from now on.
    pub fn enable(&self) {
        self.enabled.store(true, Ordering::SeqCst);
    }

    /// Whether [`Rbac::enable`] was called.
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    /// Whether `who` may do `what`.
    pub fn allows(&self, who: &Identity, what: &Attributes<'_>) -> bool {
        if who.groups.iter().any(|g| g == "system:masters") {
            return true;
        }
        let objects = lock(&self.objects);
        let find = |kind: &str, ns: &str, name: &str| {
            objects.iter().find(|o| {
                text(o, "kind") == kind
                    && o.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
                    && (kind == "ClusterRole"
                        || o.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns))
            })
        };
        objects
            .iter()
            .filter(|b| match text(b, "kind") {
                "ClusterRoleBinding" => true,
                "RoleBinding" => {
                    b.pointer("/metadata/namespace").and_then(Value::as_str) == Some(what.namespace)
                        && !what.namespace.is_empty()
                }
                _ => false,
            })
            .filter(|b| binds(b, who))
            .filter_map(|b| {
                let role_ref = b.get("roleRef")?;
                let ns = b
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                find(text(role_ref, "kind"), ns, text(role_ref, "name"))
            })
            .flat_map(|role| {
                role.get("rules")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .any(|rule| rule_allows(&rule, what))
    }
}

/// Every document must be one of the four RBAC kinds of `rbac.authorization.k8s.io/v1`.
fn check_kinds(documents: &[Value]) -> Result<(), RbacError> {
    for (index, doc) in documents.iter().enumerate() {
        let kind = text(doc, "kind");
        let ok = text(doc, "apiVersion") == "rbac.authorization.k8s.io/v1"
            && matches!(
                kind,
                "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding"
            );
        if !ok {
            return Err(RbacError::Kind {
                index,
                found: format!("{}/{kind}", text(doc, "apiVersion")),
            });
        }
    }
    Ok(())
}

fn binds(binding: &Value, who: &Identity) -> bool {
    let binding_ns = binding
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    binding
        .get("subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|s| match text(s, "kind") {
            "ServiceAccount" => {
                let ns = match text(s, "namespace") {
                    "" => binding_ns,
                    ns => ns,
                };
                who.service_account
                    .as_ref()
                    .is_some_and(|(sa_ns, sa)| sa_ns == ns && sa == text(s, "name"))
            }
            "User" => who.user == text(s, "name"),
            "Group" => who.groups.iter().any(|g| g == text(s, "name")),
            _ => false,
        })
}

fn rule_allows(rule: &Value, what: &Attributes<'_>) -> bool {
    let has = |key: &str, want: &str| strings(rule, key).iter().any(|v| v == "*" || v == want);
    let resource_ok = strings(rule, "resources").iter().any(|r| {
        r == "*"
            || *r == what.resource
            || r.strip_prefix("*/")
                .is_some_and(|sub| what.resource.split_once('/').is_some_and(|(_, s)| s == sub))
    });
    let names = strings(rule, "resourceNames");
    let name_ok =
        names.is_empty() || (!what.name.is_empty() && names.iter().any(|n| n == what.name));
    has("apiGroups", "") && resource_ok && has("verbs", what.verb) && name_ok
}

/// The API server's 403 for a refused request.
pub fn forbidden(who: &Identity, what: &Attributes<'_>) -> ApiError {
    let (plural, _) = what
        .resource
        .split_once('/')
        .unwrap_or((&what.resource, ""));
    let scope = if what.namespace.is_empty() {
        "at the cluster scope".to_owned()
    } else {
        format!("in the namespace \"{}\"", what.namespace)
    };
    ApiError::forbidden(
        plural,
        what.name,
        &format!(
            "User \"{}\" cannot {} resource \"{}\" in API group \"\" {scope}",
            who.user, what.verb, what.resource
        ),
    )
}
