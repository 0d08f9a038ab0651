//! Which queued builds this controller starts: the seam between one controller and several.
//!
//! - [`LocalClaims`] (a store only this controller uses, sled): the queue in memory is the
//!   truth; the next build is the queue's next that may start (round-robin across jobs,
//!   per-job concurrency, capacity), as it always was.
//! - [`DbClaims`] (a store with [`Coordination`], PostgreSQL): queued builds live in the
//!   database, where any controller may have queued them. A claimer task claims them one by
//!   one (`claim_next`: fair order, per-job concurrency and capacity across every controller)
//!   and hands each to the actor, which starts only what was claimed. The claimer wakes on
//!   the database's notification of a new build, when a build here ends, and every
//!   [`POLL`] as a safety net. The memory queue keeps only the builds queued here still in
//!   their quiet period, so that triggers can merge into them.

use crate::command::Command;
use crate::follower::LogState;
use crate::queue::{Queue, QueuedBuild};
use crate::recovery;
use crate::shared::Shared;
use crate::source::Resolved;
use kiln_config::Config;
use kiln_store::{BuildRecord, BuildStatus, ClaimLimits, Coordination, Store, StoreError};
use kiln_types::{BuildRef, JobName};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

/// How often the claimer looks for queued builds without being woken.
const POLL: Duration = Duration::from_secs(1);
/// Sources read at trigger time kept for builds queued here that another controller may
/// run instead (the oldest go first; a build without one reads its source at start).
const HANDOFF: usize = 512;

/// What the previous run of this controller left: builds to queue again, builds to resume.
pub(crate) struct Recovered {
    pub queued: Vec<BuildRecord>,
    pub resumed: Vec<BuildRecord>,
}

/// How a controller decides which queued builds it starts.
pub(crate) trait BuildClaims: Send {
    /// At start: what the previous run left, as this controller may take it.
    fn recover(
        &self,
        store: &dyn Store,
        now_ms: u64,
        resume: bool,
    ) -> Result<Recovered, StoreError>;
    /// A build was queued here (its record is stored).
    fn queued(&mut self, queue: &mut Queue, build: QueuedBuild, now_ms: u64);
    /// The next build to start now, if any. `may_start` says whether a build of the
    /// memory queue fits this controller's limits.
    fn next(
        &mut self,
        queue: &mut Queue,
        now_ms: u64,
        may_start: &mut dyn FnMut(&QueuedBuild) -> bool,
    ) -> Option<QueuedBuild>;
    /// A claim made for this controller (see [`DbClaims`]).
    fn claimed(&mut self, record: BuildRecord, epoch: u64);
    /// Whether [`BuildClaims::next`] may have a build to give.
    fn pending(&self, queue: &Queue) -> bool;
    /// Something changed that may let a build start: a build was queued or ended, or the
    /// configuration changed (`limits` gives the per-job limits as the actor counts them).
    fn wake(&mut self, config: &Config, limits: &dyn Fn() -> HashMap<String, usize>);
    /// The controller stops: nothing more is claimed.
    fn stop(&mut self);
}

/// A controller alone on its store: the memory queue decides.
pub(crate) struct LocalClaims;

impl BuildClaims for LocalClaims {
    fn recover(
        &self,
        store: &dyn Store,
        now_ms: u64,
        resume: bool,
    ) -> Result<Recovered, StoreError> {
        let resumed = recovery::recover_interrupted(store, now_ms, resume)?;
        let queued = store.builds_in(&[BuildStatus::Queued])?;
        if !queued.is_empty() {
            tracing::info!(
                builds = queued.len(),
                "queued builds from the previous run queued again"
            );
        }
        Ok(Recovered { queued, resumed })
    }

    fn queued(&mut self, queue: &mut Queue, build: QueuedBuild, _now_ms: u64) {
        queue.push(build);
    }

    fn next(
        &mut self,
        queue: &mut Queue,
        _now_ms: u64,
        may_start: &mut dyn FnMut(&QueuedBuild) -> bool,
    ) -> Option<QueuedBuild> {
        queue.pop_next(may_start)
    }

    fn claimed(&mut self, record: BuildRecord, _epoch: u64) {
        tracing::error!(build = %record.id, "a claim reached a controller that does not claim");
    }

    fn pending(&self, queue: &Queue) -> bool {
        queue.len() > 0
    }

    fn wake(&mut self, _config: &Config, _limits: &dyn Fn() -> HashMap<String, usize>) {}

    fn stop(&mut self) {}
}

/// A controller among several on one database: it starts the builds it claimed there.
pub(crate) struct DbClaims {
    shared: Arc<Shared>,
    controller: Arc<str>,
    /// Claimed, waiting for the actor to start them (oldest claim first).
    ready: VecDeque<(BuildRecord, u64)>,
    /// Sources read when builds were queued here, by build.
    handoff: HashMap<BuildRef, Arc<Resolved>>,
    handoff_order: VecDeque<BuildRef>,
    limits: watch::Sender<ClaimLimits>,
    wake: Arc<Notify>,
    stop: CancellationToken,
}

impl DbClaims {
    /// Starts the claimer task for `controller`, which hands its claims to the actor
    /// through `me`.
    pub(crate) fn start(
        shared: Arc<Shared>,
        controller: String,
        me: mpsc::WeakUnboundedSender<Command>,
    ) -> Result<DbClaims, StoreError> {
        let controller: Arc<str> = controller.into();
        let wake = Arc::new(Notify::new());
        let woken = wake.clone();
        coordination(shared.store.as_ref())?.listen_new_builds(Box::new(move |_| {
            woken.notify_one();
        }))?;
        let (limits, limits_rx) = watch::channel(ClaimLimits::default());
        let stop = CancellationToken::new();
        tokio::spawn(claimer(
            shared.store.clone(),
            controller.clone(),
            limits_rx,
            wake.clone(),
            stop.clone(),
            me,
        ));
        tracing::info!(controller = %controller, "claiming queued builds from the shared store");
        Ok(DbClaims {
            shared,
            controller,
            ready: VecDeque::new(),
            handoff: HashMap::new(),
            handoff_order: VecDeque::new(),
            limits,
            wake,
            stop,
        })
    }

