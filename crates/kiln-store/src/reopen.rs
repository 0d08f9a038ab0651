//! Writing again after a failed write. sled refuses every write after an I/O error (a full
//! disk) until the database is opened again; the store reopens it, at most once a second, when
//! a write or a writability check fails, so writes resume once space is back without
//! restarting kiln.

use crate::sled_log::truncate_log;
use crate::trees::Trees;
use crate::{SledStore, StoreError};
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The least time between two reopen attempts (opening reads sled's log).
const REOPEN_EVERY: Duration = Duration::from_secs(1);

/// Whether the directory's filesystem has room for sled to open the database (which writes a
/// segment): a file of two segments is written, synced and removed.
fn room_to_open(dir: &Path) -> Result<(), StoreError> {
    let probe = dir.join("space-probe");
    let written = std::fs::File::create(&probe).and_then(|mut file| {
        let block = vec![0u8; 64 * 1024];
        for _ in 0..(2 * SledStore::SEGMENT_BYTES / block.len()) {
            file.write_all(&block)?;
        }
        file.sync_all()
    });
    let _ = std::fs::remove_file(&probe);
    written.map_err(|e| StoreError::Backend(Box::new(e)))
}

/// When the database was last reopened (or tried to be).
#[derive(Default)]
pub(crate) struct LastReopen(Mutex<Option<Instant>>);

impl LastReopen {
    /// Whether a reopen may be tried now; if so, now is the last attempt.
    fn due(&self) -> bool {
        let mut last = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|t| t.elapsed() < REOPEN_EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

impl SledStore {
    /// Runs a write; when it fails in the database (not for a reason of kiln's, such as a
    /// missing build) and a reopen is due, reopens the database and runs it once more.
    pub(crate) fn writing<T>(
        &self,
        write: impl Fn() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match write() {
            Err(err @ (StoreError::Backend(_) | StoreError::Reopening)) => {
                if !self.last_reopen.due() {
                    return Err(err);
                }
                tracing::warn!(error = %crate::codec::chain(&err), "a store write failed; reopening the store");
                self.reopen()?;
                write()
            }
            other => other,
        }
    }

    /// Closes the database and opens it again; logs whose last appends were not made durable
    /// are cut back to what was (readers were never shown more), so those appends can be made
    /// again.
    fn reopen(&self) -> Result<(), StoreError> {
        // The open database still serves reads: it is closed only when opening can succeed.
        room_to_open(&self.dir)?;
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        // Calls in flight hold the old database a moment longer; opening waits for its lock.
        drop(current.take());
        let trees = Trees::open(&self.dir)?;
        for (bk, durable) in self.unflushed.marks() {
            truncate_log(&trees, &bk, durable)?;
        }
        trees.flush()?;
        self.unflushed.clear();
        *current = Some(Arc::new(trees));
        tracing::info!(path = %self.dir.display(), "store reopened; writes go on");
        Ok(())
    }
}
