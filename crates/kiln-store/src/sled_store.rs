//! The sled implementation of [`Store`].
//!
//! On-disk layout (one sled database in the directory given to [`SledStore::open`]):
//!
//! | tree      | key                              | value                              |
//! |-----------|----------------------------------|------------------------------------|
//! | `meta`    | `schema_version`                 | JSON number                        |
//! | `meta`    | `deleting/` build key            | empty: a delete whose log removal is unfinished |
//! | `jobs`    | job name                         | [`JobRecord`] as JSON              |
//! | `builds`  | job `0x00` number (BE u64)       | [`BuildRecord`] as JSON            |
//! | `status`  | status byte + build key          | empty (index for `builds_in`)      |
//! | `log_len` | build key                        | JSON number: the log's length      |
//! | `log_events` | build key + offset (BE u64)   | an append's [`LogEvent`]s as JSON  |
//! | `log_frames` | build key + offset (BE u64)   | where an append's text lies in the log file (JSON) |
//!
//! A log's text is a file in `logs/` beside the database (see `log_files.rs`), in frames of
//! LZ4 blocks (`frames.rs`), synced before its length and frames move in sled; before schema 4
//! the file was the text itself, before schema 3 chunks in a `logs` tree.
//!
//! The database uses a segment size of [`SledStore::SEGMENT_BYTES`] (sled fixes it at creation).
//!
//! Every write runs as one sled transaction (or batch) and returns after `flush`, so an `Ok`
//! write survives `kill -9`; a log read returns only bytes whose append was flushed (sled
//! shows a commit to readers before its flush), so no line a reader saw is lost that way. Against power loss or a kernel crash the guarantee is sled's: on
//! Linux its flush writes with `sync_file_range`, which does not flush the drive's write cache
//! (64 KiB writes with `O_DSYNC` ran at 15 MB/s on the development machine, against 90+ MB/s
//! for durable appends here).

use crate::codec::{abort, backend, decode, encode, from_transaction};
use crate::keys::{self, ALL_STATUSES, build_key, build_key_of, job_prefix, status_key};
use crate::migrate;
use crate::sled_log::finish_deletes;
use crate::trees::Trees;
use crate::{
    BuildRecord, BuildStatus, JobRecord, LogEvent, LogSlice, NewBuild, Page, Store, StoreError,
};
use kiln_types::{BuildRef, JobName};
use sled::Transactional;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

/// kiln's embedded store: a sled database in a directory.
pub struct SledStore {
    pub(crate) dir: PathBuf,
    /// The open database; `None` while a reopen after a failed write has not succeeded.
    pub(crate) current: RwLock<Option<Arc<Trees>>>,
    /// Logs with an append committed but not flushed yet.
    pub(crate) unflushed: crate::unflushed::Unflushed,
    pub(crate) last_reopen: crate::reopen::LastReopen,
    /// The logs' text, a file per build.
    pub(crate) files: crate::log_files::LogFiles,
    version: u32,
}

impl SledStore {
    /// sled's segment (I/O buffer) size, fixed when the database is created: sled refuses to open
    /// it with another. 2 MiB rather than sled's 512 KiB keeps a leaf of log chunks (up to 16
    /// chunks of 16 KiB) under sled's blob threshold (a quarter segment), which more than
    /// doubles durable log ingestion.
    pub const SEGMENT_BYTES: usize = crate::trees::SEGMENT_BYTES;

