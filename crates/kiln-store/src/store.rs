use crate::{
    BuildRecord, BuildStatus, Coordination, JobRecord, LogEvent, LogSlice, NewBuild, Page,
    StoreError,
};
use kiln_types::{BuildRef, JobName};

/// kiln's durable state. Every method that writes returns only once the write is durable.
/// Implementations are shared between threads; calls are short (a local database, or one
/// round trip or two to PostgreSQL), so async code may call them directly or through
/// `spawn_blocking` for large reads.
pub trait Store: Send + Sync {
    /// The schema version of the data on disk (after migrations ran at open).
    fn schema_version(&self) -> u32;

    fn put_job(&self, job: &JobRecord) -> Result<(), StoreError>;
    fn get_job(&self, name: &JobName) -> Result<Option<JobRecord>, StoreError>;
    fn list_jobs(&self) -> Result<Vec<JobRecord>, StoreError>;
    /// Removes a job's record (its build numbers then start at 1 again) when it has no builds
    /// left; returns whether it was removed (false: no record, or builds remain).
    fn delete_job(&self, name: &JobName) -> Result<bool, StoreError>;

    /// Allocates the job's next build number (creating the job record if needed) and stores
    /// the build as `Queued`, atomically.
    fn create_build(&self, job: &JobName, new: NewBuild) -> Result<BuildRecord, StoreError>;
    /// [`Store::create_build`] for a build that must not start before `not_before_ms` (its
    /// quiet period's end, ms since the epoch). A store shared by several controllers keeps
    /// the time so that no controller claims the build before it; a store of one
    /// controller's (the default) leaves the waiting to that controller's queue.
    fn create_build_not_before(
        &self,
        job: &JobName,
        new: NewBuild,
        not_before_ms: u64,
    ) -> Result<BuildRecord, StoreError> {
        let _ = not_before_ms;
        self.create_build(job, new)
    }
    /// Replaces a build's record.
    fn update_build(&self, build: &BuildRecord) -> Result<(), StoreError>;
    fn get_build(&self, id: &BuildRef) -> Result<Option<BuildRecord>, StoreError>;
    /// A job's builds, newest first.
    fn list_builds(&self, job: &JobName, page: Page) -> Result<Vec<BuildRecord>, StoreError>;
    /// Every build (of any job) in one of these states, oldest first: for recovery at start.
    fn builds_in(&self, states: &[BuildStatus]) -> Result<Vec<BuildRecord>, StoreError>;
    /// Removes a build and its log (retention).
    fn delete_build(&self, id: &BuildRef) -> Result<(), StoreError>;

    /// Appends to a build's log text that says nothing more of itself (one
    /// [`LogEventKind::Plain`](crate::LogEventKind::Plain) event); returns the log's new length.
    fn append_log(&self, id: &BuildRef, bytes: &[u8]) -> Result<u64, StoreError> {
        let len = bytes.len() as u64;
        let events = if bytes.is_empty() {
            Vec::new()
        } else {
            vec![LogEvent::plain(0, len)]
        };
        self.append_log_events(id, bytes, &events)
    }
    /// Appends `bytes` to a build's log and `events` to its record, atomically: each event's
    /// `offset` is counted from the start of `bytes`, and the events cover `bytes` in order.
    /// Returns the log's new length.
    fn append_log_events(
        &self,
        id: &BuildRef,
        bytes: &[u8],
        events: &[LogEvent],
    ) -> Result<u64, StoreError>;
    /// Up to `max` bytes of the log from `offset`.
    fn read_log(&self, id: &BuildRef, offset: u64, max: usize) -> Result<LogSlice, StoreError>;
    /// [`Store::read_log`], the bytes read into `buffer` (emptied first) where the store can:
    /// a follower reading a loud log back passes the buffers of its earlier reads, so that
    /// each read does not write into fresh memory (a page fault per 4 KiB). The default reads
    /// into a new buffer.
    fn read_log_into(
        &self,
        id: &BuildRef,
        offset: u64,
        max: usize,
        buffer: Vec<u8>,
    ) -> Result<LogSlice, StoreError> {
        drop(buffer);
        self.read_log(id, offset, max)
    }
    /// The events of a build's log, in order, offsets counted from the log's start; as far
    /// as [`Store::read_log`] would read.
    fn read_log_events(&self, id: &BuildRef) -> Result<Vec<LogEvent>, StoreError>;

    /// Whether a write can be made durable now (a small durable write is tried): the error
    /// says why not, e.g. a full disk. For readiness checks.
    fn check_writable(&self) -> Result<(), StoreError>;

    /// The operations several controllers on this store coordinate with; `None` (the
    /// default) for a store only one controller uses.
    fn coordination(&self) -> Option<&dyn Coordination> {
        None
    }
}
