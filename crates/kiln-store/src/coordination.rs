//! What several controllers sharing one store need from it: leases, claiming queued builds,
//! taking over the builds of a controller whose lease ran out, and a wake-up when any
//! controller queues a build. A store that is one controller's alone (sled) has none of
//! this: [`Store::coordination`](crate::Store::coordination) is `None` and the scheduler
//! keeps its queue in memory.

use crate::{BuildRecord, LogEvent, NewBuild, StoreError};
use kiln_types::{BuildRef, JobName};
use std::collections::BTreeMap;
use std::time::Duration;

/// A build a controller owns, at the epoch its writes must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub build: BuildRef,
    pub epoch: u64,
}

/// What renewing a lease found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lease {
    /// The lease is the controller's until this time (the database's clock, ms since the
    /// epoch).
    Held { expires_at_ms: u64 },
    /// The lease had run out: other controllers may have taken its builds. The controller
    /// must stop driving them and come back under a new id.
    Lost,
}

/// What a claim must honour: running builds across all controllers at most `capacity`
/// (`None`: no bound), and per job at most its entry of `per_job` (absent: no bound).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClaimLimits {
    pub capacity: Option<u64>,
    pub per_job: BTreeMap<JobName, u64>,
}

/// What happens once across every controller sharing a store, whichever of them sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Once {
    /// A webhook delivery (its forge-qualified id, e.g. `github:UUID`): each job builds it
    /// once, however many controllers receive it and however often it is redelivered.
    Delivery(String),
    /// A timer (e.g. `cron:JOB`) at one of its due times (ms since the epoch): it fires once
    /// per due time; a due time not later than the last one fired is refused.
    Timer { key: String, due_ms: u64 },
}

impl std::fmt::Display for Once {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Once::Delivery(id) => write!(f, "webhook delivery `{id}`"),
            Once::Timer { key, due_ms } => write!(f, "timer `{key}` due at {due_ms} ms"),
        }
    }
}

/// Held while a controller does what only one may do at a time (retention, reaping
/// orphaned pods); dropping it lets the next one in.
pub type Exclusive = Box<dyn Send>;

/// Called for every build any controller queues (a wake-up, not a queue: calls may be
/// dropped, so the listener still looks for queued builds itself now and then).
pub type NewBuildListener = Box<dyn Fn(&BuildRef) + Send + Sync>;

/// What a controller hears from the others through the store, once committed. Wake-ups,
/// not a queue: a signal may be dropped (a slow listener, a lost connection), so whoever
/// waits for one also looks for itself now and then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signal {
    /// A build was queued.
    NewBuild(BuildRef),
    /// A build's log grew.
    LogGrew(BuildRef),
    /// A control was sent to a build `owner` drives.
    Control { owner: String },
    /// The control with this id was answered.
    ControlAnswered(u64),
}

/// Called for every [`Signal`] from the moment it is registered.
pub type SignalListener = Box<dyn Fn(&Signal) + Send + Sync>;

/// A file of a build kept in the store: its path within its set, its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// A control as the store keeps it, answered or not (what `kiln store export` moves):
/// `sent_at_us` is when it was sent, in microseconds since the epoch.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredControl {
    pub id: u64,
    pub body: String,
    pub sent_at_us: i64,
    pub outcome: Option<String>,
}

/// A control (a cancel, an input's answer) sent through the store to the controller that
/// drives a build: `body` is the sender's (the scheduler's JSON), the store only keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentControl {
    pub id: u64,
    pub build: BuildRef,
    pub body: String,
}

