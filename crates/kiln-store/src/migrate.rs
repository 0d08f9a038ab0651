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
//! - 3: a log's text moves out of sled into a file per build (`logs/`); the `logs` tree is
//!   emptied. sled's log rewrote the chunks' pages: the text took 1.75 times its size on disk.
//! - 4: a log file holds its text in frames, LZ4 blocks where that shrinks it (`HEX.lz4`,
//!   located by the `log_frames` tree), instead of the text itself (`HEX.log`): the store
//!   writes and syncs several times less for a loud build.

use crate::codec::{backend, decode, encode};
use crate::keys::{chunk_build_key, chunk_key, chunk_offset, status_key};
use crate::log_files::{LogFiles, WholeLog};
use crate::trees::Trees;
use crate::{BuildRecord, LogEvent, StoreError};
use std::collections::BTreeMap;

/// The schema version this kiln writes.
pub(crate) const CURRENT: u32 = 4;

const VERSION_KEY: &[u8] = b"schema_version";

type Step = fn(&Trees, &LogFiles) -> Result<(), StoreError>;

/// `STEPS[v]` takes a store from version `v` to `v + 1`.
const STEPS: [(&str, Step); CURRENT as usize] = [
    ("index build statuses and log lengths", v0_to_v1),
    ("record existing logs as plain text events", v1_to_v2),
    ("move log text into a file per build", v2_to_v3),
    ("write log files as frames", v3_to_v4),
];

/// The version stored in `meta` (0 when there is none).
pub(crate) fn stored_version(meta: &sled::Tree) -> Result<u32, StoreError> {
    match meta.get(VERSION_KEY).map_err(backend)? {
        Some(bytes) => decode("meta", VERSION_KEY, &bytes),
        None => Ok(0),
    }
}

/// Runs the steps from `found` to [`CURRENT`]; returns the version reached.
pub(crate) fn run(store: &Trees, files: &LogFiles, found: u32) -> Result<u32, StoreError> {
    for (from, (what, step)) in (0u32..).zip(STEPS.iter()).skip(found as usize) {
        tracing::info!(from, to = from + 1, what, "migrating the store");
        step(store, files)?;
        store
            .meta
            .insert(VERSION_KEY, encode(&(from + 1))?)
            .map_err(backend)?;
        store.flush()?;
    }
    Ok(CURRENT)
}

/// Builds the status index from the build records and the log lengths from the chunks.
fn v0_to_v1(store: &Trees, _: &LogFiles) -> Result<(), StoreError> {
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
fn v1_to_v2(store: &Trees, _: &LogFiles) -> Result<(), StoreError> {
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

/// Writes every log held as chunks in the `logs` tree to its file, then empties the tree. A
/// file is written whole (under a temporary name, then renamed), so a step cut short by a
/// crash writes the same files again from the chunks still there. Chunks past a log's
/// recorded length (an append whose flush never came) are left out; a log whose chunks have
/// a gap keeps the text before it, and reading past that says the build's log is corrupt.
fn v2_to_v3(store: &Trees, files: &LogFiles) -> Result<(), StoreError> {
    let mut current: Option<(Vec<u8>, u64, WholeLog)> = None;
    let mut wrote = 0usize;
    for entry in store.logs.iter() {
        let (key, chunk) = entry.map_err(backend)?;
        let (Some(bk), Some(start)) = (chunk_build_key(&key), chunk_offset(&key)) else {
            continue;
        };
        if current
            .as_ref()
            .is_none_or(|(cur, _, _)| cur.as_slice() != bk)
        {
            if let Some((done, len, file)) = current.take() {
                finish_log(&done, len, file)?;
                wrote += 1;
            }
            let len = match store.log_len.get(bk).map_err(backend)? {
                Some(v) => decode::<u64>("log_len", bk, &v)?,
                None => 0,
            };
            current = Some((bk.to_vec(), len, files.write_whole(bk)?));
        }
        if let Some((_, len, file)) = &mut current
            && start == file.len()
            && start < *len
        {
            let keep = usize::try_from(*len - start).unwrap_or(chunk.len());
            file.push(&chunk[..keep.min(chunk.len())])?;
        }
    }
    if let Some((done, len, file)) = current {
        finish_log(&done, len, file)?;
        wrote += 1;
    }
    files.sync_dir()?;
    tracing::info!(logs = wrote, "log text moved to files");
    store.logs.clear().map_err(backend)
}

/// Rewrites every log file holding its text as frames, recording them. A log whose frames
/// are recorded already (a step cut short by a crash after that) only loses its old file;
/// the old file goes only once its frames are durable.
fn v3_to_v4(store: &Trees, files: &LogFiles) -> Result<(), StoreError> {
    let mut wrote = 0usize;
    let mut framed = Vec::new();
    for entry in store.log_len.iter() {
        let (bk, len) = entry.map_err(backend)?;
        let len: u64 = decode("log_len", &bk, &len)?;
        framed.push(bk.to_vec());
        if store.log_frames.scan_prefix(&bk).next().is_some() {
            continue;
        }
        let appends = files.frame_text_file(&bk, len)?;
        let moved = appends.last().map_or(0, |(s, f)| s + f.text_len());
        if moved < len {
            tracing::warn!(
                key = %crate::keys::describe("logs", &bk),
                moved,
                len,
                "a log file is shorter than its log: the log is kept as far as it goes"
            );
        }
        let mut batch = sled::Batch::default();
        for (start, frames) in &appends {
            batch.insert(chunk_key(&bk, *start), encode(frames)?);
        }
        store.log_frames.apply_batch(batch).map_err(backend)?;
        wrote += 1;
    }
    files.sync_dir()?;
    store.flush()?;
    for bk in &framed {
        crate::log_files::remove_if_there(&files.text_path(bk))?;
    }
    tracing::info!(logs = wrote, "log files written as frames");
    Ok(())
}

/// Gives one migrated log its name; one shorter than its length is said (and read as corrupt).
fn finish_log(bk: &[u8], len: u64, file: WholeLog) -> Result<(), StoreError> {
    if file.len() < len {
        tracing::warn!(
            key = %crate::keys::describe("logs", bk),
            moved = file.len(),
            len,
            "log chunks are missing: the log is kept up to the first gap"
        );
    }
    file.finish()
}
