//! Following a build's log: what is stored from an offset, then new bytes as they are
//! appended, until the build finished and everything was delivered.
//!
//! A live build's last appends are also kept in memory ([`Recent`]), published with the
//! log's length once they are durable: a follower that keeps up takes them from there
//! instead of reading the log's file back and decoding its frames (which for a loud build's
//! short lines cost more than everything else on the log's path), and reads the store only
//! when it fell behind them or the build is not live. What it takes from memory is shared,
//! not copied: a [`LogChunk`] holds a part of the recorder's append, which the HTTP body
//! sends as it is.

use crate::live::LiveWatch;
use crate::recorder::blocking;
use bytes::Bytes;
use kiln_store::{BuildStatus, Store, StoreError};
use kiln_types::BuildRef;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// How far a live build's log is stored, published after every durable append.
#[derive(Clone, Debug, Default)]
pub(crate) struct LogState {
    pub len: u64,
    pub finished: bool,
    /// The text of the last appends, ending at `len`.
    pub recent: Recent,
}

/// The most of a live build's log kept in memory for its followers: the last append is
/// always kept, older ones while they fit.
pub(crate) const RECENT_BYTES: usize = 8 * 1024 * 1024;

/// The text of a log's last appends, in order, each with the offset it starts at; the last
/// ends where the stored log ends. Shared by the recorder and the followers (an append's
/// text is kept once however many follow, and followers send parts of it without a copy).
#[derive(Clone, Debug, Default)]
pub(crate) struct Recent {
    pieces: VecDeque<(u64, Bytes)>,
    bytes: usize,
}

impl Recent {
    /// Adds an append's `text`, which starts at `start`, right after the last one; the
    /// oldest appends give way past [`RECENT_BYTES`] and are returned (for their buffers).
    /// Text that does not continue the last append replaces what was kept.
    pub(crate) fn push(&mut self, start: u64, text: Bytes) -> Vec<Bytes> {
        let mut gone = Vec::new();
        if self.end() != Some(start) {
            gone.extend(self.pieces.drain(..).map(|(_, t)| t));
            self.bytes = 0;
        }
        self.bytes += text.len();
        self.pieces.push_back((start, text));
        while self.bytes > RECENT_BYTES && self.pieces.len() > 1 {
            if let Some((_, old)) = self.pieces.pop_front() {
                self.bytes -= old.len();
                gone.push(old);
            }
        }
        gone
    }

    /// Empties it; returns what it held.
    pub(crate) fn clear(&mut self) -> Vec<Bytes> {
        self.bytes = 0;
        self.pieces.drain(..).map(|(_, t)| t).collect()
    }

    fn end(&self) -> Option<u64> {
        self.pieces
            .back()
            .map(|(start, text)| start + text.len() as u64)
    }

    /// The bytes from `offset` to the end of the append holding them (and not past `end`),
    /// if it holds `offset`'s byte: a part of that append's text, not a copy.
    fn read(&self, offset: u64, end: u64) -> Option<Bytes> {
        let (start, text) = self
            .pieces
            .iter()
            .find(|(start, text)| *start <= offset && offset < start + text.len() as u64)?;
        let from = usize::try_from(offset - start).ok()?;
        let to = usize::try_from(end.checked_sub(*start)?)
            .ok()?
            .min(text.len());
        (from < to).then(|| text.slice(from..to))
    }
}

/// Bytes of a followed log, from `offset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogChunk {
    pub offset: u64,
    pub bytes: Bytes,
}

/// The most a follower reads from the store at once (each read decodes what it returns). A
/// follower that fell behind what the recorder keeps in memory catches up by these reads
/// (then takes the appends from memory again), so they are large: a read's fixed costs (a
/// blocking task, the store's lookups, opening the file) are paid once a MiB.
const CHUNK: usize = 1024 * 1024;

/// How many buffers of its store reads a follower keeps for the next reads: what the HTTP
/// body has in flight (it holds a chunk or two while the socket takes them).
const KEPT_BUFFERS: usize = 2;

/// The buffers of a follower's store reads, given back by the chunks made of them once
/// those were sent: a follower that fell behind a loud build reads megabytes a second, and
/// fresh buffers would fault in every page of them.
#[derive(Clone, Default)]
struct ReadBuffers(Arc<Mutex<Vec<Vec<u8>>>>);

