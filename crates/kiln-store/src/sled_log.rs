//! Build logs in [`SledStore`]: append-only chunks keyed by offset, and build deletion (which
//! removes the log).

use crate::codec::{abort, backend, corrupt, decode, encode, from_transaction};
use crate::keys::{
    ALL_STATUSES, build_key_of, chunk_build_key, chunk_key, chunk_offset, status_key,
};
use crate::trees::Trees;
use crate::{LogEvent, LogSlice, SledStore, StoreError};
use kiln_types::BuildRef;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

/// The largest chunk stored under one key. An append larger than this is split into several
/// chunks written in the same transaction. Keeping chunks small keeps sled's leaf pages small
/// (a leaf holds up to 16 entries and is rewritten whole when consolidated).
pub(crate) const CHUNK_MAX: usize = 16 * 1024;

/// Prefix of `meta` keys marking a deleted build whose log chunks may still be on disk.
const DELETING: &[u8] = b"deleting/";

impl SledStore {
    /// Appends `bytes` as one transaction (chunks + new length) followed by one flush; until
    /// the flush returned, readers see the log as it was before.
    pub(crate) fn append(
        &self,
        id: &BuildRef,
        bytes: &[u8],
        events: &[LogEvent],
    ) -> Result<u64, StoreError> {
        LogEvent::check_tiling(bytes, events)?;
        let bk = build_key_of(id);
        self.unflushed.begin(&bk, || self.log_len_of(&bk))?;
        let appended = self.append_and_flush(&bk, id, bytes, events);
        self.unflushed
            .end(&bk, appended.as_ref().ok().copied(), || {
                self.log_len_of(&bk)
            });
        appended
    }

    fn append_and_flush(
        &self,
        bk: &[u8],
        id: &BuildRef,
        bytes: &[u8],
        events: &[LogEvent],
    ) -> Result<u64, StoreError> {
        let t = self.trees()?;
        let end = (&t.builds, &t.logs, &t.log_len, &t.log_events)
            .transaction(|(builds, logs, lens, log_events)| {
                if builds.get(bk)?.is_none() {
                    return Err(abort(StoreError::NoSuchBuild(id.to_string())));
                }
                let start = stored_len(lens, bk)?;
                let mut offset = start;
                for piece in bytes.chunks(CHUNK_MAX) {
                    logs.insert(chunk_key(bk, offset), piece)?;
                    offset += piece.len() as u64;
                }
                if offset != start {
                    lens.insert(bk, encode(&offset).map_err(abort)?)?;
                    let placed: Vec<LogEvent> = events
                        .iter()
                        .map(|e| LogEvent {
                            offset: e.offset + start,
                            ..e.clone()
                        })
                        .collect();
                    log_events.insert(chunk_key(bk, start), encode(&placed).map_err(abort)?)?;
                }
                Ok(offset)
            })
            .map_err(from_transaction)?;
        if !bytes.is_empty() {
            t.flush()?;
        }
        Ok(end)
    }

    /// The stored log length of a build.
    pub(crate) fn log_len_of(&self, bk: &[u8]) -> Result<u64, StoreError> {
        match self.trees()?.log_len.get(bk).map_err(backend)? {
            Some(v) => decode::<u64>("log_len", bk, &v),
            None => Ok(0),
        }
    }

    /// Up to `max` bytes from `offset`, assembled across chunks.
    pub(crate) fn read(
        &self,
        id: &BuildRef,
        offset: u64,
        max: usize,
    ) -> Result<LogSlice, StoreError> {
        let bk = build_key_of(id);
        let t = self.trees()?;
        if !t.builds.contains_key(&bk).map_err(backend)? {
            return Err(StoreError::NoSuchBuild(id.to_string()));
        }
        // The stored length first, then what of it is durable (an append may commit between).
        let end = self.unflushed.readable(&bk, self.log_len_of(&bk)?);
        let want_end = end.min(offset.saturating_add(max as u64));
        let mut out = Vec::new();
        if offset < want_end {
            out.reserve((want_end - offset) as usize);
            // The chunk holding `offset` is the last one starting at or before it.
            let first = match t
                .logs
                .range(chunk_key(&bk, 0)..=chunk_key(&bk, offset))
                .next_back()
            {
                Some(entry) => entry.map_err(backend)?.0.to_vec(),
                None => chunk_key(&bk, 0),
            };
            // Where the next chunk must start: chunks tile the log without gaps.
            let mut next: Option<u64> = None;
            for entry in t.logs.range(first..chunk_key(&bk, want_end)) {
                let (key, chunk) = entry.map_err(backend)?;
                let start = chunk_offset(&key).unwrap_or(0);
                if next.is_some_and(|n| n != start) || (next.is_none() && start > offset) {
                    return Err(corrupt(
                        "logs",
                        &key,
                        "log chunk does not start where the previous one ended",
                    ));
                }
                let chunk_end = start + chunk.len() as u64;
                next = Some(chunk_end);
                let lo = offset.max(start) - start;
                let hi = want_end.min(chunk_end).saturating_sub(start);
                if lo < hi {
                    out.extend_from_slice(&chunk[lo as usize..hi as usize]);
                }
            }
            if out.len() as u64 != want_end - offset {
                return Err(corrupt("logs", &bk, "log chunks are missing"));
            }
        }
        Ok(LogSlice {
            offset,
            bytes: out,
            end,
        })
    }

