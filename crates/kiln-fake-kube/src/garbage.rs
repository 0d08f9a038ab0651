//! The garbage collector: an object whose `metadata.ownerReferences` all name owners that are
//! gone (no object of that kind and name in its namespace, or one with another uid) is
//! deleted, as Kubernetes' garbage collector does with background propagation. An owner's
//! removal collects its dependents as part of the removal (`Store::delete`: a collector that is
//! never late, so tests need not wait for it), and a task following the store's changes
//! collects a dependent created or given owners that are already gone. Owners being deleted
//! gracefully (a pod with a `deletionTimestamp`) are still there: their dependents wait for
//! the removal.

use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::catalog::{RESOURCES, ResourceType};
use crate::store::{ChangeType, Store};

/// Runs until `cancel` fires.
pub async fn run(store: Store, cancel: CancellationToken) {
    let mut changes = store.subscribe();
    sweep(&store);
    loop {
        let change = tokio::select! {
            () = cancel.cancelled() => return,
            change = changes.recv() => change,
        };
        match change {
            // Collected by the removal itself.
            Ok(change) if change.kind == ChangeType::Deleted => {}
            Ok(change) => {
                if is_orphan(&store, &change.object) {
                    collect(&store, change.resource, &change.object);
                }
            }
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "garbage collector lagged behind the store; sweeping"
                );
                sweep(&store);
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Collects every orphan in the store.
fn sweep(store: &Store) {
    for resource in RESOURCES {
        for object in store.list(resource, None).0 {
            if is_orphan(store, &object) {
                collect(store, resource, &object);
            }
        }
    }
}

/// Collects the orphans among the objects of `namespace` that name `uid` as an owner.
pub(crate) fn collect_dependents(store: &Store, namespace: &str, uid: &str) {
    if uid.is_empty() {
        return;
    }
    for (resource, object) in store.dependents_of(namespace, uid) {
        if is_orphan(store, &object) {
            collect(store, resource, &object);
        }
    }
}

fn collect(store: &Store, resource: &'static ResourceType, object: &Value) {
    let namespace = text(object, "/metadata/namespace");
    let name = text(object, "/metadata/name");
    tracing::debug!(kind = resource.kind, %namespace, %name, "garbage-collecting an orphan");
    // Gone already is fine: its deleter came first.
    let _ = store.delete(resource, &namespace, &name);
}

fn owners(object: &Value) -> impl Iterator<Item = &Value> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Whether `object` has owners and every one of them is gone.
fn is_orphan(store: &Store, object: &Value) -> bool {
    let namespace = text(object, "/metadata/namespace");
    let mut owners = owners(object).peekable();
    owners.peek().is_some() && owners.all(|owner| !owner_exists(store, &namespace, owner))
}

/// Whether the owner an owner reference names exists: same kind, name and uid (cluster-scoped
/// kinds are looked up outside any namespace). An owner of a kind the fake does not serve
/// counts as present: the fake cannot tell, and a real cluster would not collect on a guess.
fn owner_exists(store: &Store, namespace: &str, owner: &Value) -> bool {
    let kind = owner.get("kind").and_then(Value::as_str).unwrap_or("");
    let Some(resource) = RESOURCES.iter().find(|r| r.kind == kind) else {
        return true;
    };
    let name = owner.get("name").and_then(Value::as_str).unwrap_or("");
    let uid = owner.get("uid").and_then(Value::as_str).unwrap_or("");
    let namespace = if resource.namespaced { namespace } else { "" };
    store
        .get(resource, namespace, name)
        .is_ok_and(|found| found.pointer("/metadata/uid").and_then(Value::as_str) == Some(uid))
}

fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rt(plural: &str) -> &'static ResourceType {
        crate::catalog::resource(plural).expect("served")
    }

    fn store_with_namespace() -> Store {
        let store = Store::new(100);
        store
            .create(rt("namespaces"), "", json!({"metadata": {"name": "ci"}}))
            .expect("namespace");
        store
    }

    fn owned_secret(store: &Store, name: &str, owner: &Value) -> Value {
        let reference = json!({
            "apiVersion": "v1", "kind": "Pod",
            "name": owner.pointer("/metadata/name"), "uid": owner.pointer("/metadata/uid"),
        });
        store
            .create(
                rt("secrets"),
                "ci",
                json!({"metadata": {"name": name, "ownerReferences": [reference]}}),
            )
            .expect("secret")
    }

    #[test]
    fn an_owners_removal_collects_its_dependents_only() {
        let store = store_with_namespace();
        let pod = store
            .create(rt("pods"), "ci", json!({"metadata": {"name": "p"}}))
            .expect("pod");
        let other = store
            .create(rt("pods"), "ci", json!({"metadata": {"name": "q"}}))
            .expect("pod");
        owned_secret(&store, "s", &pod);
        owned_secret(&store, "t", &other);
        assert!(!is_orphan(
            &store,
            &store.get(rt("secrets"), "ci", "s").expect("s")
        ));
        store.delete(rt("pods"), "ci", "p").expect("delete");
        assert!(store.get(rt("secrets"), "ci", "s").is_err(), "collected");
        assert!(store.get(rt("secrets"), "ci", "t").is_ok(), "another pod's");
    }

    #[test]
    fn an_owner_of_the_same_name_but_another_uid_does_not_keep_a_dependent() {
        let store = store_with_namespace();
        let old = store
            .create(rt("pods"), "ci", json!({"metadata": {"name": "p"}}))
            .expect("pod");
        let secret = owned_secret(&store, "s", &old);
        store.delete(rt("pods"), "ci", "p").expect("delete");
        store
            .create(rt("pods"), "ci", json!({"metadata": {"name": "p"}}))
            .expect("new pod");
        assert!(is_orphan(&store, &secret));
    }

    #[test]
    fn objects_without_owners_or_with_unknown_kinds_of_owner_stay() {
        let store = store_with_namespace();
        let plain = store
            .create(rt("secrets"), "ci", json!({"metadata": {"name": "plain"}}))
            .expect("secret");
        assert!(!is_orphan(&store, &plain));
        let foreign = store
            .create(
                rt("secrets"),
                "ci",
                json!({"metadata": {"name": "f", "ownerReferences": [
                    {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "x"}
                ]}}),
            )
            .expect("secret");
        assert!(!is_orphan(&store, &foreign));
        sweep(&store);
        assert!(store.get(rt("secrets"), "ci", "plain").is_ok());
        assert!(store.get(rt("secrets"), "ci", "f").is_ok());
    }
}
