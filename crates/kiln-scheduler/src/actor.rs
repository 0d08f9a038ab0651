//! The scheduler's actor: one task owns the queue and the running builds and selects over
//! commands, build tasks finishing and timers. Build tasks talk back only by finishing.

use crate::claims::BuildClaims;
use crate::clock::Sleep;
use crate::command::{Command, Created, Enqueue};
use crate::error::{ControlError, TriggerError};
use crate::handle::SchedulerHandle;
use crate::input::{PendingInputs, Refused};
use crate::job_properties::JobPropertiesRecord;
use crate::queue::{Queue, QueuedBuild};
use crate::recorder::{Control, Recorder};
use crate::recovery::abort_record;
use crate::remote_control::Ask;
use crate::request::TriggerRequest;
use crate::retention::{self, Keep};
use crate::runner::{BuildTask, Done, StartRecord};
use crate::shared::Shared;
use crate::store_writer::StoreWriter;
use crate::timers::{TimerKind, Timers};
use kiln_config::Config;
use kiln_engine::{BuildCause, InputAnswer};
use kiln_forge::StatusState;
use kiln_store::{BuildRecord, BuildStatus, Store};
use kiln_types::{BuildRef, JobName};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Answers a cancel.
type Reply = oneshot::Sender<Result<(), ControlError>>;
/// Answers a trigger.
type EnqueueReply = oneshot::Sender<Result<BuildRef, TriggerError>>;

/// A build that is running (or waiting for input).
struct Running {
    job: String,
    /// Which of the job's workspaces it uses.
    slot: usize,
    cancel: CancellationToken,
    control: mpsc::UnboundedSender<Control>,
    inputs: PendingInputs,
    /// Leaves the build running in its pod when the controller stops (see `in_pod`).
    detach: CancellationToken,
    /// The build's steps run in its pod now.
    in_pod: Arc<AtomicBool>,
    /// A build taken over here is re-attaching to its pod: a control relayed from another
    /// controller waits until it is done (then the build acts as if asked here).
    resuming: Arc<AtomicBool>,
    /// The store as the build writes to it (fenced by its claim, see `fencing.rs`).
    store: Arc<dyn Store>,
}

pub(crate) struct Actor {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedReceiver<Command>,
    /// For helper tasks (timers, upstream triggers); weak so that dropping every handle
    /// stops the actor.
    me: mpsc::WeakUnboundedSender<Command>,
    queue: Queue,
    running: HashMap<BuildRef, Running>,
    tasks: JoinSet<Done>,
    task_builds: HashMap<tokio::task::Id, BuildRef>,
    timers: Timers,
    /// Jobs being polled now (a poll that is due while the last one runs is skipped).
    polling: HashSet<String>,
    /// Set by shutdown: nothing new starts; the actor ends when the running builds did.
    stopping: Option<Vec<oneshot::Sender<()>>>,
    /// Every handle is gone (or shutdown closed the channel).
    closed: bool,
    /// Makes the actor's store writes off its task.
    writer: StoreWriter,
    /// Jobs whose new build's record is being created, with their triggers that came
    /// meanwhile (taken when it is).
    creating: HashMap<JobName, VecDeque<(Enqueue, EnqueueReply)>>,
    /// Which queued builds this controller starts (see `claims.rs`).
    claims: Box<dyn BuildClaims>,
}

impl Actor {
    pub(crate) fn new(
        shared: Arc<Shared>,
        commands: mpsc::UnboundedReceiver<Command>,
        me: mpsc::WeakUnboundedSender<Command>,
        recovered: Vec<BuildRecord>,
        resumed: Vec<BuildRecord>,
        claims: Box<dyn BuildClaims>,
    ) -> Self {
        let mut actor = Actor {
            commands,
            me,
            queue: Queue::default(),
            running: HashMap::new(),
            tasks: JoinSet::new(),
            task_builds: HashMap::new(),
            timers: Timers::default(),
            polling: HashSet::new(),
            stopping: None,
            closed: false,
            writer: StoreWriter::start(shared.store.clone()),
            creating: HashMap::new(),
            claims,
            shared,
        };
        for record in recovered {
            actor.requeue(record);
        }
        for record in resumed {
            actor.resume(record, None);
        }
        let now = actor.shared.clock.now_ms();
        actor.timers.rebuild(&actor.shared, now);
        actor.wake_claims();
        actor
    }

    /// Resumes a build the previous run (or a lost controller, `epoch` the takeover's claim)
    /// left running in its pod.
    fn resume(&mut self, record: BuildRecord, epoch: Option<u64>) {
        let config = self.shared.config();
        self.start(QueuedBuild::of_record(record, epoch), &config, true);
    }

    /// A build taken over from a controller whose lease ran out: a claimed build that had not
    /// started starts here; a running one resumes in its pod, or ends aborted, saying why.
    fn taken_over(&mut self, record: BuildRecord, epoch: u64) {
        match record.status {
            BuildStatus::Finished => {}
            BuildStatus::Queued => self.claims.claimed(record, epoch),
            BuildStatus::Running | BuildStatus::WaitingForInput => {
                let (me, now) = (self.me.clone(), self.shared.clock.now_ms());
                let resume = self.shared.backend.is_some();
                // Ended or resumed under this controller's claim, as any write to it.
                let fenced = self
                    .claims
                    .fence(&self.shared.store, &record.id, Some(epoch))
                    .store;
                self.writer.write(move |_| {
                    let id = record.id.clone();
                    let recovered =
                        crate::recovery::TAKEN_OVER.recover(&*fenced, vec![record], now, resume);
                    match recovered {
                        Ok(to_resume) => {
                            let Some(me) = me.upgrade() else { return };
                            for b in to_resume {
                                let _ = me.send(Command::Resume(Box::new(b), epoch));
                            }
                        }
                        Err(e) => {
                            tracing::error!(build = %id, error = %e, "cannot take a build over")
                        }
                    }
                });
            }
        }
    }