    /// The events of a build's log, as far as [`SledStore::read`] would read.
    pub(crate) fn read_events(&self, id: &BuildRef) -> Result<Vec<LogEvent>, StoreError> {
        let bk = build_key_of(id);
        let t = self.trees()?;
        if !t.builds.contains_key(&bk).map_err(backend)? {
            return Err(StoreError::NoSuchBuild(id.to_string()));
        }
        let end = self.unflushed.readable(&bk, self.log_len_of(&bk)?);
        let mut out = Vec::new();
        for entry in t.log_events.range(chunk_key(&bk, 0)..chunk_key(&bk, end)) {
            let (key, bytes) = entry.map_err(backend)?;
            out.extend(decode::<Vec<LogEvent>>("log_events", &key, &bytes)?);
        }
        Ok(out)
    }

    /// Removes the build, its index entries and its log length in one transaction (so readers
    /// see it gone at once), then its log chunks; a `meta` marker makes `open` finish the chunk
    /// removal if the process dies in between.
    pub(crate) fn delete(&self, id: &BuildRef) -> Result<(), StoreError> {
        let bk = build_key_of(id);
        let marker = [DELETING, bk.as_slice()].concat();
        let t = self.trees()?;
        (&t.builds, &t.status, &t.log_len, &t.meta)
            .transaction(|(builds, status, lens, meta)| {
                if builds.remove(bk.as_slice())?.is_none() {
                    return Err(abort(StoreError::NoSuchBuild(id.to_string())));
                }
                for state in ALL_STATUSES {
                    status.remove(status_key(state, &bk))?;
                }
                lens.remove(bk.as_slice())?;
                meta.insert(marker.as_slice(), &[])?;
                Ok(())
            })
            .map_err(from_transaction)?;
        remove_chunks(&t, &bk, &marker)?;
        t.flush()
    }
}

/// Finishes deletes that a crash interrupted (see [`SledStore::delete`]).
pub(crate) fn finish_deletes(t: &Trees) -> Result<(), StoreError> {
    let markers: Vec<sled::IVec> = t
        .meta
        .scan_prefix(DELETING)
        .keys()
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    for marker in &markers {
        let bk = &marker[DELETING.len()..];
        tracing::info!(key = %crate::keys::describe("logs", bk), "finishing an interrupted build delete");
        remove_chunks(t, bk, marker)?;
    }
    if !markers.is_empty() {
        t.flush()?;
    }
    Ok(())
}

fn remove_chunks(t: &Trees, bk: &[u8], marker: &[u8]) -> Result<(), StoreError> {
    for tree in [&t.logs, &t.log_events] {
        let mut batch = sled::Batch::default();
        for key in tree.scan_prefix(bk).keys() {
            batch.remove(key.map_err(backend)?);
        }
        tree.apply_batch(batch).map_err(backend)?;
    }
    t.meta.remove(marker).map_err(backend)?;
    Ok(())
}

/// Cuts a log back to `durable` bytes: the chunks of appends whose flush failed go, so the
/// appends can be made again after the database was reopened.
pub(crate) fn truncate_log(t: &Trees, bk: &[u8], durable: u64) -> Result<(), StoreError> {
    // An append's events are keyed by where it started, so those of the appends cut go too.
    for tree in [&t.logs, &t.log_events] {
        let mut batch = sled::Batch::default();
        for key in tree.range(chunk_key(bk, durable)..).keys() {
            let key = key.map_err(backend)?;
            if chunk_build_key(&key) != Some(bk) {
                break;
            }
            batch.remove(key);
        }
        tree.apply_batch(batch).map_err(backend)?;
    }
    if t.log_len.contains_key(bk).map_err(backend)? {
        t.log_len.insert(bk, encode(&durable)?).map_err(backend)?;
    }
    Ok(())
}

/// The stored log length of a build, inside a transaction.
fn stored_len(
    lens: &TransactionalTree,
    bk: &[u8],
) -> Result<u64, ConflictableTransactionError<StoreError>> {
    match lens.get(bk)? {
        Some(v) => decode::<u64>("log_len", bk, &v).map_err(abort),
        None => Ok(0),
    }
}