    /// Opens (or creates) the store in `dir`, runs pending schema migrations and finishes any
    /// delete that a crash interrupted. A store written by a newer kiln is refused with
    /// [`StoreError::SchemaTooNew`] and left untouched.
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        let trees = Trees::open(dir)?;
        let found = migrate::stored_version(&trees.meta)?;
        if found > migrate::CURRENT {
            return Err(StoreError::SchemaTooNew {
                found,
                supported: migrate::CURRENT,
            });
        }
        let files = crate::log_files::LogFiles::open(dir)?;
        let version = migrate::run(&trees, &files, found)?;
        finish_deletes(&trees, &files)?;
        tracing::info!(path = %dir.display(), schema = version, "store opened");
        Ok(SledStore {
            dir: dir.to_path_buf(),
            current: RwLock::new(Some(Arc::new(trees))),
            unflushed: crate::unflushed::Unflushed::default(),
            last_reopen: crate::reopen::LastReopen::default(),
            files,
            version,
        })
    }

    /// The open database, or why there is none.
    pub(crate) fn trees(&self) -> Result<Arc<Trees>, StoreError> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        current.clone().ok_or(StoreError::Reopening)
    }

    /// The highest build number stored for `job` (0 if none).
    fn last_build_number(t: &Trees, job: &JobName) -> Result<u64, StoreError> {
        let mut end = job_prefix(job);
        if let Some(sep) = end.last_mut() {
            *sep = 1;
        }
        match t.builds.range(job_prefix(job)..end).next_back() {
            Some(entry) => {
                let (key, _) = entry.map_err(backend)?;
                Ok(keys::trailing_number(&key).unwrap_or(0))
            }
            None => Ok(0),
        }
    }

    fn decode_build(key: &[u8], bytes: &[u8]) -> Result<BuildRecord, StoreError> {
        decode("builds", key, bytes)
    }
}

impl Store for SledStore {
    fn schema_version(&self) -> u32 {
        self.version
    }