    /// The lease ran out (or could not be renewed in time): other controllers take this
    /// one's builds, so it stops driving them: builds in pods are left there, others are
    /// stopped; nothing more is claimed. The process must be restarted to take work again.
    fn lease_lost(&mut self) {
        tracing::error!(
            running = self.running.len(),
            "this controller's lease ran out: it stops driving its builds and claims no more; restart it to take work again"
        );
        self.claims.stop();
        for (id, r) in &self.running {
            if r.in_pod.load(Ordering::Acquire) {
                r.detach.cancel();
                continue;
            }
            let _ = r.control.send(Control::Reason(
                "This controller's lease ran out".to_owned(),
            ));
            r.cancel.cancel();
            tracing::warn!(build = %id, "stopping a build: the lease ran out");
        }
    }

    /// A build queued before a restart: queued again (its source is read when it starts).
    fn requeue(&mut self, record: BuildRecord) {
        self.queue.push(QueuedBuild::stored(&record, None, 0));
    }

    pub(crate) async fn run(mut self) {
        loop {
            self.dispatch();
            self.publish_stats();
            if self.stopping.is_some() && self.running.is_empty() {
                break;
            }
            let sleep = self.sleep();
            tokio::select! {
                cmd = self.commands.recv(), if !self.closed => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => {
                        self.closed = true;
                        self.stop(None);
                    }
                },
                Some(res) = self.tasks.join_next_with_id() => match res {
                    Ok((task, done)) => {
                        self.task_builds.remove(&task);
                        self.finished(done);
                    }
                    Err(e) => self.task_failed(&e),
                },
                () = sleep => self.fire_timers(),
            }
        }
        self.writer.finish().await;
        if let Some(released) = self.claims.stopped() {
            let _ = released.await;
        }
        for reply in self.stopping.take().into_iter().flatten() {
            let _ = reply.send(());
        }
        tracing::info!("scheduler stopped");
    }

    fn sleep(&self) -> Sleep {
        let now = self.shared.clock.now_ms();
        let wake = [self.timers.next_wake(), self.queue.next_wake(now)]
            .into_iter()
            .flatten()
            .min();
        match wake {
            Some(t) => self.shared.clock.sleep_until(t),
            None => Box::pin(std::future::pending()),
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Enqueue(e, reply) => self.enqueue(*e, reply),
            Command::Created(created) => self.created(*created),
            Command::Cancel {
                id,
                reason,
                reply,
                relayed,
            } => self.cancel(&id, &reason, reply, relayed),
            Command::Answer {
                id,
                answer,
                reply,
                relayed,
            } => self.answer(id, answer, reply, relayed),
            Command::Reload(config, reply) => {
                self.reload(config);
                let _ = reply.send(());
            }
            Command::ChildrenChanged => self.children_changed(),
            Command::Scan(job) => self.scan(job),
            Command::PipelineRead(job) => {
                tracing::debug!(job = %job, "pipeline read");
                let now = self.shared.clock.now_ms();
                self.timers.rebuild(&self.shared, now);
            }
            Command::Polled(job, seen) => {
                self.remember_polled(&job, &seen);
                self.polling.remove(&job);
                self.shared.update_stats(|s| s.polls_completed += 1);
            }
            Command::Shutdown(reply) => self.stop(Some(reply)),
            Command::Claimed { record, epoch } => self.claims.claimed(*record, epoch),
            Command::TakenOver { record, epoch } => self.taken_over(*record, epoch),
            Command::Resume(record, epoch) => self.resume(*record, Some(epoch)),
            Command::LeaseLost => self.lease_lost(),
            Command::JobProperties(id, props) => {
                let record = JobPropertiesRecord::of(id.number, &props);
                if self.record_job_properties(&id.job, Some(record)) {
                    let now = self.shared.clock.now_ms();
                    self.timers.rebuild(&self.shared, now);
                }
            }
        }
    }

    /// Queues a trigger: merged into a build in its quiet period, or a new build whose
    /// record is created by the store writer (the actor goes on meanwhile; the job's next
    /// triggers wait for it, so they can merge into it).
    fn enqueue(&mut self, mut e: Enqueue, reply: EnqueueReply) {
        if let Some(waiting) = self.creating.get_mut(&e.job) {
            waiting.push_back((e, reply));
            return;
        }
        if self.stopping.is_some() {
            let _ = reply.send(Err(TriggerError::ShuttingDown));
            return;
        }
        let config = self.shared.config();
        let Some(job) = config.job(e.job.as_str()) else {
            let _ = reply.send(Err(TriggerError::UnknownJob(e.job.to_string())));
            return;
        };
        let info = self.shared.pipeline(job.name.as_str()).and_then(Result::ok);
        let quiet_secs = if let Some(asked) = e.quiet_secs {
            asked
        } else if job.quiet_period_secs > 0 {
            job.quiet_period_secs
        } else {
            info.as_ref().and_then(|i| i.quiet_period_secs).unwrap_or(0)
        };
        let now = self.shared.clock.now_ms();
        if let Some(id) = self.merge_quiet(&e, now) {
            self.take_once_merged(&e);
            let _ = reply.send(Ok(id));
            return;
        }
        self.creating.insert(e.job.clone(), VecDeque::new());
        // No quiet period: no time to wait for (whatever clock the store's claims judge by).
        let not_before_ms = match quiet_secs {
            0 => 0,
            secs => now.saturating_add(secs.saturating_mul(1000)),
        };
        let me = self.me.clone();
        self.writer.write(move |store| {
            let new = std::mem::take(&mut e.new);
            // A build of the job in its quiet period that another controller queued.
            let merged = match store.coordination() {
                Some(shared) if not_before_ms > 0 => merge_elsewhere(shared, &e, &new),
                _ => None,
            };
            if let Some(record) = merged {
                let created = Created {
                    enqueue: e,
                    record,
                    not_before_ms,
                    merged: true,
                    reply,
                };
                if let Some(me) = me.upgrade() {
                    let _ = me.send(Command::Created(Box::new(created)));
                }
                return;
            }
            let record = match (&e.once, store.coordination()) {
                (Some(once), Some(shared)) => shared
                    .create_build_once(&e.job, new, not_before_ms, once)
                    .map_err(TriggerError::Store)
                    .and_then(|r| r.ok_or_else(|| TriggerError::AlreadyBuilt(once.clone()))),
                _ => store
                    .create_build_not_before(&e.job, new, not_before_ms)
                    .map_err(TriggerError::Store),
            };
            let created = Created {
                enqueue: e,
                record,
                not_before_ms,
                merged: false,
                reply,
            };
            if let Some(me) = me.upgrade() {
                let _ = me.send(Command::Created(Box::new(created)));
            }
        });
    }

    /// A build's record was created: the build is queued, and the job's triggers that came
    /// meanwhile are taken in order.
    fn created(&mut self, c: Created) {
        let job = c.enqueue.job.clone();
        if c.merged {
            if let Ok(record) = &c.record {
                tracing::info!(build = %record.id, "trigger merged into a build in its quiet period queued by another controller");
            }
            let _ = c.reply.send(c.record.map(|r| r.id));
            let waiting = self.creating.remove(&job).unwrap_or_default();
            for (e, reply) in waiting {
                self.enqueue(e, reply);
            }
            return;
        }
        let result = c.record.map(|record| {
            let id = record.id.clone();
            if let Some((branch, commit)) = &c.enqueue.polled {
                self.remember_polled(job.as_str(), &[(branch.clone(), commit.clone())]);
            }
            let config = self.shared.config();
            self.shared
                .forge
                .build_state(&config, &record, StatusState::Pending, None);
            let now = self.shared.clock.now_ms();
            let queued = QueuedBuild::stored(&record, Some(c.enqueue.resolved), c.not_before_ms);
            self.claims.queued(&mut self.queue, queued, now);
            tracing::info!(build = %id, "build queued");
            if crate::job_properties::disable_concurrent(&self.shared, job.as_str()) == Some(true) {
                self.abort_previous(&id);
            }
            self.timers.rebuild(&self.shared, now);
            id
        });
        self.wake_claims();
        let _ = c.reply.send(result);
        let waiting = self.creating.remove(&job).unwrap_or_default();
        for (e, reply) in waiting {
            self.enqueue(e, reply);
        }
    }

    /// During a quiet period, a trigger with the same parameters and branch joins the build
    /// already waiting (which then builds the newest commit).
    fn merge_quiet(&mut self, e: &Enqueue, now: u64) -> Option<BuildRef> {
        let id = self
            .queue
            .of_job(e.job.as_str())
            .find(|q| {
                q.not_before_ms > now
                    && q.merge
                        .as_ref()
                        .is_some_and(|m| m.params == e.new.params && m.branch == e.new.branch)
            })
            .map(|q| q.id.clone())?;
        let q = self.queue.get_mut(&id)?;
        q.resolved = Some(e.resolved.clone());
        let commit = e.new.commit.clone();
        if let Some(record) = &mut q.record {
            record.commit.clone_from(&commit);
        }
        let build = id.clone();
        // The stored record is the one the build starts from (read after this write).
        self.writer.write(move |store| {
            let stored = store.get_build(&build).and_then(|found| match found {
                Some(mut record) => {
                    record.commit = commit;
                    store.update_build(&record)
                }
                None => Ok(()),
            });
            if let Err(err) = stored {
                tracing::warn!(build = %build, error = %err, "cannot store a merged trigger");
            }
        });
        tracing::info!(build = %id, "trigger merged into a build in its quiet period");
        Some(id)
    }

    /// A trigger merged into a build in its quiet period still takes what it builds once, so
    /// that another controller receiving it too does not build it again.
    fn take_once_merged(&self, e: &Enqueue) {
        let Some(once) = e.once.clone() else { return };
        let job = e.job.clone();
        self.writer.write(move |store| {
            if let Some(shared) = store.coordination() {
                if let Err(err) = shared.take_once(&once, job.as_str()) {
                    tracing::warn!(job = %job, once = %once, error = %err, "cannot record a merged trigger as built");
                }
            }
        });
    }

    /// `disableConcurrentBuilds(abortPrevious: true)`: older builds of the job are aborted.
    fn abort_previous(&mut self, newest: &BuildRef) {
        let reason = format!("Superseded by {newest}");
        let older: Vec<BuildRef> = self
            .running
            .keys()
            .chain(self.queue.of_job(newest.job.as_str()).map(|q| &q.id))
            .filter(|id| id.job == newest.job && id.number < newest.number)
            .cloned()
            .collect();
        for id in older {
            let (reply, _) = oneshot::channel();
            self.cancel(&id, &reason, reply, false);
        }
    }

    fn dispatch(&mut self) {
        if self.stopping.is_some() {
            return;
        }
        let config = self.shared.config();
        let capacity = config.queue_capacity();
        let now = self.shared.clock.now_ms();
        while self.running.len() < capacity && self.claims.pending(&self.queue) {
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for r in self.running.values() {
                *counts.entry(r.job.as_str()).or_default() += 1;
            }
            let limits = self.limits(&config);
            let next = self.claims.next(&mut self.queue, now, &mut |b| {
                let job = b.id.job.as_str();
                b.not_before_ms <= now
                    && counts.get(job).copied().unwrap_or(0) < limits.get(job).copied().unwrap_or(1)
            });
            let Some(next) = next else { break };
            self.start(next, &config, false);
        }
    }

    /// Tells the claims that a build may start now (a build was queued or ended, or the
    /// configuration changed).
    fn wake_claims(&mut self) {
        let (config, shared) = (self.shared.config(), self.shared.clone());
        let limits = || job_limits(&shared, &config);
        self.claims.wake(&config, &limits);
    }

    /// Builds of each job that may run at once (see [`job_limits`]).
    fn limits(&self, config: &Config) -> HashMap<String, usize> {
        job_limits(&self.shared, config)
    }

    /// Starts a queued build, or (`resume`) one the previous controller left running.
    fn start(&mut self, q: QueuedBuild, config: &Arc<Config>, resume: bool) {
        let id = q.id.clone();
        let Some(job) = config.job(id.job.as_str()).cloned() else {
            self.abort_queued(
                q,
                &format!("Job `{}` is no longer configured", id.job),
                None,
            );
            return;
        };
        let slot = (0..)
            .find(|s| {
                !self
                    .running
                    .values()
                    .any(|r| r.job == id.job.as_str() && r.slot == *s)
            })
            .unwrap_or(0);
        let cancel = CancellationToken::new();
        let (detach, in_pod) = (CancellationToken::new(), Arc::new(AtomicBool::new(false)));
        let resuming = Arc::new(AtomicBool::new(resume));
        let (control_tx, control) = mpsc::unbounded_channel();
        let inputs = PendingInputs::default();
        let crate::fencing::Fenced {
            store,
            token: fenced,
            claim,
        } = self.claims.fence(&self.shared.store, &id, q.epoch);
        if let (Some(backend), Some(epoch)) = (&self.shared.backend, q.epoch) {
            // Its pods' agents refuse a controller that drives it at a lower epoch.
            backend.fence((id.job.as_str(), id.number), Some(epoch));
        }
        let record = match q.record {
            Some(record) => StartRecord::InHand(record),
            None => {
                // Read after the writes handed over before (a merged trigger's commit).
                let (tx, rx) = oneshot::channel();
                let build = id.clone();
                self.writer.write(move |store| {
                    let _ = tx.send(store.get_build(&build));
                });
                StartRecord::Stored(rx)
            }
        };
        let running = Running {
            job: id.job.to_string(),
            slot,
            cancel: cancel.clone(),
            control: control_tx.clone(),
            inputs: inputs.clone(),
            detach: detach.clone(),
            in_pod: in_pod.clone(),
            resuming: resuming.clone(),
            store: store.clone(),
        };
        let shared = self.shared.clone();
        // The build's log goes live now: followers of the queued build were waiting for it.
        let log = shared.live.start(id.clone());
        let (config, commands) = (config.clone(), self.me.clone());
        let workspace = shared.workspace(id.job.as_str(), slot);
        let task = move |record| BuildTask {
            recorder: Recorder::new(
                store,
                shared.clock.clone(),
                record,
                log,
                shared.waiting.clone(),
            ),
            shared,
            config,
            workspace,
            job,
            resolved: q.resolved,
            cancel,
            control,
            control_tx,
            inputs,
            resume,
            detach,
            in_pod,
            resuming,
            commands,
            job_properties: None,
            fenced,
            claim,
        };
        let handle = self
            .tasks
            .spawn(crate::runner::start(id.clone(), record, task));
        self.task_builds.insert(handle.id(), id.clone());
        tracing::info!(build = %id, slot, "build started");
        self.running.insert(id, running);
    }

    fn finished(&mut self, done: Done) {
        self.running.remove(&done.id);
        if let Some(backend) = &self.shared.backend {
            backend.fence((done.id.job.as_str(), done.id.number), None);
        }
        self.shared.live.remove(&done.id);
        self.wake_claims();
        if done.detached {
            return;
        }
        self.shared.update_stats(|s| {
            s.finished_total += 1;
            *s.finished_by_result.entry(done.result).or_default() += 1;
            s.duration_seconds_sum += done.duration_ms as f64 / 1000.0;
            s.duration_count += 1;
            s.queue_seconds_sum += done.queued_ms as f64 / 1000.0;
        });
        self.job_properties_at_end(&done);
        if done.info.is_some() {
            let now = self.shared.clock.now_ms();
            self.timers.rebuild(&self.shared, now);
        }
        self.retain(&done.id.job);
        if self.stopping.is_none() {
            self.trigger_downstream(&done);
        }
    }

    /// What the build set for its job (recorded as it ran, see `Command::JobProperties`;
    /// again here, for builds whose coordinator could not tell). A build whose pipeline
    /// computes none forgets an earlier build's computed record (never what a `properties`
    /// step set, which stays until another step replaces it, as in Jenkins).
    fn job_properties_at_end(&self, done: &Done) {
        let record = match (&done.job_properties, &done.info) {
            (Some(p), _) => Some(JobPropertiesRecord::of(done.id.number, p)),
            (None, Some(info))
                if !kiln_engine::computes_job_properties(&info.pipeline)
                    && !self.shared.job_properties_by_step(done.id.job.as_str()) =>
            {
                None
            }
            // The pipeline computes them but the build ended before it got there.
            _ => return,
        };
        self.record_job_properties(&done.id.job, record);
    }

    /// Keeps `record` for the job in memory and, off the actor's thread, in the job's
    /// stored record; says whether anything changed.
    fn record_job_properties(&self, job: &JobName, record: Option<JobPropertiesRecord>) -> bool {
        if !self.shared.set_job_properties(job.as_str(), record.clone()) {
            return false;
        }
        let name = job.clone();
        self.writer.write(move |store| {
            crate::job_properties::write(store, name, record.as_ref());
        });
        true
    }

    /// A build task panicked: its build is recorded as failed so nothing waits for it.
    fn task_failed(&mut self, e: &tokio::task::JoinError) {
        let Some(id) = self.task_builds.remove(&e.id()) else {
            return;
        };
        tracing::error!(build = %id, error = %e, "build task failed");
        let store = match self.running.remove(&id) {
            Some(running) => running.store,
            None => self.shared.store.clone(),
        };
        self.shared.live.remove(&id);
        let now = self.shared.clock.now_ms();
        self.writer.write(move |_| {
            if let Ok(Some(mut b)) = store.get_build(&id) {
                abort_record(&mut b, "kiln internal error", now);
                b.result = Some(kiln_types::BuildResult::Failure);
                let _ = store.append_log(
                    &id,
                    b"kiln: internal error in the build task\nFinished: FAILURE\n",
                );
                let _ = store.update_build(&b);
            }
        });
    }

    /// Deletes the job's builds past its retention, off the actor's thread.
    fn retain(&self, job: &JobName) {
        let config = self.shared.config();
        let Some(cfg) = config.job(job.as_str()) else {
            return;
        };
        let mut keep = Keep {
            builds: cfg.retention.builds,
            days: cfg.retention.days,
        };
        // kiln.yaml's `retention:` comes first, then the pipeline's discarder: its literal
        // counts, and those its last build computed.
        if keep.is_unlimited() {
            let set = self.shared.job_properties(job.as_str());
            let replaced = set.as_ref().is_some_and(|s| s.replaces.discarder);
            if let Some(Ok(info)) = self.shared.pipeline(job.as_str()).filter(|_| !replaced) {
                if let Some(r) = &info.retention {
                    keep.builds = r.builds_to_keep.map(u64::from);
                    keep.days = r.days_to_keep.map(u64::from);
                }
            }
            if let Some(set) = set {
                keep.builds = set.builds_to_keep.map(u64::from).or(keep.builds);
                keep.days = set.days_to_keep.map(u64::from).or(keep.days);
            }
        }
        if keep.is_unlimited() {
            return;
        }
        let (store, dir, job) = (
            self.shared.store.clone(),
            self.shared.builds_root(),
            job.clone(),
        );
        let now = self.shared.clock.now_ms();
        tokio::task::spawn_blocking(move || {
            // Controllers sharing the store take turns: one deletes a job's builds at a time.
            let _turn = match store
                .coordination()
                .map(|s| s.exclusive(&format!("retention:{job}")))
            {
                Some(Err(e)) => {
                    tracing::warn!(job = %job, error = %e, "retention skipped: cannot take its lock");
                    return;
                }
                turn => turn,
            };
            if let Err(e) = retention::apply(store.as_ref(), &dir, &job, keep, now) {
                tracing::warn!(job = %job, error = %e, "retention failed");
            }
        });
    }

    /// Jobs whose `upstream` lists the finished job, when its result is good enough.
    fn trigger_downstream(&self, done: &Done) {
        let config = self.shared.config();
        let upstream = done.id.job.as_str();
        for j in &config.jobs {
            let by_config = j.triggers.upstream.iter().any(|u| u.as_str() == upstream)
                && done.result == kiln_types::BuildResult::Success;
            // A `properties` step in a stage that set the job's triggers replaced these.
            let replaced = self
                .shared
                .job_properties(j.name.as_str())
                .is_some_and(|s| s.replaces.triggers);
            let by_pipeline = !replaced
                && self
                    .shared
                    .pipeline(j.name.as_str())
                    .and_then(Result::ok)
                    .is_some_and(|i| {
                        i.upstream
                            .iter()
                            .any(|(name, threshold)| name == upstream && done.result <= *threshold)
                    });
            if by_config || by_pipeline {
                let cause = BuildCause::Upstream {
                    job: upstream.to_owned(),
                    number: done.id.number,
                };
                self.spawn_trigger(TriggerRequest::new(j.name.as_str(), cause), None);
            }
        }
    }

    /// Triggers a build from a helper task (reading the source must not block the actor).
    pub(crate) fn spawn_trigger(&self, req: TriggerRequest, polled: Option<(String, String)>) {
        let Some(tx) = self.me.upgrade() else { return };
        let handle = SchedulerHandle::new(self.shared.clone(), tx);
        tokio::spawn(async move {
            if let Err(e) = handle.trigger_polled(req.clone(), polled).await {
                tracing::warn!(job = %req.job, cause = %req.cause.description(), error = %e, "automatic trigger failed");
            }
        });
    }

    /// Triggers a cron build that several controllers sharing the store may fire at once:
    /// the first to create it wins, the others build nothing.
    fn spawn_trigger_once(&self, req: TriggerRequest, once: kiln_store::Once) {
        let Some(tx) = self.me.upgrade() else { return };
        let handle = SchedulerHandle::new(self.shared.clone(), tx);
        tokio::spawn(async move {
            match handle.trigger_once(req.clone(), once).await {
                Ok(_) => {}
                Err(TriggerError::AlreadyBuilt(once)) => {
                    tracing::info!(job = %req.job, once = %once, "timer fired by another controller");
                }
                Err(e) => {
                    tracing::warn!(job = %req.job, cause = %req.cause.description(), error = %e, "automatic trigger failed");
                }
            }
        });
    }

    fn fire_timers(&mut self) {
        let now = self.shared.clock.now_ms();
        let shared_store = self.shared.store.coordination().is_some();
        for due in self.timers.take_due(now) {
            if self.stopping.is_some() {
                break;
            }
            let once = due.once();
            let (job, params) = (due.job, due.params);
            match due.kind {
                TimerKind::Cron => {
                    let mut req = if params.is_empty() {
                        tracing::info!(job = %job, "cron trigger");
                        TriggerRequest::new(job, BuildCause::Timer)
                    } else {
                        tracing::info!(job = %job, "parameterized cron trigger");
                        TriggerRequest::new(job, BuildCause::ParameterizedTimer(params.clone()))
                    };
                    req.params = params;
                    if shared_store {
                        self.spawn_trigger_once(req, once);
                    } else {
                        self.spawn_trigger(req, None);
                    }
                }
                TimerKind::Scan if shared_store => self.fire_once(once, Command::Scan(job)),
                TimerKind::Scan => self.scan(job),
                TimerKind::Prune => {
                    if let Some(tx) = self.me.upgrade() {
                        let handle = SchedulerHandle::new(self.shared.clone(), tx);
                        tokio::spawn(crate::multibranch::prune_expired(handle, job));
                    }
                }
                TimerKind::Poll => {
                    if self.polling.contains(&job) {
                        tracing::debug!(job = %job, "poll skipped: the last one still runs");
                        continue;
                    }
                    let Some(tx) = self.me.upgrade() else {
                        continue;
                    };
                    self.polling.insert(job.clone());
                    let handle = SchedulerHandle::new(self.shared.clone(), tx);
                    if shared_store {
                        tokio::spawn(poll_once(handle, job, once));
                    } else {
                        tokio::spawn(crate::poll::poll(handle, job));
                    }
                }
            }
        }
    }

    /// Sends `then` to the actor if this controller is the first to take `once` (a scan's
    /// due time) in the shared store.
    fn fire_once(&self, once: kiln_store::Once, then: Command) {
        let Some(tx) = self.me.upgrade() else { return };
        let store = self.shared.store.clone();
        tokio::spawn(async move {
            if take_timer(store, once).await {
                let _ = tx.send(then);
            }
        });
    }

    fn remember_polled(&self, job: &str, seen: &[(String, String)]) {
        if seen.is_empty() {
            return;
        }
        let Ok(name) = JobName::new(job) else { return };
        let (job, seen) = (job.to_owned(), seen.to_vec());
        self.writer
            .write(move |store| remember(store, &job, name, &seen));
    }

    /// Cancels a build; `reply` is answered once what the cancel stored is stored.
    /// On a shared store, a build neither running nor queued here is another controller's:
    /// the cancel is sent to it, unless it was `relayed` from one (see `remote_control.rs`).
    fn cancel(&mut self, id: &BuildRef, reason: &str, reply: Reply, relayed: bool) {
        if let Some(r) = self.running.get(id) {
            if relayed && r.resuming.load(Ordering::Acquire) {
                // Left unanswered: the answerer sends it again once the build is attached.
                return;
            }
            let _ = r.control.send(Control::Reason(reason.to_owned()));
            r.cancel.cancel();
            tracing::info!(build = %id, reason, "cancelling a running build");
            let _ = reply.send(Ok(()));
            return;
        }
        if let Some(q) = self.queue.remove(id) {
            self.abort_queued(q, reason, Some(reply));
            return;
        }
        let ask = || Ask::Cancel {
            reason: reason.to_owned(),
        };
        let Some(reply) = self.elsewhere(id, reply, relayed, ask) else {
            return;
        };
        // Neither running nor queued here: the store says, read on the writer's thread (the
        // actor never waits for the store), after the writes handed over before.
        let (id, reason, now) = (id.clone(), reason.to_owned(), self.shared.clock.now_ms());
        self.writer.write(move |store| {
            let _ = reply.send(cancel_stored(store, &id, &reason, now));
        });
    }

    /// Finishes a build that never ran: ABORTED with `reason`, its log saying so.
    /// The stored log and record say so, then whoever waits for the build (its followers,
    /// an upstream `build` step) looks again and `reply` (a cancel's) is answered.
    fn abort_queued(&mut self, q: QueuedBuild, reason: &str, reply: Option<Reply>) {
        let id = q.id;
        tracing::info!(build = %id, reason, "queued build aborted");
        let text = aborted_while_queued(reason);
        let (reason, now) = (reason.to_owned(), self.shared.clock.now_ms());
        let (config, shared) = (self.shared.config(), self.shared.clone());
        // A build claimed here is written under its claim.
        let store = match q.epoch {
            Some(_) => self.claims.fence(&shared.store, &id, q.epoch).store,
            None => shared.store.clone(),
        };
        let in_hand = q.record;
        // After the writes handed over before: the record read is the latest.
        self.writer.write(move |_| {
            let record = match in_hand {
                Some(record) => Ok(Some(*record)),
                None => store.get_build(&id),
            };
            let answer = match record {
                Ok(Some(mut record)) => {
                    abort_record(&mut record, &reason, now);
                    shared
                        .forge
                        .build_state(&config, &record, StatusState::Error, None);
                    if let Err(e) = store.append_log(&id, text.as_bytes()) {
                        tracing::error!(build = %id, error = %e, "cannot append to a build's log");
                    }
                    if let Err(e) = store.update_build(&record) {
                        tracing::error!(build = %id, error = %e, "cannot store an aborted build");
                    }
                    Ok(())
                }
                Ok(None) => Err(ControlError::NotFound(id.to_string())),
                Err(e) => {
                    tracing::error!(build = %id, error = %e, "cannot read a queued build to abort it");
                    Err(ControlError::Store(e))
                }
            };
            shared.live.queued_ended();
            if let Some(reply) = reply {
                let _ = reply.send(answer);
            }
        });
    }

    /// Answers a running build's input; when nothing waits for an answer, the stored record
    /// says why, read on the writer's thread (the actor never waits for the store).
    fn answer(&mut self, id: BuildRef, answer: InputAnswer, mut reply: Reply, relayed: bool) {
        let ask = Ask::input(&answer);
        // A build whose record says Finished may still be in `running` until its task's end
        // reaches the actor: when nothing waits for an answer, the stored record decides.
        if let Some(r) = self.running.get(&id) {
            if relayed && r.resuming.load(Ordering::Acquire) {
                return;
            }
            let decided = match r.inputs.answer(answer) {
                Ok(()) => Some(Ok(())),
                Err(Refused::UnknownParameter { name, known }) => {
                    Some(Err(ControlError::UnknownInputParameter {
                        build: id.to_string(),
                        name,
                        known: if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        },
                    }))
                }
                Err(Refused::BadValue { name, why }) => Some(Err(ControlError::BadInputValue {
                    build: id.to_string(),
                    name,
                    why,
                })),
                Err(Refused::NoneWaiting) => None,
            };
            if let Some(answered) = decided {
                let _ = reply.send(answered);
                return;
            }
        } else {
            let Some(back) = self.elsewhere(&id, reply, relayed, || ask) else {
                return;
            };
            reply = back;
        }
        self.writer.write(move |store| {
            let _ = reply.send(answer_stored(store, &id));
        });
    }

    /// A control (cancel, input answer) for a build that is not running or queued here. On
    /// a store of this controller alone, `reply` comes back: the stored record decides. On a
    /// shared store the build is another controller's: the control is sent to it (see
    /// `remote_control.rs`), or, `relayed` from another controller, answered from the stored
    /// record when the build finished or is gone, and else left unanswered (the build was
    /// claimed or taken over here but not started yet: the answerer looks again).
    fn elsewhere(
        &self,
        id: &BuildRef,
        reply: Reply,
        relayed: bool,
        ask: impl FnOnce() -> Ask,
    ) -> Option<Reply> {
        if self.shared.store.coordination().is_none() {
            return Some(reply);
        }
        let id = id.clone();
        if relayed {
            self.writer.write(move |store| match store.get_build(&id) {
                Ok(None) => drop(reply.send(Err(ControlError::NotFound(id.to_string())))),
                Ok(Some(b)) if b.status == BuildStatus::Finished => {
                    drop(reply.send(Err(ControlError::Finished(id.to_string()))))
                }
                Ok(Some(_)) => {}
                Err(e) => drop(reply.send(Err(ControlError::Store(e)))),
            });
        } else {
            tokio::spawn(crate::remote_control::send(
                self.shared.clone(),
                id,
                ask(),
                reply,
            ));
        }
        None
    }

    fn reload(&mut self, config: Arc<Config>) {
        self.shared.set_config(config.clone());
        self.drop_gone_jobs();
        self.wake_claims();
        tracing::info!(jobs = config.jobs.len(), "configuration reloaded");
    }

    /// Scans a multibranch job's repository in the background.
    fn scan(&self, job: String) {
        if let Some(tx) = self.me.upgrade() {
            let handle = SchedulerHandle::new(self.shared.clone(), tx);
            tokio::spawn(crate::multibranch::scan(handle, job));
        }
    }

    /// Multibranch children came or went: queued builds of removed ones are aborted.
    fn children_changed(&mut self) {
        self.drop_gone_jobs();
    }

    /// Aborts the queued builds of jobs no longer configured; reads the schedules again.
    fn drop_gone_jobs(&mut self) {
        let config = self.shared.config();
        let gone: Vec<BuildRef> = self
            .queue
            .ids()
            .into_iter()
            .filter(|id| config.job(id.job.as_str()).is_none())
            .collect();
        for id in gone {
            if let Some(q) = self.queue.remove(&id) {
                let reason = format!("Job `{}` was removed from the configuration", id.job);
                self.abort_queued(q, &reason, None);
            }
        }
        let now = self.shared.clock.now_ms();
        self.timers.rebuild(&self.shared, now);
    }

    /// Stops taking work: builds whose steps run in their pods are left running there (the
    /// next start takes them over), other running builds are aborted (their posts run),
    /// queued builds stay queued in the store for the next start.
    fn stop(&mut self, reply: Option<oneshot::Sender<()>>) {
        let first = self.stopping.is_none();
        let replies = self.stopping.get_or_insert_with(Vec::new);
        replies.extend(reply);
        if !first {
            return;
        }
        for (id, r) in &self.running {
            if r.in_pod.load(Ordering::Acquire) {
                r.detach.cancel();
                tracing::info!(build = %id, "leaving a build running in its pod: shutting down");
                continue;
            }
            let _ = r.control.send(Control::Reason(
                "The controller is shutting down".to_owned(),
            ));
            r.cancel.cancel();
            tracing::info!(build = %id, "aborting a running build: shutting down");
        }
        self.claims.stop();
        self.commands.close();
    }

    fn publish_stats(&self) {
        let config = self.shared.config();
        let (queued, running) = (self.queue.len(), self.running.len());
        self.shared.update_stats(|s| {
            s.queued = queued;
            s.running = running;
            s.capacity = config.queue_capacity();
        });
    }
}

