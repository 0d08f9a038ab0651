//! Groovy maps keep insertion order (`LinkedHashMap`); Rhai maps are ordered by key.
//!
//! A script's map is a Rhai [`Map`] holding one hidden entry, [`ORDER`], the list of its
//! keys in the order they were first put. Every helper that walks or counts a map goes
//! through this module, which skips the hidden entry: [`iter`] walks in insertion order,
//! [`insert`] and [`remove`] keep the list up to date. A map without the list (or a key
//! missing from it) still works: the keys not listed follow the listed ones, by key.
//!
//! Chosen over a custom map type because every map access in generated code already
//! goes through kiln's helpers, while a custom type would also need Rhai indexers and
//! would turn every place that forgot it into a type error at run time; here such a place
//! only loses the order.

use rhai::{Array, Dynamic, Map};
use std::collections::HashSet;

/// The hidden entry: an array of the keys in insertion order. A NUL character keeps it
/// apart from any key a script can write in a literal or get from JSON or a step.
pub(crate) const ORDER: &str = "\u{0}order";

/// An empty map that records its order.
pub(crate) fn new() -> Map {
    let mut m = Map::new();
    m.insert(ORDER.into(), Dynamic::from_array(Array::new()));
    m
}

/// A map of `pairs` in their order (a later duplicate replaces the value, keeping the
/// first position, as `LinkedHashMap.put` does).
pub(crate) fn from_pairs(pairs: impl IntoIterator<Item = (String, Dynamic)>) -> Map {
    let mut m = new();
    for (k, v) in pairs {
        insert(&mut m, &k, v);
    }
    m
}

/// The keys of `m` in insertion order, without the hidden entry.
pub(crate) fn keys(m: &Map) -> Vec<String> {
    let listed: Vec<String> = match m.get(ORDER).and_then(|d| d.read_lock::<Array>()) {
        Some(a) => a.iter().map(|k| k.to_string()).collect(),
        None => Vec::new(),
    };
    let mut out: Vec<String> = listed
        .into_iter()
        .filter(|k| m.contains_key(k.as_str()))
        .collect();
    if out.len() < len(m) {
        let seen: HashSet<String> = out.iter().cloned().collect();
        out.extend(
            m.keys()
                .filter(|k| k.as_str() != ORDER && !seen.contains(k.as_str()))
                .map(|k| k.to_string()),
        );
    }
    out
}

/// The entries of `m` in insertion order, without the hidden entry.
pub(crate) fn iter(m: &Map) -> Vec<(String, Dynamic)> {
    keys(m)
        .into_iter()
        .filter_map(|k| m.get(k.as_str()).cloned().map(|v| (k, v)))
        .collect()
}

/// The number of entries, without the hidden one.
pub(crate) fn len(m: &Map) -> usize {
    m.len() - usize::from(m.contains_key(ORDER))
}

pub(crate) fn is_empty(m: &Map) -> bool {
    len(m) == 0
}

/// The value of `key`; never the hidden entry.
pub(crate) fn get<'a>(m: &'a Map, key: &str) -> Option<&'a Dynamic> {
    if key == ORDER {
        return None;
    }
    m.get(key)
}

pub(crate) fn contains(m: &Map, key: &str) -> bool {
    key != ORDER && m.contains_key(key)
}

/// Puts `key`; a new key goes last. Returns the old value.
pub(crate) fn insert(m: &mut Map, key: &str, value: Dynamic) -> Option<Dynamic> {
    if key == ORDER {
        return None;
    }
    let old = m.insert(key.into(), value);
    if old.is_none() {
        if let Some(mut a) = m.get_mut(ORDER).and_then(|d| d.write_lock::<Array>()) {
            a.push(Dynamic::from(key.to_string()));
        }
    }
    old
}

/// Removes `key`. Returns its value.
pub(crate) fn remove(m: &mut Map, key: &str) -> Option<Dynamic> {
    if key == ORDER {
        return None;
    }
    let old = m.remove(key)?;
    if let Some(mut a) = m.get_mut(ORDER).and_then(|d| d.write_lock::<Array>()) {
        if let Some(i) = a.iter().position(|k| k.to_string() == key) {
            let _ = a.remove(i);
        }
    }
    Some(old)
}

/// Removes every entry, keeping the map ordered.
pub(crate) fn clear(m: &mut Map) {
    *m = new();
}

/// Puts every entry of `other` into `m`, in `other`'s order.
pub(crate) fn extend(m: &mut Map, other: &Map) {
    for (k, v) in iter(other) {
        insert(m, &k, v);
    }
}

/// Two maps with the same entries, whatever their order (as `Map.equals`).
pub(crate) fn same_entries(a: &Map, b: &Map, eq: impl Fn(&Dynamic, &Dynamic) -> bool) -> bool {
    len(a) == len(b)
        && iter(a)
            .iter()
            .all(|(k, v)| get(b, k).is_some_and(|w| eq(v, w)))
}
