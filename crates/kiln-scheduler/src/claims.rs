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
use crate::fencing::Fenced;
use crate::queue::{Queue, QueuedBuild};
use crate::recovery;
use crate::shared::Shared;
use crate::source::Resolved;
use kiln_config::Config;
use kiln_store::{
    BuildRecord, BuildStatus, Claim, ClaimLimits, Coordination, Lease, Store, StoreError,
};
use kiln_types::{BuildRef, JobName};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

/// How often the claimer looks for queued builds without being woken.
const POLL: Duration = Duration::from_secs(1);
/// How long a controller's lease lasts without being renewed (PostgreSQL's clock).
const LEASE: Duration = Duration::from_secs(10);
/// How often the lease is renewed, and builds of controllers whose lease ran out taken over.
const RENEW: Duration = Duration::from_secs(2);
/// Past this since the last renewal asked (this machine's clock), the controller stops
/// driving its builds: before its lease can run out and another take them.
const DRIVE: Duration = Duration::from_secs(7);
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
    /// The store a build this controller drives writes through, and the token fired when
    /// a write is refused because another controller took the build over: writes to a
    /// build claimed at `epoch` carry the claim (see `fencing.rs`).
    fn fence(&self, store: &Arc<dyn Store>, build: &BuildRef, epoch: Option<u64>) -> Fenced;
    /// Whether [`BuildClaims::next`] may have a build to give.
    fn pending(&self, queue: &Queue) -> bool;
    /// Something changed that may let a build start: a build was queued or ended, or the
    /// configuration changed (`limits` gives the per-job limits as the actor counts them).
    fn wake(&mut self, config: &Config, limits: &dyn Fn() -> HashMap<String, usize>);
    /// The controller stops: nothing more is claimed.
    fn stop(&mut self);
    /// The controller stopped (its builds ended or were left in their pods): what it held
    /// is given up, so that another controller takes its builds at once.
    fn stopped(&mut self) -> Option<tokio::task::JoinHandle<()>>;
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

    fn fence(&self, store: &Arc<dyn Store>, _build: &BuildRef, _epoch: Option<u64>) -> Fenced {
        Fenced::open(store)
    }

    fn pending(&self, queue: &Queue) -> bool {
        queue.len() > 0
    }

    fn wake(&mut self, _config: &Config, _limits: &dyn Fn() -> HashMap<String, usize>) {}

    fn stop(&mut self) {}

    fn stopped(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        None
    }
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
        let wake = shared.signals.new_build.clone();
        let (hears, me_id) = (shared.clone(), controller.clone());
        coordination(shared.store.as_ref())?.listen(Box::new(move |signal| {
            hears.signals.deliver(&me_id, signal);
        }))?;
        let (limits, limits_rx) = watch::channel(ClaimLimits::default());
        let stop = CancellationToken::new();
        let (held_tx, held) = watch::channel(false);
        tokio::spawn(crate::remote_control::answerer(
            shared.clone(),
            controller.clone(),
            me.clone(),
            stop.clone(),
        ));
        tokio::spawn(keeper(
            shared.clone(),
            controller.clone(),
            held_tx,
            stop.clone(),
            me.clone(),
        ));
        tokio::spawn(claimer(
            shared.store.clone(),
            controller.clone(),
            limits_rx,
            held,
            wake.clone(),
            stop.clone(),
            me,
        ));
        tracing::info!(controller = %controller, "claiming queued builds from the shared store");
        if shared.config().store.files_dir().is_none() {
            tracing::warn!(
                "store.postgres.files_dir is not set: stashes, artifacts and HTML reports \
                 up to {} MiB a set are kept in PostgreSQL, where every controller finds \
                 them; larger ones stay on the disk of the controller that ran the build",
                crate::db_files::STASH_MAX / (1024 * 1024)
            );
        }
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
        // Followers here read the store until a controller runs it.
        let id = build.id;
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
        // A trigger merged on another controller moved the build to a newer commit: its
        // source is read again at start.
        let resolved = resolved.filter(|r| r.commit == record.commit);
        let mut build = QueuedBuild::of_record(record, Some(epoch));
        build.resolved = resolved;
        Some(build)
    }

    fn claimed(&mut self, record: BuildRecord, epoch: u64) {
        self.ready.push_back((record, epoch));
    }

    fn fence(&self, store: &Arc<dyn Store>, build: &BuildRef, epoch: Option<u64>) -> Fenced {
        let Some(epoch) = epoch else {
            tracing::error!(build = %build, "a build without a claim: its writes are not fenced");
            return Fenced::open(store);
        };
        let claim = Claim {
            build: build.clone(),
            epoch,
        };
        Fenced::wrap(store.clone(), self.controller.clone(), claim)
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

    fn stopped(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        self.stop.cancel();
        let (store, controller) = (self.shared.store.clone(), self.controller.clone());
        Some(tokio::task::spawn_blocking(move || {
            let released = coordination(store.as_ref()).and_then(|c| c.release_lease(&controller));
            match released {
                Ok(()) => tracing::info!(controller = %controller, "lease given up"),
                Err(error) => tracing::warn!(%error, "cannot give the lease up: it runs out"),
            }
        }))
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
    mut held: watch::Receiver<bool>,
    wake: Arc<Notify>,
    stop: CancellationToken,
    me: mpsc::WeakUnboundedSender<Command>,
) {
    // The actor sends its limits before anything may be claimed.
    if limits.wait_for(|l| l.capacity.is_some()).await.is_err() {
        return;
    }
    loop {
        // Nothing is claimed without a lease: another controller could not take it over.
        tokio::select! {
            held = held.wait_for(|h| *h) => if held.is_err() { return },
            () = stop.cancelled() => return,
        }
        while !stop.is_cancelled() && *held.borrow() {
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

/// Renews the controller's lease every [`RENEW`] and takes over the builds of controllers
/// whose lease ran out; says when the lease is held (`held`), and tells the actor when it
/// was lost or could not be renewed for [`DRIVE`].
async fn keeper(
    shared: Arc<Shared>,
    controller: Arc<str>,
    held: watch::Sender<bool>,
    stop: CancellationToken,
    me: mpsc::WeakUnboundedSender<Command>,
) {
    let mut last: Option<tokio::time::Instant> = None;
    let store = shared.store.clone();
    loop {
        let asked = tokio::time::Instant::now();
        let (s, c) = (store.clone(), controller.clone());
        let renewed =
            tokio::task::spawn_blocking(move || coordination(s.as_ref())?.renew_lease(&c, LEASE))
                .await
                .unwrap_or_else(|e| Err(StoreError::Backend(Box::new(e))));
        if stop.is_cancelled() {
            return;
        }
        let lost = match renewed {
            Ok(Lease::Held { .. }) => {
                last = Some(asked);
                if !held.send_replace(true) {
                    tracing::info!(controller = %controller, "lease held");
                }
                false
            }
            Ok(Lease::Lost) => {
                tracing::error!(controller = %controller, "this controller's lease ran out");
                true
            }
            Err(error) => {
                tracing::warn!(%error, controller = %controller, "cannot renew the lease");
                last.is_some_and(|t| t.elapsed() >= DRIVE)
            }
        };
        if lost {
            held.send_replace(false);
            if let Some(me) = me.upgrade() {
                let _ = me.send(Command::LeaseLost);
            }
            return;
        }
        if *held.borrow() && take_over(&store, &controller, &me).await {
            // Controls sent to the builds' previous owner are this one's now.
            shared.signals.control.notify_one();
        }
        tokio::select! {
            () = tokio::time::sleep(RENEW) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// Takes the builds of controllers whose lease ran out and hands them to the actor; whether
/// it took any.
async fn take_over(
    store: &Arc<dyn Store>,
    controller: &Arc<str>,
    me: &mpsc::WeakUnboundedSender<Command>,
) -> bool {
    let (store, controller) = (store.clone(), controller.clone());
    let taken = tokio::task::spawn_blocking(move || {
        let claims = coordination(store.as_ref())?.take_over(&controller)?;
        let mut out = Vec::with_capacity(claims.len());
        for claim in claims {
            match store.get_build(&claim.build)? {
                Some(record) => out.push((record, claim.epoch)),
                None => tracing::warn!(build = %claim.build, "a build taken over is gone"),
            }
        }
        Ok::<_, StoreError>(out)
    })
    .await
    .unwrap_or_else(|e| Err(StoreError::Backend(Box::new(e))));
    match taken {
        Ok(taken) => {
            let Some(me) = me.upgrade() else {
                return false;
            };
            let any = !taken.is_empty();
            for (record, epoch) in taken {
                tracing::warn!(build = %record.id, epoch, "build taken over: its controller's lease ran out");
                let _ = me.send(Command::TakenOver {
                    record: Box::new(record),
                    epoch,
                });
            }
            any
        }
        Err(error) => {
            tracing::warn!(%error, "cannot take over the builds of lost controllers");
            false
        }
    }
}
