//! Writes to a build this controller claimed in a shared store, fenced by the claim's
//! epoch: a [`FencedStore`] is the store as that build's recorder sees it. Its writes to
//! the build (the record with its status and stage records, and log appends) carry the
//! claim and fail with [`StoreError::Fenced`] once another controller took the build over
//! (a new epoch), e.g. after this one was paused (SIGSTOP, a long GC-like stall of its host)
//! past its lease. The first refusal fires the build's fence token: the build task stops
//! driving the build at once (its local processes are killed, a pod is left to the new
//! owner), without retrying and without writing anything more; the server's log says why.
//!
//! Everything else (reads, other builds, jobs) goes to the store as it is. A store of one
//! controller (sled) has no claims: builds get the store itself.

use crate::runner::{BuildTask, Done};
use kiln_store::{
    BuildFile, BuildRecord, BuildStatus, Claim, Coordination, JobRecord, LogEvent, LogSlice,
    NewBuild, Page, Store, StoreError,
};
use kiln_types::{BuildRef, BuildResult, JobName};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// How a build this controller drives writes (see [`crate::claims::BuildClaims::fence`]).
pub(crate) struct Fenced {
    /// The store as the build's writers see it.
    pub store: Arc<dyn Store>,
    /// Fired at the first write refused because another controller took the build over.
    pub token: CancellationToken,
    /// The claim, for the build's writes outside the [`Store`] trait (its kept files);
    /// `None` on a store of one controller.
    pub claim: Option<BuildFence>,
}

impl Fenced {
    /// A build's writes unfenced: a store of one controller, or a build without a claim.
    pub(crate) fn open(store: &Arc<dyn Store>) -> Fenced {
        Fenced {
            store: store.clone(),
            token: CancellationToken::new(),
            claim: None,
        }
    }

    /// `inner` with the writes to `claim`'s build fenced by it; the token fires when one is
    /// refused.
    pub(crate) fn wrap(inner: Arc<dyn Store>, controller: Arc<str>, claim: Claim) -> Fenced {
        let fence = BuildFence {
            controller,
            claim,
            fenced: CancellationToken::new(),
        };
        Fenced {
            token: fence.fenced.clone(),
            claim: Some(fence.clone()),
            store: Arc::new(FencedStore { inner, fence }),
        }
    }
}

/// A claimed build's claim as its writes carry it; the first refusal fires the build's fence
/// token (and the build stops driving it), whichever write it was.
#[derive(Clone)]
pub(crate) struct BuildFence {
    controller: Arc<str>,
    claim: Claim,
    fenced: CancellationToken,
}

impl BuildFence {
    /// Keeps `files` as the set `name` of the build, under the claim.
    pub(crate) fn put_files(
        &self,
        shared: &dyn Coordination,
        name: &str,
        files: &[BuildFile],
    ) -> Result<(), StoreError> {
        self.seen(shared.put_files_fenced(&self.controller, &self.claim, name, files))
    }

    /// Passes `result` on; a refusal is reported once and fires the fence token.
    fn seen<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(StoreError::Fenced { epoch, .. }) = &result
            && !self.fenced.is_cancelled()
        {
            tracing::error!(
                build = %self.claim.build,
                epoch,
                controller = %self.controller,
                "a write to this build was refused: another controller took it over (a newer epoch); this controller stops driving it"
            );
            self.fenced.cancel();
        }
        result
    }
}

/// The store as one claimed build's writers see it (see the module's docs).
struct FencedStore {
    inner: Arc<dyn Store>,
    fence: BuildFence,
}

impl FencedStore {
    fn coordination(&self) -> Result<&dyn Coordination, StoreError> {
        self.inner.coordination().ok_or_else(|| {
            StoreError::Backend("a fenced write needs a store shared by controllers".into())
        })
    }
}

impl Store for FencedStore {
    fn schema_version(&self) -> u32 {
        self.inner.schema_version()
    }

    fn put_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        self.inner.put_job(job)
    }

    fn get_job(&self, name: &JobName) -> Result<Option<JobRecord>, StoreError> {
        self.inner.get_job(name)
    }

    fn list_jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        self.inner.list_jobs()
    }

    fn delete_job(&self, name: &JobName) -> Result<bool, StoreError> {
        self.inner.delete_job(name)
    }

    fn create_build(&self, job: &JobName, new: NewBuild) -> Result<BuildRecord, StoreError> {
        self.inner.create_build(job, new)
    }

    fn create_build_not_before(
        &self,
        job: &JobName,
        new: NewBuild,
        not_before_ms: u64,
    ) -> Result<BuildRecord, StoreError> {
        self.inner.create_build_not_before(job, new, not_before_ms)
    }

    fn update_build(&self, build: &BuildRecord) -> Result<(), StoreError> {
        let fence = &self.fence;
        if build.id != fence.claim.build {
            return self.inner.update_build(build);
        }
        let written = self
            .coordination()
            .and_then(|c| c.update_build_fenced(&fence.controller, &fence.claim, build));
        fence.seen(written)
    }

    fn get_build(&self, id: &BuildRef) -> Result<Option<BuildRecord>, StoreError> {
        self.inner.get_build(id)
    }

    fn list_builds(&self, job: &JobName, page: Page) -> Result<Vec<BuildRecord>, StoreError> {
        self.inner.list_builds(job, page)
    }

    fn builds_in(&self, states: &[BuildStatus]) -> Result<Vec<BuildRecord>, StoreError> {
        self.inner.builds_in(states)
    }

    fn delete_build(&self, id: &BuildRef) -> Result<(), StoreError> {
        self.inner.delete_build(id)
    }

    fn append_log_events(
        &self,
        id: &BuildRef,
        bytes: &[u8],
        events: &[LogEvent],
    ) -> Result<u64, StoreError> {
        let fence = &self.fence;
        if *id != fence.claim.build {
            return self.inner.append_log_events(id, bytes, events);
        }
        let written = self
            .coordination()
            .and_then(|c| c.append_log_fenced(&fence.controller, &fence.claim, bytes, events));
        fence.seen(written)
    }

    fn read_log(&self, id: &BuildRef, offset: u64, max: usize) -> Result<LogSlice, StoreError> {
        self.inner.read_log(id, offset, max)
    }

    fn read_log_into(
        &self,
        id: &BuildRef,
        offset: u64,
        max: usize,
        buffer: Vec<u8>,
    ) -> Result<LogSlice, StoreError> {
        self.inner.read_log_into(id, offset, max, buffer)
    }

    fn read_log_events(&self, id: &BuildRef) -> Result<Vec<LogEvent>, StoreError> {
        self.inner.read_log_events(id)
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        self.inner.check_writable()
    }

    fn coordination(&self) -> Option<&dyn Coordination> {
        self.inner.coordination()
    }
}

impl BuildTask {
    /// Stops driving a build another controller took over (a write was refused): nothing
    /// more is written, nothing is released or deleted; the build is the new owner's.
    pub(crate) fn let_go(self) -> Done {
        let id = &self.recorder.record.id;
        tracing::warn!(build = %id, "stopped driving the build: another controller owns it now");
        self.not_ended()
    }

    /// What the actor learns of a build this controller stops driving without ending it
    /// (left running in its pod, or taken over by another controller).
    pub(crate) fn not_ended(&self) -> Done {
        let now = self.recorder.now_ms();
        let started = self.recorder.record.started_at_ms.unwrap_or(now);
        Done {
            id: self.recorder.record.id.clone(),
            result: BuildResult::NotBuilt,
            duration_ms: now.saturating_sub(started),
            queued_ms: 0,
            info: None,
            detached: true,
            job_properties: None,
        }
    }
}
