//! Following a build's log: what is stored from an offset, then new bytes as they are
//! appended, until the build finished and everything was delivered.

use crate::recorder::blocking;
use kiln_store::{BuildStatus, LogSlice, Store, StoreError};
use kiln_types::BuildRef;
use std::sync::Arc;
use tokio::sync::watch;

/// How far a live build's log is stored, published after every durable append.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LogState {
    pub len: u64,
    pub finished: bool,
}

/// The most a follower reads from the store at once.
const CHUNK: usize = 256 * 1024;

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
            let state = *rx.borrow_and_update();
            if state.finished {
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