    /// A build queued here whose quiet period is over: any controller may run it now, so
    /// it leaves the memory queue; its source is kept in case this one does.
    fn hand_off(&mut self, build: QueuedBuild) {
        let id = build.record.id.clone();
        // Followers here read the store until a controller runs it.
        self.shared.remove_live(&id);
        if let Some(resolved) = build.resolved {
            if self.handoff_order.len() >= HANDOFF {
                if let Some(old) = self.handoff_order.pop_front() {
                    self.handoff.remove(&old);
                }
            }
            self.handoff.insert(id.clone(), resolved);
            self.handoff_order.push_back(id);
        }
        self.wake.notify_one();
    }
}

impl BuildClaims for DbClaims {
    /// Another controller's running builds are its own, and queued builds are claimed from
    /// the database: nothing is recovered here (builds of a controller that is gone are
    /// taken over once its lease ran out).
    fn recover(
        &self,
        _store: &dyn Store,
        _now_ms: u64,
        _resume: bool,
    ) -> Result<Recovered, StoreError> {
        Ok(Recovered {
            queued: Vec::new(),
            resumed: Vec::new(),
        })
    }

    fn queued(&mut self, queue: &mut Queue, build: QueuedBuild, now_ms: u64) {
        if build.not_before_ms > now_ms {
            queue.push(build);
        } else {
            self.hand_off(build);
        }
    }

    fn next(
        &mut self,
        queue: &mut Queue,
        now_ms: u64,
        _may_start: &mut dyn FnMut(&QueuedBuild) -> bool,
    ) -> Option<QueuedBuild> {
        // The database decides what starts; builds whose quiet period ended go there.
        while let Some(quiet_over) = queue.pop_next(|b| b.not_before_ms <= now_ms) {
            self.hand_off(quiet_over);
        }
        let (record, epoch) = self.ready.pop_front()?;
        let id = record.id.clone();
        tracing::debug!(build = %id, epoch, controller = %self.controller, "claimed");
        let resolved = self.handoff.remove(&id);
        if resolved.is_some() {
            self.handoff_order.retain(|b| *b != id);
        }
        let (tx, rx) = watch::channel(LogState::default());
        self.shared.set_live(id, rx);
        Some(QueuedBuild {
            record,
            resolved,
            not_before_ms: 0,
            log: tx,
        })
    }

    fn claimed(&mut self, record: BuildRecord, epoch: u64) {
        self.ready.push_back((record, epoch));
    }

    fn pending(&self, queue: &Queue) -> bool {
        !self.ready.is_empty() || queue.len() > 0
    }

    fn wake(&mut self, config: &Config, limits: &dyn Fn() -> HashMap<String, usize>) {
        let per_job = limits()
            .into_iter()
            .filter_map(|(job, n)| Some((JobName::new(&job).ok()?, n as u64)))
            .collect();
        let limits = ClaimLimits {
            capacity: Some(config.queue_capacity() as u64),
            per_job,
        };
        self.limits.send_if_modified(|l| {
            let changed = *l != limits;
            *l = limits;
            changed
        });
        self.wake.notify_one();
    }

    fn stop(&mut self) {
        self.stop.cancel();
    }
}

/// This process's name among the controllers: unique per start (a controller whose lease
/// ran out comes back under a new one).
pub(crate) fn controller_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "kiln".to_owned());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{host}-{}-{:x}", std::process::id(), nanos & 0xffff_ffff)
}

fn coordination(store: &dyn Store) -> Result<&dyn Coordination, StoreError> {
    store.coordination().ok_or_else(|| {
        StoreError::Backend("this store is not shared by several controllers".into())
    })
}

/// Claims queued builds while there are any this controller may take, then waits to be
/// woken (or for [`POLL`]).
async fn claimer(
    store: Arc<dyn Store>,
    controller: Arc<str>,
    mut limits: watch::Receiver<ClaimLimits>,
    wake: Arc<Notify>,
    stop: CancellationToken,
    me: mpsc::WeakUnboundedSender<Command>,
) {
    // The actor sends its limits before anything may be claimed.
    if limits.wait_for(|l| l.capacity.is_some()).await.is_err() {
        return;
    }
    loop {
        while !stop.is_cancelled() {
            let (store, controller) = (store.clone(), controller.clone());
            let limits = limits.borrow().clone();
            let claim = tokio::task::spawn_blocking(move || {
                let c = coordination(store.as_ref())?;
                let Some(claim) = c.claim_next(&controller, &limits)? else {
                    return Ok(None);
                };
                let record = store
                    .get_build(&claim.build)?
                    .ok_or_else(|| StoreError::NoSuchBuild(claim.build.to_string()))?;
                Ok::<_, StoreError>(Some((record, claim.epoch)))
            })
            .await;
            match claim {
                Ok(Ok(Some((record, epoch)))) => {
                    let Some(me) = me.upgrade() else { return };
                    if me
                        .send(Command::Claimed {
                            record: Box::new(record),
                            epoch,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(Ok(None)) => break,
                Ok(Err(error)) => {
                    tracing::warn!(%error, "cannot claim queued builds");
                    break;
                }
                Err(error) => {
                    tracing::error!(%error, "the claim task failed");
                    break;
                }
            }
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(POLL) => {}
            () = stop.cancelled() => return,
        }
    }
}