/// Builds of each job that may run at once: 1 with `disableConcurrentBuilds()`, else the
/// job's `concurrency`.
fn job_limits(shared: &Shared, config: &Config) -> HashMap<String, usize> {
    config
        .jobs
        .iter()
        .map(|j| {
            let one = crate::job_properties::disable_concurrent(shared, j.name.as_str()).is_some();
            let limit = if one { 1 } else { j.concurrency.max(1) };
            (j.name.to_string(), limit)
        })
        .collect()
}

/// Cancels a build that is neither running nor queued: an error unless the store has it
/// live (a scheduler's leftover), which is then finished now.
pub(crate) fn cancel_stored(
    store: &dyn Store,
    id: &BuildRef,
    reason: &str,
    now_ms: u64,
) -> Result<(), ControlError> {
    match store.get_build(id).map_err(ControlError::Store)? {
        None => Err(ControlError::NotFound(id.to_string())),
        Some(b) if b.status == BuildStatus::Finished => Err(ControlError::Finished(id.to_string())),
        Some(mut b) => {
            // Queued on another controller, or in the shared store unclaimed: its log says
            // so as the queue's owner would write it.
            if b.status == BuildStatus::Queued {
                let text = aborted_while_queued(reason);
                store
                    .append_log(id, text.as_bytes())
                    .map_err(ControlError::Store)?;
            }
            abort_record(&mut b, reason, now_ms);
            store.update_build(&b).map_err(ControlError::Store)
        }
    }
}