/// The operations of a store that several controllers share.
pub trait Coordination: Send + Sync {
    /// Takes or renews `controller`'s lease for `ttl`. A lease that ran out is not renewed
    /// ([`Lease::Lost`]).
    fn renew_lease(&self, controller: &str, ttl: Duration) -> Result<Lease, StoreError>;
    /// Gives the lease up (a clean stop): its builds can be taken over at once.
    fn release_lease(&self, controller: &str) -> Result<(), StoreError>;
    /// Claims the next queued build whose quiet period is over for `controller`, if
    /// `limits` allow one: jobs round-robin, a job's builds oldest first. `None` means
    /// nothing could be claimed now, not that nothing is queued.
    fn claim_next(
        &self,
        controller: &str,
        limits: &ClaimLimits,
    ) -> Result<Option<Claim>, StoreError>;
    /// Takes over, for `controller`, every unfinished build whose owner's lease ran out;
    /// each gets a new epoch.
    fn take_over(&self, controller: &str) -> Result<Vec<Claim>, StoreError>;
    /// Replaces a build's record if `claim` is still its owner's claim
    /// ([`StoreError::Fenced`] otherwise).
    fn update_build_fenced(
        &self,
        controller: &str,
        claim: &Claim,
        build: &BuildRecord,
    ) -> Result<(), StoreError>;
    /// Appends to a build's log if `claim` is still its owner's claim
    /// ([`StoreError::Fenced`] otherwise).
    fn append_log_fenced(
        &self,
        controller: &str,
        claim: &Claim,
        bytes: &[u8],
        events: &[LogEvent],
    ) -> Result<u64, StoreError>;
    /// Calls `listener` for every build any controller queues from now on, until the
    /// process ends.
    fn listen_new_builds(&self, listener: NewBuildListener) -> Result<(), StoreError>;
    /// Calls `listener` for every [`Signal`] from now on, until the process ends.
    fn listen(&self, listener: SignalListener) -> Result<(), StoreError>;
    /// Sends `body` to the controller that drives `build` and signals it: the control's id,
    /// or `None` (nothing sent) when no controller drives the build (it is queued unclaimed,
    /// finished, or unknown).
    fn send_control(&self, build: &BuildRef, body: &str) -> Result<Option<u64>, StoreError>;
    /// The controls not answered yet of the builds `controller` drives (after a takeover,
    /// those sent to the build's previous owner too), oldest first.
    fn pending_controls(&self, controller: &str) -> Result<Vec<SentControl>, StoreError>;
    /// Answers control `id` with `outcome` (the scheduler's JSON) and signals it; a control
    /// answered before keeps its first answer.
    fn answer_control(&self, id: u64, outcome: &str) -> Result<(), StoreError>;
    /// The answer to control `id`, once there is one.
    fn control_outcome(&self, id: u64) -> Result<Option<String>, StoreError>;
    /// Merges a trigger of `job` (the build `new` it would create) into a build of the job
    /// that any controller queued, not claimed yet and still in its quiet period, with the
    /// same parameters and branch: that build takes `new`'s commit. The merged build's
    /// record, or `None` when there is none to merge into.
    fn merge_quiet(&self, job: &JobName, new: &NewBuild)
    -> Result<Option<BuildRecord>, StoreError>;
    /// Keeps a set of a build's files (e.g. a stash) as `name`, replacing what `name` held:
    /// every controller can read them back with [`Coordination::get_files`].
    fn put_files(
        &self,
        build: &BuildRef,
        name: &str,
        files: &[BuildFile],
    ) -> Result<(), StoreError>;
    /// [`Coordination::put_files`] for the build `claim` holds, if `claim` is still its
    /// owner's claim ([`StoreError::Fenced`] otherwise, and nothing is written).
    fn put_files_fenced(
        &self,
        controller: &str,
        claim: &Claim,
        name: &str,
        files: &[BuildFile],
    ) -> Result<(), StoreError>;
    /// The files kept as `name` for `build`; `None` when nothing was kept.
    fn get_files(&self, build: &BuildRef, name: &str)
    -> Result<Option<Vec<BuildFile>>, StoreError>;
    /// The bytes of file `path` of the set `name` kept for `build`; `None` when there is none.
    /// An empty `path` asks for the set itself: empty bytes when it was kept.
    fn get_file(
        &self,
        build: &BuildRef,
        name: &str,
        path: &str,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every file kept for `build`, each under its set's name (`stash/x/a.txt`; a set's own
    /// entry is `stash/x/`, empty), in byte order of the paths.
    fn build_files(&self, build: &BuildRef) -> Result<Vec<BuildFile>, StoreError>;
    /// Puts back one entry [`Coordination::build_files`] gave.
    fn restore_file(&self, build: &BuildRef, file: &BuildFile) -> Result<(), StoreError>;
    /// Every control sent about `build`, answered or not, oldest first.
    fn build_controls(&self, build: &BuildRef) -> Result<Vec<StoredControl>, StoreError>;
    /// Puts back a control [`Coordination::build_controls`] gave, under its id.
    fn restore_control(&self, build: &BuildRef, control: &StoredControl) -> Result<(), StoreError>;
    /// [`Store::create_build_not_before`](crate::Store::create_build_not_before), in one
    /// transaction with taking `once`: `Ok(None)` (and no build) when it was taken before,
    /// by this controller or another. A delivery is taken per job.
    fn create_build_once(
        &self,
        job: &JobName,
        new: NewBuild,
        not_before_ms: u64,
        once: &Once,
    ) -> Result<Option<BuildRecord>, StoreError>;
    /// Takes `once` for `scope` (a job, or what the caller does with it) without building;
    /// false when it was taken before.
    fn take_once(&self, once: &Once, scope: &str) -> Result<bool, StoreError>;
    /// Waits until no other controller holds `name` (e.g. `retention:JOB`), then holds it
    /// until the returned value is dropped (or the process dies).
    fn exclusive(&self, name: &str) -> Result<Exclusive, StoreError>;
}
