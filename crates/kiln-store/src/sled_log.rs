//! Build logs in [`SledStore`]: the text in a file per build ([`LogFiles`]), its length,
//! events and frames in sled; and build deletion (which removes the log).

use crate::codec::{abort, backend, corrupt, decode, encode, from_transaction};
use crate::frames::Frames;
use crate::keys::{
    ALL_STATUSES, build_key_of, chunk_build_key, chunk_key, chunk_offset, status_key,
};
use crate::log_files::LogFiles;
use crate::trees::Trees;
use crate::{LogEvent, LogSlice, SledStore, StoreError};
use kiln_types::BuildRef;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

/// Prefix of `meta` keys marking a deleted build whose log chunks may still be on disk.
const DELETING: &[u8] = b"deleting/";

impl SledStore {
    /// Appends `bytes`: written to the log's file and synced, then the new length and the
    /// events in one transaction followed by one flush; until the flush returned, readers see
    /// the log as it was before.
    pub(crate) fn append(
        &self,
        id: &BuildRef,
        bytes: &[u8],
        events: &[LogEvent],
    ) -> Result<u64, StoreError> {
        LogEvent::check_tiling(bytes, events)?;
        let bk = build_key_of(id);
        let mut one_append = self.files.lock(&bk);
        self.unflushed.begin(&bk, || self.log_len_of(&bk))?;
        let appended = self.append_and_flush(&mut one_append, &bk, id, bytes, events);
        self.unflushed
            .end(&bk, appended.as_ref().ok().copied(), || {
                self.log_len_of(&bk)
            });
        appended
    }

    fn append_and_flush(
        &self,
        lock: &mut crate::log_files::AppendLock<'_>,
        bk: &[u8],
        id: &BuildRef,
        bytes: &[u8],
        events: &[LogEvent],
    ) -> Result<u64, StoreError> {
        let t = self.trees()?;
        if !t.builds.contains_key(bk).map_err(backend)? {
            return Err(StoreError::NoSuchBuild(id.to_string()));
        }
        if bytes.is_empty() {
            return self.log_len_of(bk);
        }
        let start = self.log_len_of(bk)?;
        // The new frames go where the last ones end, whose text must reach the log's end
        // (a log that lost text says so rather than growing past the gap).
        let (text_end, file_end) = match t.log_frames.scan_prefix(bk).next_back() {
            Some(last) => {
                let (key, value) = last.map_err(backend)?;
                let frames = decode::<Frames>("log_frames", &key, &value)?;
                let text_start = chunk_offset(&key).unwrap_or(0);
                (text_start + frames.text_len(), frames.file_end())
            }
            None => (0, 0),
        };
        if text_end != start {
            return Err(corrupt("logs", bk, "log text is missing from its file"));
        }
        // The text is durable before the length that shows it moves.
        let frames = encode(&self.files.write_at(lock, bk, file_end, bytes)?)?;
        let end = start + bytes.len() as u64;
        (&t.builds, &t.log_len, &t.log_events, &t.log_frames)
            .transaction(|(builds, lens, log_events, log_frames)| {
                if builds.get(bk)?.is_none() {
                    return Err(abort(StoreError::NoSuchBuild(id.to_string())));
                }
                if stored_len(lens, bk)? != start {
                    return Err(abort(StoreError::Backend(
                        "the log grew during an append".into(),
                    )));
                }
                lens.insert(bk, encode(&end).map_err(abort)?)?;
                let placed: Vec<LogEvent> = events
                    .iter()
                    .map(|e| LogEvent {
                        offset: e.offset + start,
                        ..e.clone()
                    })
                    .collect();
                log_events.insert(chunk_key(bk, start), encode(&placed).map_err(abort)?)?;
                log_frames.insert(chunk_key(bk, start), frames.as_slice())?;
                Ok(())
            })
            .map_err(from_transaction)?;
        t.flush()?;
        Ok(end)
    }

