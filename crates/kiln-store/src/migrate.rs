//! Schema versions and migrations of the sled store.
//!
//! `meta/schema_version` holds the version as a JSON number; a store without it is version 0.
//! `open` runs every step from the stored version up to [`CURRENT`] in order, writing the new
//! version (durably) after each step. Steps are idempotent, so a crash in the middle of one
//! just runs it again at the next open.
//!
//! Versions:
//! - 0: the layout before versioning: `jobs`, `builds` and `logs` trees only (or no data).
//! - 1: adds the `status` index (for `builds_in`) and the `log_len` tree (each log's length).
//! - 2: adds the `log_events` tree (each log's structured record, see [`crate::LogEvent`]); a
//!   log written before is recorded as one [`LogEventKind::Plain`](crate::LogEventKind) event,
//!   so every log's events cover its text.

use crate::codec::{backend, decode, encode};
use crate::keys::{chunk_build_key, chunk_key, chunk_offset, status_key};
use crate::trees::Trees;
use crate::{BuildRecord, LogEvent, StoreError};
use std::collections::BTreeMap;

/// The schema version this kiln writes.
pub(crate) const CURRENT: u32 = 2;

const VERSION_KEY: &[u8] = b"schema_version";

type Step = fn(&Trees) -> Result<(), StoreError>;

/// `STEPS[v]` takes a store from version `v` to `v + 1`.
const STEPS: [(&str, Step); CURRENT as usize] = [
    ("index build statuses and log lengths", v0_to_v1),
    ("record existing logs as plain text events", v1_to_v2),
];

/// The version stored in `meta` (0 when there is none).
pub(crate) fn stored_version(meta: &sled::Tree) -> Result<u32, StoreError> {
    match meta.get(VERSION_KEY).map_err(backend)? {
        Some(bytes) => decode("meta", VERSION_KEY, &bytes),
        None => Ok(0),
    }
}

/// Runs the steps from `found` to [`CURRENT`]; returns the version reached.
pub(crate) fn run(store: &Trees, found: u32) -> Result<u32, StoreError> {
    for (from, (what, step)) in (0u32..).zip(STEPS.iter()).skip(found as usize) {
        tracing::info!(from, to = from + 1, what, "migrating the store");
        step(store)?;
        store
            .meta
            .insert(VERSION_KEY, encode(&(from + 1))?)
            .map_err(backend)?;
        store.flush()?;
    }
    Ok(CURRENT)
}

/// Builds the status index from the build records and the log lengths from the chunks.
fn v0_to_v1(store: &Trees) -> Result<(), StoreError> {
    store.status.clear().map_err(backend)?;
    store.log_len.clear().map_err(backend)?;

    let mut index = sled::Batch::default();
    for entry in store.builds.iter() {
        let (key, bytes) = entry.map_err(backend)?;
        match decode::<BuildRecord>("builds", &key, &bytes) {
            Ok(build) => index.insert(status_key(build.status, &key), &[]),
            // The record stays as it is (reading it reports the corruption); it is only left
            // out of the index.
            Err(e) => tracing::warn!(error = %e, "not indexing a corrupt build record"),
        }
    }
    store.status.apply_batch(index).map_err(backend)?;

    let mut ends: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    for entry in store.logs.iter() {
        let (key, chunk) = entry.map_err(backend)?;
        if let (Some(bk), Some(start)) = (chunk_build_key(&key), chunk_offset(&key)) {
            let end = ends.entry(bk.to_vec()).or_default();
            *end = (*end).max(start + chunk.len() as u64);
        }
    }
    let mut lens = sled::Batch::default();
    for (bk, end) in ends {
        lens.insert(bk, encode(&end)?);
    }
    store.log_len.apply_batch(lens).map_err(backend)
}

/// Records every log that has no events yet as one plain event covering its text.
fn v1_to_v2(store: &Trees) -> Result<(), StoreError> {
    let mut events = sled::Batch::default();
    for entry in store.log_len.iter() {
        let (bk, len) = entry.map_err(backend)?;
        let len: u64 = decode("log_len", &bk, &len)?;
        let first = chunk_key(&bk, 0);
        if len == 0 || store.log_events.contains_key(&first).map_err(backend)? {
            continue;
        }
        events.insert(first, encode(&vec![LogEvent::plain(0, len)])?);
    }
    store.log_events.apply_batch(events).map_err(backend)
}
