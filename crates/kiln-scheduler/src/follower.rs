//! Following a build's log: what is stored from an offset, then new bytes as they are
//! appended, until the build finished and everything was delivered.
//!
//! A live build's last appends are also kept in memory ([`Recent`]), published with the
//! log's length once they are durable: a follower that keeps up copies them from there
//! instead of reading the log's file back and decoding its frames (which for a loud build's
//! short lines cost more than everything else on the log's path), and reads the store only
//! when it fell behind them or the build is not live.

use crate::recorder::blocking;
use kiln_store::{BuildStatus, LogSlice, Store, StoreError};
use kiln_types::BuildRef;
use std::collections::VecDeque;
use std::sync::Arc;
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
/// text is kept once however many follow).
#[derive(Clone, Debug, Default)]
pub(crate) struct Recent {
    pieces: VecDeque<(u64, Arc<Vec<u8>>)>,
    bytes: usize,
}

impl Recent {
    /// Adds an append's `text`, which starts at `start`, right after the last one; the
    /// oldest appends give way past [`RECENT_BYTES`] and are returned (for their buffers).
    /// Text that does not continue the last append replaces what was kept.
    pub(crate) fn push(&mut self, start: u64, text: Arc<Vec<u8>>) -> Vec<Arc<Vec<u8>>> {
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
    pub(crate) fn clear(&mut self) -> Vec<Arc<Vec<u8>>> {
        self.bytes = 0;
        self.pieces.drain(..).map(|(_, t)| t).collect()
    }

    fn end(&self) -> Option<u64> {
        self.pieces
            .back()
            .map(|(start, text)| start + text.len() as u64)
    }

    /// Up to `max` bytes from `offset`, if it holds `offset`'s byte (and `end` is past it).
    fn read(&self, offset: u64, max: usize, end: u64) -> Option<Vec<u8>> {
        let first = self
            .pieces
            .iter()
            .position(|(start, text)| *start <= offset && offset < start + text.len() as u64)?;
        let want = usize::try_from(
            end.min(offset.saturating_add(max as u64))
                .checked_sub(offset)?,
        )
        .ok()
        .filter(|n| *n > 0)?;
        let mut out = Vec::with_capacity(want);
        let mut at = offset;
        for (start, text) in self.pieces.iter().skip(first) {
            let from = usize::try_from(at - start).ok()?;
            let take = (want - out.len()).min(text.len().saturating_sub(from));
            out.extend_from_slice(text.get(from..from + take)?);
            at += take as u64;
            if out.len() == want {
                break;
            }
        }
        Some(out)
    }
}

/// The most a follower reads from the store at once (each read decodes what it returns).
const CHUNK: usize = 256 * 1024;
/// The most a follower copies from a live build's [`Recent`] text at once.
const RECENT_CHUNK: usize = 1024 * 1024;

/// A reader of one build's log that waits for more while the build is live.
pub struct LogFollower {
    store: Arc<dyn Store>,
    id: BuildRef,
    offset: u64,
    /// `None` when the build was not live when following started (finished, or unknown).
    live: Option<watch::Receiver<LogState>>,
    done: bool,
}

impl LogFollower {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        id: BuildRef,
        offset: u64,
        live: Option<watch::Receiver<LogState>>,
    ) -> Self {
        LogFollower {
            store,
            id,
            offset,
            live,
            done: false,
        }
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
    pub async fn next(&mut self) -> Option<Result<LogSlice, StoreError>> {
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

    async fn read(&self) -> Result<LogSlice, StoreError> {
        if let Some(rx) = &self.live {
            let state = rx.borrow();
            if let Some(bytes) = state.recent.read(self.offset, RECENT_CHUNK, state.len) {
                return Ok(LogSlice {
                    offset: self.offset,
                    bytes,
                    end: state.len,
                });
            }
        }
        let store = self.store.clone();
        let (id, offset) = (self.id.clone(), self.offset);
        blocking(move || store.read_log(&id, offset, CHUNK)).await
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
            // Not live but not finished either (e.g. queued by a scheduler that is gone):
            // look again in a while.
            None => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> Arc<Vec<u8>> {
        Arc::new(bytes.to_vec())
    }

    #[test]
    fn recent_text_is_read_across_appends_and_the_oldest_give_way() {
        let mut recent = Recent::default();
        assert!(recent.push(10, text(b"abc")).is_empty());
        assert!(recent.push(13, text(b"defg")).is_empty());
        assert_eq!(recent.read(11, 100, 17).as_deref(), Some(&b"bcdefg"[..]));
        assert_eq!(recent.read(11, 3, 17).as_deref(), Some(&b"bcd"[..]));
        // Not past the published length, and not what it does not hold.
        assert_eq!(recent.read(11, 100, 14).as_deref(), Some(&b"bcd"[..]));
        assert_eq!(recent.read(9, 100, 17), None);
        assert_eq!(recent.read(17, 100, 17), None);
        // Text that does not continue the last append replaces what was kept.
        assert_eq!(recent.push(30, text(b"x")).len(), 2);
        assert_eq!(recent.read(13, 100, 31), None);
        assert_eq!(recent.read(30, 100, 31).as_deref(), Some(&b"x"[..]));
        // Past the bound the oldest go, the last stays however big.
        let big = vec![b'y'; RECENT_BYTES];
        let gone = recent.push(31, Arc::new(big));
        assert_eq!(gone.len(), 1);
        assert_eq!(recent.read(31, 2, u64::MAX).as_deref(), Some(&b"yy"[..]));
        assert_eq!(recent.clear().len(), 1);
        assert_eq!(recent.read(31, 2, u64::MAX), None);
    }
}
