//! [`MemoryStore`]: kiln-store's [`Store`] trait over maps in memory.

use kiln_store::{
    BuildRecord, BuildStatus, JobRecord, LogEvent, LogSlice, NewBuild, Page, Store, StoreError,
};
use kiln_types::{BuildRef, JobName};
use std::collections::BTreeMap;
use std::io;
use std::sync::{Mutex, MutexGuard};

/// The schema version whose records this store holds: kiln-store's current one (the
/// contract test in `tests/memory_store.rs` compares it with a fresh `SledStore`'s).
const SCHEMA_VERSION: u32 = 4;

/// A [`Store`] in memory, for tests of the code above the store (scheduler, server).
///
/// It answers every call as `SledStore` does (same numbering, ordering, paging and errors:
/// `tests/memory_store.rs` runs the same operations against both and compares), without
/// disk or durability. [`MemoryStore::fail_writes`] makes every write fail as a full disk
/// would, for tests of how callers handle a store that cannot write.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    jobs: BTreeMap<JobName, JobRecord>,
    builds: BTreeMap<BuildRef, BuildRecord>,
    logs: BTreeMap<BuildRef, Vec<u8>>,
    /// Each log's events, offsets counted from the log's start.
    events: BTreeMap<BuildRef, Vec<LogEvent>>,
    failing: Option<String>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// From now on every write (and `check_writable`) fails with `reason` as the I/O error,
    /// until [`MemoryStore::heal`].
    pub fn fail_writes(&self, reason: &str) {
        self.lock().failing = Some(reason.to_owned());
    }

    /// Writes succeed again.
    pub fn heal(&self) {
        self.lock().failing = None;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock has failed already.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The state, for a write: the injected failure if there is one.
    fn writing(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        let state = self.lock();
        match &state.failing {
            Some(reason) => Err(StoreError::Backend(Box::new(io::Error::other(
                reason.clone(),
            )))),
            None => Ok(state),
        }
    }
}

impl State {
    fn last_built(&self, job: &JobName) -> u64 {
        self.builds
            .keys()
            .filter(|id| &id.job == job)
            .map(|id| id.number)
            .max()
            .unwrap_or(0)
    }

    fn exists(&self, id: &BuildRef) -> Result<(), StoreError> {
        if self.builds.contains_key(id) {
            Ok(())
        } else {
            Err(StoreError::NoSuchBuild(id.to_string()))
        }
    }
}

impl Store for MemoryStore {
    fn schema_version(&self) -> u32 {
        SCHEMA_VERSION
    }

    fn put_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        let mut state = self.writing()?;
        let mut record = job.clone();
        record.last_number = record.last_number.max(state.last_built(&job.name));
        if let Some(stored) = state.jobs.get(&job.name) {
            record.last_number = record.last_number.max(stored.last_number);
        }
        state.jobs.insert(job.name.clone(), record);
        Ok(())
    }

    fn get_job(&self, name: &JobName) -> Result<Option<JobRecord>, StoreError> {
        Ok(self.lock().jobs.get(name).cloned())
    }

    fn list_jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        Ok(self.lock().jobs.values().cloned().collect())
    }

    fn delete_job(&self, name: &JobName) -> Result<bool, StoreError> {
        let mut state = self.writing()?;
        if state.last_built(name) > 0 {
            return Ok(false);
        }
        Ok(state.jobs.remove(name).is_some())
    }

    fn create_build(&self, job: &JobName, new: NewBuild) -> Result<BuildRecord, StoreError> {
        let mut state = self.writing()?;
        let last_built = state.last_built(job);
        let record = state.jobs.entry(job.clone()).or_insert_with(|| JobRecord {
            name: job.clone(),
            last_number: 0,
            meta: BTreeMap::new(),
        });
        let number = record.last_number.max(last_built) + 1;
        record.last_number = number;
        let id = BuildRef {
            job: job.clone(),
            number,
        };
        let build = BuildRecord::queued(id.clone(), new);
        state.builds.insert(id, build.clone());
        Ok(build)
    }

    fn update_build(&self, build: &BuildRecord) -> Result<(), StoreError> {
        let mut state = self.writing()?;
        state.exists(&build.id)?;
        state.builds.insert(build.id.clone(), build.clone());
        Ok(())
    }

    fn get_build(&self, id: &BuildRef) -> Result<Option<BuildRecord>, StoreError> {
        Ok(self.lock().builds.get(id).cloned())
    }

    fn list_builds(&self, job: &JobName, page: Page) -> Result<Vec<BuildRecord>, StoreError> {
        let state = self.lock();
        Ok(state
            .builds
            .values()
            .rev()
            .filter(|b| &b.id.job == job && page.before.is_none_or(|n| b.id.number < n))
            .take(page.limit)
            .cloned()
            .collect())
    }

    fn builds_in(&self, states: &[BuildStatus]) -> Result<Vec<BuildRecord>, StoreError> {
        let state = self.lock();
        let mut found: Vec<BuildRecord> = state
            .builds
            .values()
            .filter(|b| states.contains(&b.status))
            .cloned()
            .collect();
        found.sort_by(|a, b| (a.queued_at_ms, &a.id).cmp(&(b.queued_at_ms, &b.id)));
        Ok(found)
    }

    fn delete_build(&self, id: &BuildRef) -> Result<(), StoreError> {
        let mut state = self.writing()?;
        state.exists(id)?;
        state.builds.remove(id);
        state.logs.remove(id);
        state.events.remove(id);
        Ok(())
    }

    fn append_log_events(
        &self,
        id: &BuildRef,
        bytes: &[u8],
        events: &[LogEvent],
    ) -> Result<u64, StoreError> {
        LogEvent::check_tiling(bytes, events)?;
        let mut state = self.writing()?;
        state.exists(id)?;
        let log = state.logs.entry(id.clone()).or_default();
        let start = log.len() as u64;
        log.extend_from_slice(bytes);
        let end = log.len() as u64;
        state
            .events
            .entry(id.clone())
            .or_default()
            .extend(events.iter().map(|e| LogEvent {
                offset: e.offset + start,
                ..e.clone()
            }));
        Ok(end)
    }

    fn read_log(&self, id: &BuildRef, offset: u64, max: usize) -> Result<LogSlice, StoreError> {
        let state = self.lock();
        state.exists(id)?;
        let log = state.logs.get(id).map(Vec::as_slice).unwrap_or_default();
        let end = log.len() as u64;
        let from = offset.min(end);
        let to = end.min(offset.saturating_add(max as u64)).max(from);
        let bytes = log
            .get(usize::try_from(from).unwrap_or(usize::MAX)..usize::try_from(to).unwrap_or(0))
            .unwrap_or_default()
            .to_vec();
        Ok(LogSlice { offset, bytes, end })
    }

    fn read_log_events(&self, id: &BuildRef) -> Result<Vec<LogEvent>, StoreError> {
        let state = self.lock();
        state.exists(id)?;
        Ok(state.events.get(id).cloned().unwrap_or_default())
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        self.writing().map(drop)
    }
}