impl ReadBuffers {
    fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default()
    }

    /// `bytes` as a chunk whose buffer comes back here when the last holder drops it.
    fn chunk(&self, bytes: Vec<u8>) -> Bytes {
        Bytes::from_owner(Returned {
            bytes,
            home: self.clone(),
        })
    }
}

/// A store read's bytes, whose buffer goes back to its follower's [`ReadBuffers`].
struct Returned {
    bytes: Vec<u8>,
    home: ReadBuffers,
}

impl AsRef<[u8]> for Returned {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Returned {
    fn drop(&mut self) {
        let mut kept = self.home.0.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() < KEPT_BUFFERS {
            kept.push(std::mem::take(&mut self.bytes));
        }
    }
}

/// A reader of one build's log that waits for more while the build is live.
pub struct LogFollower {
    store: Arc<dyn Store>,
    id: BuildRef,
    offset: u64,
    /// The buffers of earlier store reads, for the next ones.
    buffers: ReadBuffers,
    /// `None` when the build was not live when following started (finished, or unknown).
    live: Option<watch::Receiver<LogState>>,
    /// Changes when another controller appended to the build's log (a shared store).
    grown: Option<watch::Receiver<u64>>,
    /// Changes when a build here goes live or a queued one ends unrun: a build queued here
    /// when following started has no live state until it starts.
    went_live: Option<LiveWatch>,
    done: bool,
}

/// How long a follower of a build that is not live here waits before reading the store
/// again without a signal (none comes on a store of one controller; on a shared store a
/// signal may be dropped).
const NOT_LIVE: Duration = Duration::from_millis(200);
const SIGNALLED: Duration = Duration::from_secs(2);

impl LogFollower {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        id: BuildRef,
        offset: u64,
        live: Option<watch::Receiver<LogState>>,
        grown: Option<watch::Receiver<u64>>,
    ) -> Self {
        LogFollower {
            store,
            id,
            offset,
            live,
            grown,
            went_live: None,
            done: false,
            buffers: ReadBuffers::default(),
        }
    }

    /// Takes the build's live state when it starts here (it may be queued now).
    pub(crate) fn waiting_to_start(mut self, went_live: LiveWatch) -> Self {
        self.went_live = Some(went_live);
        self
    }

    /// The build being followed.
    pub fn build(&self) -> &BuildRef {
        &self.id
    }

    /// The offset the next slice starts at.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next bytes of the log, waiting for them while the build runs; `None` once the
    /// build finished and its whole log was delivered (or the build does not exist).
    pub async fn next(&mut self) -> Option<Result<LogChunk, StoreError>> {
        if self.done {
            return None;
        }
        loop {
            // Whether the build had finished before this read: then an empty read is the end.
            let finished_before = match self.finished().await {
                Ok(f) => f,
                Err(e) => return Some(Err(e)),
            };
            let slice = match self.read().await {
                Ok(s) => s,
                Err(e) => return Some(Err(e)),
            };
            if !slice.bytes.is_empty() {
                self.offset = slice.offset + slice.bytes.len() as u64;
                return Some(Ok(slice));
            }
            if finished_before {
                self.done = true;
                return None;
            }
            self.wait().await;
        }
    }

    /// Whether the build has finished (and so its log will not grow).
    async fn finished(&mut self) -> Result<bool, StoreError> {
        if let (None, Some(went_live)) = (&self.live, &self.went_live) {
            self.live = went_live.get(&self.id);
        }
        if let Some(rx) = &mut self.live {
            if rx.borrow_and_update().finished {
                return Ok(true);
            }
            if rx.has_changed().is_ok() {
                return Ok(false);
            }
            // The scheduler dropped the channel: ask the store.
            self.live = None;
        }
        let store = self.store.clone();
        let id = self.id.clone();
        let build = blocking(move || store.get_build(&id)).await?;
        Ok(build.is_none_or(|b| b.status == BuildStatus::Finished))
    }

    async fn read(&self) -> Result<LogChunk, StoreError> {
        if let Some(rx) = &self.live {
            let state = rx.borrow();
            if let Some(bytes) = state.recent.read(self.offset, state.len) {
                return Ok(LogChunk {
                    offset: self.offset,
                    bytes,
                });
            }
        }
        let store = self.store.clone();
        let (id, offset) = (self.id.clone(), self.offset);
        let buffer = self.buffers.take();
        let slice = blocking(move || store.read_log_into(&id, offset, CHUNK, buffer)).await?;
        Ok(LogChunk {
            offset: slice.offset,
            bytes: self.buffers.chunk(slice.bytes),
        })
    }

