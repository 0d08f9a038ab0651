//! The object store: every object by resource, namespace and name, a global resourceVersion
//! counter, a bounded change history for watches, and a broadcast of every change.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::api_error::ApiError;
use crate::catalog::{self, ResourceType};
use crate::time::now_rfc3339;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    /// Created.
    Added,
    /// Updated.
    Modified,
    /// Removed.
    Deleted,
}

impl ChangeType {
    /// The watch event `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change, as watchers see it.
#[derive(Debug, Clone)]
pub struct Change {
    /// The resourceVersion the change produced.
    pub rv: u64,
    /// What happened.
    pub kind: ChangeType,
    /// The resource type.
    pub resource: &'static ResourceType,
    /// The object after the change (before it, for a deletion, with the new resourceVersion).
    pub object: Value,
}

type Key = (String, String);

struct State {
    rv: u64,
    uid_counter: u64,
    objects: BTreeMap<&'static str, BTreeMap<Key, Value>>,
    history: VecDeque<Arc<Change>>,
    /// Watches from a resourceVersion older than this get `410 Expired`.
    floor: u64,
    history_limit: usize,
}

/// Shared, cheaply cloneable object store.
#[derive(Clone)]
pub struct Store {
    state: Arc<Mutex<State>>,
    tx: broadcast::Sender<Arc<Change>>,
}

/// A watch's starting point: the changes it missed and a receiver for the rest.
pub struct WatchStart {
    /// Changes after the requested resourceVersion, oldest first.
    pub backlog: Vec<Arc<Change>>,
    /// Every later change.
    pub receiver: broadcast::Receiver<Arc<Change>>,
    /// The store's resourceVersion when the watch started.
    pub current_rv: u64,
}

impl Store {
    /// An empty store keeping `history_limit` changes for watches to resume from.
    pub fn new(history_limit: usize) -> Self {
        let (tx, _) = broadcast::channel(16_384);
        Self {
            state: Arc::new(Mutex::new(State {
                rv: 1,
                uid_counter: 0,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                floor: 1,
                history_limit,
            })),
            tx,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A receiver of every future change.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.tx.subscribe()
    }

    /// The current resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// Creates an object, filling uid, resourceVersion, creationTimestamp and generateName.
    pub fn create(
        &self,
        resource: &'static ResourceType,
        namespace: &str,
        mut object: Value,
    ) -> Result<Value, ApiError> {
        let mut state = self.lock();
        if resource.namespaced
            && !state
                .objects
                .get("namespaces")
                .is_some_and(|m| m.contains_key(&(String::new(), namespace.to_owned())))
        {
            return Err(ApiError::not_found("namespaces", namespace));
        }
        state.uid_counter += 1;
        let uid = fake_uid(state.uid_counter);
        let meta = ensure_object(&mut object, "metadata");
        let mut name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if name.is_empty() {
            if let Some(prefix) = meta.get("generateName").and_then(Value::as_str) {
                name = format!("{prefix}{}", &uid[uid.len() - 5..]);
            } else {
                return Err(ApiError {
                    code: 422,
                    reason: "Invalid",
                    message: format!(
                        "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                        resource.kind
                    ),
                    details: Some(json!({"kind": resource.plural, "causes": [{
                        "reason": "FieldValueRequired",
                        "message": "Required value: name or generateName is required",
                        "field": "metadata.name"}]})),
                });
            }
        }
        let key = (
            if resource.namespaced {
                namespace.to_owned()
            } else {
                String::new()
            },
            name.clone(),
        );
        if state
            .objects
            .get(resource.plural)
            .is_some_and(|m| m.contains_key(&key))
        {
            return Err(ApiError::already_exists(resource.plural, &name));
        }
        meta.insert("name".to_owned(), json!(name));
        if resource.namespaced {
            meta.insert("namespace".to_owned(), json!(namespace));
        } else {
            meta.remove("namespace");
        }
        meta.insert("uid".to_owned(), json!(uid));
        meta.insert("creationTimestamp".to_owned(), json!(now_rfc3339()));
        meta.remove("deletionTimestamp");
        if let Some(obj) = object.as_object_mut() {
            obj.insert("kind".to_owned(), json!(resource.kind));
            obj.insert("apiVersion".to_owned(), json!("v1"));
        }
        let stored = self.commit(&mut state, resource, key, object, ChangeType::Added);
        Ok(stored)
    }

    /// Reads one object.
    pub fn get(
        &self,
        resource: &'static ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let key = key_for(resource, namespace, name);
        self.lock()
            .objects
            .get(resource.plural)
            .and_then(|m| m.get(&key))
            .cloned()
            .ok_or_else(|| ApiError::not_found(resource.plural, name))
    }

    /// Every object of a type (in one namespace, or all), and the current resourceVersion.
    pub fn list(
        &self,
        resource: &'static ResourceType,
        namespace: Option<&str>,
    ) -> (Vec<Value>, u64) {
        let state = self.lock();
        let items = state
            .objects
            .get(resource.plural)
            .map(|m| {
                m.iter()
                    .filter(|((ns, _), _)| namespace.is_none_or(|want| want == ns))
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default();
        (items, state.rv)
    }

    /// The objects of `namespace` that name `uid` among their `ownerReferences`.
    pub fn dependents_of(&self, namespace: &str, uid: &str) -> Vec<(&'static ResourceType, Value)> {
        let state = self.lock();
        let names_owner = |object: &Value| {
            object
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|owners| {
                    owners
                        .iter()
                        .any(|o| o.get("uid").and_then(Value::as_str) == Some(uid))
                })
        };
        catalog::RESOURCES
            .iter()
            .filter(|r| r.namespaced)
            .flat_map(|r| {
                state
                    .objects
                    .get(r.plural)
                    .into_iter()
                    .flatten()
                    .filter(|((ns, _), object)| ns == namespace && names_owner(object))
                    .map(move |(_, object)| (r, object.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Applies `change` to an object and stores it with a new resourceVersion. When `expected_rv`
    /// is given and differs from the stored one, fails with `409 Conflict`. A closure returning
    /// `Ok(false)` leaves the object untouched (no new resourceVersion, no event).
    pub fn update(
        &self,
        resource: &'static ResourceType,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut Value) -> Result<bool, ApiError>,
    ) -> Result<Value, ApiError> {
        let mut state = self.lock();
        let key = key_for(resource, namespace, name);
        let current = state
            .objects
            .get(resource.plural)
            .and_then(|m| m.get(&key))
            .cloned()
            .ok_or_else(|| ApiError::not_found(resource.plural, name))?;
        let mut next = current.clone();
        if !change(&mut next)? || next == current {
            return Ok(current);
        }
        // Identity fields cannot change through an update.
        for field in ["name", "namespace", "uid", "creationTimestamp"] {
            if let Some(v) = current.pointer(&format!("/metadata/{field}")) {
                ensure_object(&mut next, "metadata").insert(field.to_owned(), v.clone());
            }
        }
        Ok(self.commit(&mut state, resource, key, next, ChangeType::Modified))
    }

    /// Removes an object, returning it as it was at removal. The objects it owned and no
    /// other owner keeps are collected with it (see `garbage`).
    pub fn delete(
        &self,
        resource: &'static ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let object = {
            let mut state = self.lock();
            let key = key_for(resource, namespace, name);
            let removed = state
                .objects
                .get_mut(resource.plural)
                .and_then(|m| m.remove(&key))
                .ok_or_else(|| ApiError::not_found(resource.plural, name))?;
            state.rv += 1;
            let rv = state.rv;
            let mut object = removed;
            set_rv(&mut object, rv);
            self.record(&mut state, resource, ChangeType::Deleted, object.clone());
            object
        };
        if let Some(uid) = object.pointer("/metadata/uid").and_then(Value::as_str) {
            crate::garbage::collect_dependents(self, namespace, uid);
        }
        Ok(object)
    }

    /// Removes every namespaced object in `namespace`.
    pub fn delete_namespace_contents(&self, namespace: &str) {
        let keys: Vec<(&'static ResourceType, String)> = {
            let state = self.lock();
            catalog::RESOURCES
                .iter()
                .filter(|r| r.namespaced)
                .flat_map(|r| {
                    state
                        .objects
                        .get(r.plural)
                        .into_iter()
                        .flat_map(|m| m.keys())
                        .filter(|(ns, _)| ns == namespace)
                        .map(move |(_, name)| (r, name.clone()))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        for (resource, name) in keys {
            // Already gone is fine: someone else removed it first.
            let _ = self.delete(resource, namespace, &name);
        }
    }

    /// Starts a watch after `from_rv`, or fails with `410 Expired` when that is older than the
    /// history kept.
    pub fn watch_from(&self, from_rv: u64) -> Result<WatchStart, ApiError> {
        let state = self.lock();
        if from_rv < state.floor.saturating_sub(1) {
            return Err(ApiError::expired(from_rv, state.floor));
        }
        let backlog = state
            .history
            .iter()
            .filter(|c| c.rv > from_rv)
            .cloned()
            .collect();
        Ok(WatchStart {
            backlog,
            receiver: self.tx.subscribe(),
            current_rv: state.rv,
        })
    }

    /// Keeps only the last `limit` changes for watches to resume from (the watch cache's
    /// window); older resourceVersions get `410 Expired` from then on.
    pub fn set_history_limit(&self, limit: usize) {
        let mut state = self.lock();
        state.history_limit = limit;
        while state.history.len() > limit {
            if let Some(old) = state.history.pop_front() {
                state.floor = old.rv + 1;
            }
        }
    }

    /// The oldest resourceVersion a watch or exact list can still start from.
    pub fn oldest_rv(&self) -> u64 {
        self.lock().floor.saturating_sub(1)
    }

    /// Forgets the change history, so every watch resuming from an older resourceVersion gets
    /// `410 Expired` (what an etcd compaction does).
    pub fn compact(&self) {
        let mut state = self.lock();
        state.history.clear();
        state.floor = state.rv + 1;
    }

    fn commit(
        &self,
        state: &mut State,
        resource: &'static ResourceType,
        key: Key,
        mut object: Value,
        kind: ChangeType,
    ) -> Value {
        state.rv += 1;
        set_rv(&mut object, state.rv);
        state
            .objects
            .entry(resource.plural)
            .or_default()
            .insert(key, object.clone());
        self.record(state, resource, kind, object.clone());
        object
    }

    fn record(
        &self,
        state: &mut State,
        resource: &'static ResourceType,
        kind: ChangeType,
        object: Value,
    ) {
        let change = Arc::new(Change {
            rv: state.rv,
            kind,
            resource,
            object,
        });
        state.history.push_back(Arc::clone(&change));
        while state.history.len() > state.history_limit {
            if let Some(old) = state.history.pop_front() {
                state.floor = old.rv + 1;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(change);
    }
}

fn key_for(resource: &ResourceType, namespace: &str, name: &str) -> Key {
    if resource.namespaced {
        (namespace.to_owned(), name.to_owned())
    } else {
        (String::new(), name.to_owned())
    }
}

fn set_rv(object: &mut Value, rv: u64) {
    ensure_object(object, "metadata").insert("resourceVersion".to_owned(), json!(rv.to_string()));
}

/// The object at `object[field]`, created (and `object` made an object) if needed.
pub(crate) fn ensure_object<'a>(
    object: &'a mut Value,
    field: &str,
) -> &'a mut serde_json::Map<String, Value> {
    if !object.is_object() {
        *object = json!({});
    }
    let map = match object {
        Value::Object(map) => map,
        _ => unreachable_object(),
    };
    let entry = map.entry(field.to_owned()).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    match entry {
        Value::Object(inner) => inner,
        _ => unreachable_object(),
    }
}

#[expect(
    clippy::panic,
    reason = "both call sites assign an object just before matching"
)]
fn unreachable_object() -> ! {
    panic!("value was just made an object")
}

/// A uid in the 8-4-4-4-12 shape, unique within one fake.
fn fake_uid(counter: u64) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        nanos,
        std::process::id() & 0xffff,
        (counter >> 12) & 0xfff,
        counter & 0xfff,
        counter.wrapping_mul(0x9e37_79b9_7f4a_7c15) & 0xffff_ffff_ffff
    )
}
