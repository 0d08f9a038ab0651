//! What several controllers sharing one store need from it: leases, claiming queued builds,
//! taking over the builds of a controller whose lease ran out, and a wake-up when any
//! controller queues a build. A store that is one controller's alone (sled) has none of
//! this: [`Store::coordination`](crate::Store::coordination) is `None` and the scheduler
//! keeps its queue in memory.

use crate::{BuildRecord, LogEvent, StoreError};
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

/// Called for every build any controller queues (a wake-up, not a queue: calls may be
/// dropped, so the listener still looks for queued builds itself now and then).
pub type NewBuildListener = Box<dyn Fn(&BuildRef) + Send + Sync>;

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
}