/// The log of a build aborted before it ran.
fn aborted_while_queued(reason: &str) -> String {
    format!("{reason} while queued\nFinished: ABORTED\n")
}

/// Merges a trigger into a build in its quiet period that another controller queued (see
/// `Coordination::merge_quiet`); `None` when there is none (or the store cannot say: a
/// new build is queued then). A merged trigger still takes what it builds once.
fn merge_elsewhere(
    shared: &dyn kiln_store::Coordination,
    e: &Enqueue,
    new: &kiln_store::NewBuild,
) -> Option<Result<BuildRecord, TriggerError>> {
    let record = match shared.merge_quiet(&e.job, new) {
        Ok(found) => found?,
        Err(err) => {
            tracing::warn!(job = %e.job, error = %err, "cannot look for a build in its quiet period");
            return None;
        }
    };
    if let Some(once) = &e.once {
        match shared.take_once(once, e.job.as_str()) {
            Ok(true) => {}
            Ok(false) => return Some(Err(TriggerError::AlreadyBuilt(once.clone()))),
            Err(err) => return Some(Err(TriggerError::Store(err))),
        }
    }
    Some(Ok(record))
}

/// Why a build that waits for no answer here cannot take one, as its stored record says.
pub(crate) fn answer_stored(store: &dyn Store, id: &BuildRef) -> Result<(), ControlError> {
    match store.get_build(id).map_err(ControlError::Store)? {
        None => Err(ControlError::NotFound(id.to_string())),
        Some(b) if b.status == BuildStatus::Finished => Err(ControlError::Finished(id.to_string())),
        Some(_) => Err(ControlError::NoPendingInput(id.to_string())),
    }
}

