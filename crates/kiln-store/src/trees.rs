//! The open sled database and its trees, which [`SledStore`](crate::SledStore) swaps whole
//! when it reopens the database after a failed write.

use crate::StoreError;
use crate::codec::backend;
use std::path::Path;

/// sled's page cache size. sled's default (1 GiB) is far above what kiln needs; builds and log
/// chunks are read from disk once they fall out of the cache.
const CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// sled's segment (I/O buffer) size; see [`SledStore::SEGMENT_BYTES`](crate::SledStore).
pub(crate) const SEGMENT_BYTES: usize = 2 * 1024 * 1024;

/// One open database: what every store operation works on.
pub(crate) struct Trees {
    pub db: sled::Db,
    pub meta: sled::Tree,
    pub jobs: sled::Tree,
    pub builds: sled::Tree,
    pub status: sled::Tree,
    pub logs: sled::Tree,
    pub log_len: sled::Tree,
    /// A log's events: build key + the offset where an append started -> that append's
    /// events (JSON list, offsets from the log's start).
    pub log_events: sled::Tree,
    /// Where a log's text lies in its file: build key + the offset where an append started
    /// -> that append's [`Frames`](crate::frames::Frames) as JSON.
    pub log_frames: sled::Tree,
}

impl Trees {
    pub(crate) fn open(dir: &Path) -> Result<Trees, StoreError> {
        let db = open_db(dir)?;
        let tree = |name: &str| db.open_tree(name).map_err(backend);
        Ok(Trees {
            meta: tree("meta")?,
            jobs: tree("jobs")?,
            builds: tree("builds")?,
            status: tree("status")?,
            logs: tree("logs")?,
            log_len: tree("log_len")?,
            log_events: tree("log_events")?,
            log_frames: tree("log_frames")?,
            db,
        })
    }

    /// Makes every write so far durable.
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(drop).map_err(backend)
    }
}

/// Opens the sled database, waiting a while its file lock is held: a store dropped in this
/// process keeps the lock until sled's background threads have dropped their handles, which on
/// a machine busy with I/O can take seconds. Another process holding the store still fails,
/// after `LOCK_WAIT`, with [`StoreError::InUse`].
fn open_db(dir: &Path) -> Result<sled::Db, StoreError> {
    const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
    let started = std::time::Instant::now();
    let mut told = false;
    loop {
        let opened = sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .segment_size(SEGMENT_BYTES)
            .open();
        match opened {
            // sled reports the held lock only in its I/O error's text.
            Err(e) if e.to_string().contains("could not acquire lock") => {
                if started.elapsed() >= LOCK_WAIT {
                    return Err(StoreError::InUse {
                        path: dir.to_path_buf(),
                    });
                }
                if !told && started.elapsed() >= std::time::Duration::from_secs(1) {
                    tracing::warn!(path = %dir.display(), "the store is locked; waiting up to 10 s for it");
                    told = true;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => {
                return other.map_err(|e| StoreError::Open {
                    path: dir.to_path_buf(),
                    source: Box::new(e),
                });
            }
        }
    }
}