    /// Waits until the log grows past our offset or the build finishes.
    async fn wait(&mut self) {
        let offset = self.offset;
        match &mut self.live {
            Some(rx) => {
                if rx.wait_for(|s| s.finished || s.len > offset).await.is_err() {
                    self.live = None;
                }
            }
            // Driven by another controller: woken when it appends (or its build ends,
            // which appends its last line). Queued here: woken when it starts or ends.
            None => {
                // The watch wakes a follower of a build queued here: the store is read again
                // only as a safety net then.
                let pause = match self.went_live {
                    Some(_) => SIGNALLED,
                    None => NOT_LIVE,
                };
                let went_live = async {
                    match &mut self.went_live {
                        Some(w) => w.changed().await,
                        None => std::future::pending().await,
                    }
                };
                match &mut self.grown {
                    Some(grown) => {
                        tokio::select! {
                            changed = grown.changed() => {
                                if changed.is_err() {
                                    self.grown = None;
                                }
                            }
                            () = went_live => {}
                            () = tokio::time::sleep(SIGNALLED) => {}
                        }
                    }
                    // Not live but not finished either (queued here, or by a scheduler that
                    // is gone): look again when one starts here, or in a while.
                    None => {
                        tokio::select! {
                            () = went_live => {}
                            () = tokio::time::sleep(pause) => {}
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> Bytes {
        Bytes::copy_from_slice(bytes)
    }

    #[test]
    fn recent_text_is_read_append_by_append_and_the_oldest_give_way() {
        let mut recent = Recent::default();
        assert!(recent.push(10, text(b"abc")).is_empty());
        assert!(recent.push(13, text(b"defg")).is_empty());
        // To the end of the append holding the offset, then from the next one.
        assert_eq!(recent.read(11, 17).as_deref(), Some(&b"bc"[..]));
        assert_eq!(recent.read(13, 17).as_deref(), Some(&b"defg"[..]));
        // Not past the published length, and not what it does not hold.
        assert_eq!(recent.read(13, 15).as_deref(), Some(&b"de"[..]));
        assert_eq!(recent.read(13, 13), None);
        assert_eq!(recent.read(9, 17), None);
        assert_eq!(recent.read(17, 17), None);
        // Text that does not continue the last append replaces what was kept.
        assert_eq!(recent.push(30, text(b"x")).len(), 2);
        assert_eq!(recent.read(13, 31), None);
        assert_eq!(recent.read(30, 31).as_deref(), Some(&b"x"[..]));
        // Past the bound the oldest go, the last stays however big.
        let big = vec![b'y'; RECENT_BYTES];
        let gone = recent.push(31, Bytes::from(big));
        assert_eq!(gone.len(), 1);
        assert_eq!(recent.read(31, 33).as_deref(), Some(&b"yy"[..]));
        assert_eq!(recent.clear().len(), 1);
        assert_eq!(recent.read(31, 33), None);
    }

    /// A store read's buffer comes back once the chunk made of it was sent (dropped), for
    /// the next read; no more than a few are kept.
    #[test]
    fn read_buffers_come_back_when_their_chunk_is_dropped() {
        let buffers = ReadBuffers::default();
        let mut first = buffers.take();
        first.extend_from_slice(b"log text");
        let at = first.as_ptr();
        let chunk = buffers.chunk(first);
        assert_eq!(chunk, &b"log text"[..]);
        let part = chunk.slice(4..);
        drop(chunk);
        assert_eq!(buffers.take().capacity(), 0, "a part is still held");
        drop(part);
        let again = buffers.take();
        assert_eq!(again.as_ptr(), at, "the same buffer again");
        let chunks: Vec<Bytes> = (0..5).map(|_| buffers.chunk(vec![1; 10])).collect();
        drop(chunks);
        assert_eq!(buffers.0.lock().unwrap().len(), KEPT_BUFFERS);
    }

    /// What a follower takes from memory is the recorder's buffer, not a copy of it.
    #[test]
    fn recent_text_is_shared_not_copied() {
        let mut recent = Recent::default();
        let append = Bytes::from(b"0123456789".to_vec());
        recent.push(100, append.clone());
        let part = recent.read(104, 110).unwrap();
        assert_eq!(part, &b"456789"[..]);
        assert_eq!(part.as_ptr(), append[4..].as_ptr());
    }
}