/// Stores the commits a poll saw for a job's branches (the job's record keeps them).
fn remember(store: &dyn Store, job: &str, name: JobName, seen: &[(String, String)]) {
    let res = store.get_job(&name).and_then(|rec| {
        let mut rec = rec.unwrap_or(kiln_store::JobRecord {
            name,
            last_number: 0,
            meta: Default::default(),
        });
        let mut changed = false;
        for (branch, commit) in seen {
            let key = crate::poll::meta_key(branch);
            if rec.meta.get(&key) != Some(commit) {
                rec.meta.insert(key, commit.clone());
                changed = true;
            }
        }
        if changed { store.put_job(&rec) } else { Ok(()) }
    });
    if let Err(e) = res {
        tracing::warn!(job, error = %e, "cannot remember the polled commits");
    }
}

/// Whether this controller is the first to take a timer's due time in the shared store (a
/// store error counts as no: another controller fires it).
async fn take_timer(store: Arc<dyn Store>, once: kiln_store::Once) -> bool {
    let taken = tokio::task::spawn_blocking(move || {
        let shared = store.coordination()?;
        match shared.take_once(&once, "") {
            Ok(taken) => {
                if !taken {
                    tracing::debug!(once = %once, "timer fired by another controller");
                }
                Some(taken)
            }
            Err(e) => {
                tracing::warn!(once = %once, error = %e, "cannot take a timer's due time");
                None
            }
        }
    })
    .await;
    matches!(taken, Ok(Some(true)))
}

/// A poll due on several controllers sharing the store: the one that takes its due time
/// polls; the others tell the actor it is done.
async fn poll_once(handle: SchedulerHandle, job: String, once: kiln_store::Once) {
    if take_timer(handle.shared().store.clone(), once).await {
        crate::poll::poll(handle, job).await;
    } else {
        handle.send(Command::Polled(job, Vec::new()));
    }
}