    /// Stores the job record. The stored `last_number` never goes back: it stays at least the
    /// number already stored or used by a build, so a stale record cannot cause number reuse.
    fn put_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        self.writing(|| {
            let t = self.trees()?;
            let key = job.name.as_str().as_bytes();
            let last_built = Self::last_build_number(&t, &job.name)?;
            t.jobs
                .transaction(|jobs| {
                    let mut record = job.clone();
                    record.last_number = record.last_number.max(last_built);
                    if let Some(bytes) = jobs.get(key)? {
                        // A corrupt stored record is replaced: this is how an operator repairs it.
                        if let Ok(stored) = decode::<JobRecord>("jobs", key, &bytes) {
                            record.last_number = record.last_number.max(stored.last_number);
                        }
                    }
                    jobs.insert(key, encode(&record).map_err(abort)?)?;
                    Ok(())
                })
                .map_err(from_transaction)?;
            t.flush()
        })
    }

    fn get_job(&self, name: &JobName) -> Result<Option<JobRecord>, StoreError> {
        let t = self.trees()?;
        let key = name.as_str().as_bytes();
        match t.jobs.get(key).map_err(backend)? {
            Some(bytes) => decode("jobs", key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn list_jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        let t = self.trees()?;
        t.jobs
            .iter()
            .map(|entry| {
                let (key, bytes) = entry.map_err(backend)?;
                decode("jobs", &key, &bytes)
            })
            .collect()
    }

    fn delete_job(&self, name: &JobName) -> Result<bool, StoreError> {
        self.writing(|| {
            let t = self.trees()?;
            if Self::last_build_number(&t, name)? > 0 {
                return Ok(false);
            }
            let removed = t.jobs.remove(name.as_str().as_bytes()).map_err(backend)?;
            t.flush()?;
            Ok(removed.is_some())
        })
    }

    fn create_build(&self, job: &JobName, new: NewBuild) -> Result<BuildRecord, StoreError> {
        self.writing(|| {
            let t = self.trees()?;
            let job_key = job.as_str().as_bytes();
            let last_built = Self::last_build_number(&t, job)?;
            let build = (&t.jobs, &t.builds, &t.status)
                .transaction(|(jobs, builds, status)| {
                    let mut record = match jobs.get(job_key)? {
                        Some(bytes) => {
                            decode::<JobRecord>("jobs", job_key, &bytes).map_err(abort)?
                        }
                        None => JobRecord {
                            name: job.clone(),
                            last_number: 0,
                            meta: Default::default(),
                        },
                    };
                    let number = record.last_number.max(last_built) + 1;
                    record.last_number = number;
                    let id = BuildRef {
                        job: job.clone(),
                        number,
                    };
                    let build = BuildRecord::queued(id, new.clone());
                    let bk = build_key(job, number);
                    jobs.insert(job_key, encode(&record).map_err(abort)?)?;
                    builds.insert(bk.as_slice(), encode(&build).map_err(abort)?)?;
                    status.insert(status_key(BuildStatus::Queued, &bk), &[])?;
                    Ok(build)
                })
                .map_err(from_transaction)?;
            t.flush()?;
            Ok(build)
        })
    }

    fn update_build(&self, build: &BuildRecord) -> Result<(), StoreError> {
        self.writing(|| {
            let t = self.trees()?;
            let bk = build_key_of(&build.id);
            let value = encode(build)?;
            (&t.builds, &t.status)
                .transaction(|(builds, status)| {
                    if builds.get(bk.as_slice())?.is_none() {
                        return Err(abort(StoreError::NoSuchBuild(build.id.to_string())));
                    }
                    builds.insert(bk.as_slice(), value.as_slice())?;
                    // The old status is not decoded, so a corrupt record can still be overwritten.
                    for other in ALL_STATUSES.iter().filter(|s| **s != build.status) {
                        status.remove(status_key(*other, &bk))?;
                    }
                    status.insert(status_key(build.status, &bk), &[])?;
                    Ok(())
                })
                .map_err(from_transaction)?;
            t.flush()
        })
    }

    fn get_build(&self, id: &BuildRef) -> Result<Option<BuildRecord>, StoreError> {
        let t = self.trees()?;
        let bk = build_key_of(id);
        match t.builds.get(&bk).map_err(backend)? {
            Some(bytes) => Self::decode_build(&bk, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn list_builds(&self, job: &JobName, page: Page) -> Result<Vec<BuildRecord>, StoreError> {
        let t = self.trees()?;
        if page.limit == 0 {
            return Ok(Vec::new());
        }
        let start = build_key(job, 0);
        let end = match page.before {
            Some(before) => build_key(job, before),
            None => {
                let mut end = job_prefix(job);
                if let Some(sep) = end.last_mut() {
                    *sep = 1;
                }
                end
            }
        };
        t.builds
            .range(start..end)
            .rev()
            .take(page.limit)
            .map(|entry| {
                let (key, bytes) = entry.map_err(backend)?;
                Self::decode_build(&key, &bytes)
            })
            .collect()
    }

    fn builds_in(&self, states: &[BuildStatus]) -> Result<Vec<BuildRecord>, StoreError> {
        let t = self.trees()?;
        let mut found = Vec::new();
        for state in ALL_STATUSES.iter().filter(|s| states.contains(s)) {
            for entry in t.status.scan_prefix([keys::status_tag(*state)]) {
                let (key, _) = entry.map_err(backend)?;
                let bk = &key[1..];
                match t.builds.get(bk).map_err(backend)? {
                    Some(bytes) => found.push(Self::decode_build(bk, &bytes)?),
                    None => tracing::warn!(
                        key = %keys::describe("status", &key),
                        "status index entry without a build"
                    ),
                }
            }
        }
        found.sort_by(|a, b| (a.queued_at_ms, &a.id).cmp(&(b.queued_at_ms, &b.id)));
        Ok(found)
    }

    fn delete_build(&self, id: &BuildRef) -> Result<(), StoreError> {
        self.writing(|| self.delete(id))
    }

    fn append_log_events(
        &self,
        id: &BuildRef,
        bytes: &[u8],
        events: &[LogEvent],
    ) -> Result<u64, StoreError> {
        self.writing(|| self.append(id, bytes, events))
    }

    fn read_log(&self, id: &BuildRef, offset: u64, max: usize) -> Result<LogSlice, StoreError> {
        self.read(id, offset, max, Vec::new())
    }

    fn read_log_into(
        &self,
        id: &BuildRef,
        offset: u64,
        max: usize,
        buffer: Vec<u8>,
    ) -> Result<LogSlice, StoreError> {
        self.read(id, offset, max, buffer)
    }

    fn read_log_events(&self, id: &BuildRef) -> Result<Vec<LogEvent>, StoreError> {
        self.read_events(id)
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        self.writing(|| {
            let t = self.trees()?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis();
            t.meta
                .insert(WRITE_PROBE, encode(&now.to_string())?)
                .map_err(backend)?;
            t.flush()?;
            // Logs are files beside the database: the folder must take a log's append too.
            self.files.probe()
        })
    }
}

/// The `meta` key [`Store::check_writable`] writes.
const WRITE_PROBE: &[u8] = b"write_probe";

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("schema_version", &self.version)
            .finish_non_exhaustive()
    }
}