    /// The stored log length of a build.
    pub(crate) fn log_len_of(&self, bk: &[u8]) -> Result<u64, StoreError> {
        match self.trees()?.log_len.get(bk).map_err(backend)? {
            Some(v) => decode::<u64>("log_len", bk, &v),
            None => Ok(0),
        }
    }

    /// Up to `max` bytes from `offset`, assembled across chunks into `out` (emptied first).
    pub(crate) fn read(
        &self,
        id: &BuildRef,
        offset: u64,
        max: usize,
        mut out: Vec<u8>,
    ) -> Result<LogSlice, StoreError> {
        out.clear();
        let bk = build_key_of(id);
        let t = self.trees()?;
        if !t.builds.contains_key(&bk).map_err(backend)? {
            return Err(StoreError::NoSuchBuild(id.to_string()));
        }
        // The stored length first, then what of it is durable (an append may commit between).
        let end = self.unflushed.readable(&bk, self.log_len_of(&bk)?);
        let want_end = end.min(offset.saturating_add(max as u64));
        if offset < want_end {
            let len = usize::try_from(want_end - offset).unwrap_or(max);
            let appends = appends_between(&t, &bk, offset, want_end)?;
            self.files.read(&bk, &appends, offset, len, &mut out)?;
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
        remove_chunks(&t, &self.files, &bk, &marker)?;
        t.flush()
    }
}

/// Finishes deletes that a crash interrupted (see [`SledStore::delete`]).
pub(crate) fn finish_deletes(t: &Trees, files: &LogFiles) -> Result<(), StoreError> {
    let markers: Vec<sled::IVec> = t
        .meta
        .scan_prefix(DELETING)
        .keys()
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    for marker in &markers {
        let bk = &marker[DELETING.len()..];
        tracing::info!(key = %crate::keys::describe("logs", bk), "finishing an interrupted build delete");
        remove_chunks(t, files, bk, marker)?;
    }
    if !markers.is_empty() {
        t.flush()?;
    }
    Ok(())
}

fn remove_chunks(t: &Trees, files: &LogFiles, bk: &[u8], marker: &[u8]) -> Result<(), StoreError> {
    files.remove(bk)?;
    for tree in [&t.logs, &t.log_events, &t.log_frames] {
        let mut batch = sled::Batch::default();
        for key in tree.scan_prefix(bk).keys() {
            batch.remove(key.map_err(backend)?);
        }
        tree.apply_batch(batch).map_err(backend)?;
    }
    t.meta.remove(marker).map_err(backend)?;
    Ok(())
}

/// Cuts a log back to `durable` bytes: the length and events of appends whose flush failed
/// go, so the appends can be made again after the database was reopened (the next append
/// cuts their text off the file).
pub(crate) fn truncate_log(t: &Trees, bk: &[u8], durable: u64) -> Result<(), StoreError> {
    // An append's events and frames are keyed by where it started, so those of the appends
    // cut go too.
    for tree in [&t.log_events, &t.log_frames] {
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

/// The appends of `bk`'s log whose text lies between `from` and `to`, in order (the first
/// holds `from`): where each one's text starts, and its frames.
fn appends_between(
    t: &Trees,
    bk: &[u8],
    from: u64,
    to: u64,
) -> Result<Vec<(u64, Frames)>, StoreError> {
    let first = match t
        .log_frames
        .range(chunk_key(bk, 0)..=chunk_key(bk, from))
        .keys()
        .next_back()
    {
        Some(key) => key.map_err(backend)?.to_vec(),
        None => return Err(corrupt("logs", bk, "log text is missing from its file")),
    };
    let mut appends = Vec::new();
    for entry in t.log_frames.range(first..chunk_key(bk, to)) {
        let (key, value) = entry.map_err(backend)?;
        let start = chunk_offset(&key).unwrap_or(0);
        appends.push((start, decode::<Frames>("log_frames", &key, &value)?));
    }
    Ok(appends)
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
