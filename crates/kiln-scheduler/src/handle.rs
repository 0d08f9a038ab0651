//! [`SchedulerHandle`]: what the server (and tests) hold to talk to the scheduler.

use crate::command::Command;
use crate::error::{ControlError, TriggerError};
use crate::follower::LogFollower;
use crate::job_view;
use crate::matching;
use crate::request::TriggerRequest;
use crate::shared::Shared;
use crate::trigger;
use crate::view::{JobView, SchedulerStats};
use kiln_config::Config;
use kiln_engine::InputAnswer;
use kiln_types::BuildRef;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{mpsc, oneshot};

/// A cheap, cloneable handle to a running scheduler. When every handle is dropped the
/// scheduler stops as if [`SchedulerHandle::shutdown`] was called.
#[derive(Clone)]
pub struct SchedulerHandle {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
}

impl std::fmt::Debug for SchedulerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerHandle").finish_non_exhaustive()
    }
}

impl SchedulerHandle {
    pub(crate) fn new(shared: Arc<Shared>, commands: mpsc::UnboundedSender<Command>) -> Self {
        SchedulerHandle { shared, commands }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn send(&self, cmd: Command) {
        let _ = self.commands.send(cmd);
    }

    /// Queues a build of `req.job`: reads the job's source (branch -> commit, the
    /// Jenkinsfile at that commit), type-checks the parameters against the pipeline, and
    /// returns once the build is durably queued. An invalid Jenkinsfile still gets a build,
    /// which fails with the diagnostics in its log.
    pub async fn trigger(&self, req: TriggerRequest) -> Result<BuildRef, TriggerError> {
        self.trigger_polled(req, None).await
    }

    pub(crate) async fn trigger_polled(
        &self,
        req: TriggerRequest,
        polled: Option<(String, String)>,
    ) -> Result<BuildRef, TriggerError> {
        let mut enqueue = match trigger::prepare(&self.shared, &req).await {
            Ok(e) => e,
            Err(TriggerError::Multibranch(job)) => {
                self.send(Command::Scan(job.clone()));
                return Err(TriggerError::Multibranch(job));
            }
            Err(e) => return Err(e),
        };
        enqueue.polled = polled;
        self.enqueue(enqueue).await
    }

    /// Scans a multibranch job's repository now (in the background): new branches get a
    /// job and a build, moved ones a build, gone ones are orphaned.
    pub fn scan(&self, job: &str) {
        self.send(Command::Scan(job.to_owned()));
    }

    /// A branch, tag or change request of multibranch job `job` went away (a webhook said
    /// so): its child is orphaned, and removed per the job's `orphaned_item_strategy`.
    /// Returns the child's name when it had one.
    pub async fn forget(&self, job: &str, gone: &crate::Gone) -> Option<String> {
        crate::multibranch::forget(self, job, gone)
            .await
            .map(|n| n.to_string())
    }

    /// A comment on a change request of multibranch job `job`: its child is rebuilt when
    /// its pipeline's `issueCommentTrigger` matches and the author has write access.
    pub async fn comment(&self, job: &str, comment: &crate::Comment) -> crate::CommentOutcome {
        crate::multibranch::on_comment(self, job, comment).await
    }

    /// Multibranch children were added or removed: the actor drops queued builds of removed
    /// ones and reads the schedules again.
    pub(crate) fn children_changed(&self) {
        self.shared.refresh_children();
        self.send(Command::ChildrenChanged);
    }

    /// Where build `number` of `job` keeps its artifacts, stashes and reports.
    pub fn build_files_dir(&self, job: &str, number: u64) -> std::path::PathBuf {
        self.shared.builds_root().join(job).join(number.to_string())
    }

    /// [`SchedulerHandle::trigger`] of something that builds once across every controller
    /// sharing the store (a webhook delivery, a timer's due time): when another controller
    /// (or this one) built it before, [`TriggerError::AlreadyBuilt`] and no build. A store
    /// of one controller's (sled) has nothing to share: the build is created as by `trigger`.
    pub async fn trigger_once(
        &self,
        req: TriggerRequest,
        once: kiln_store::Once,
    ) -> Result<BuildRef, TriggerError> {
        let mut enqueue = trigger::prepare(&self.shared, &req).await?;
        enqueue.once = Some(once);
        self.enqueue(enqueue).await
    }

    /// [`SchedulerHandle::trigger`] with the quiet period a `build` step asked for.
    pub(crate) async fn trigger_with_quiet(
        &self,
        req: TriggerRequest,
        quiet_secs: Option<u64>,
    ) -> Result<BuildRef, TriggerError> {
        let mut enqueue = trigger::prepare(&self.shared, &req).await?;
        enqueue.quiet_secs = quiet_secs;
        self.enqueue(enqueue).await
    }

    async fn enqueue(&self, enqueue: crate::command::Enqueue) -> Result<BuildRef, TriggerError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Enqueue(Box::new(enqueue), tx))
            .map_err(|_| TriggerError::ShuttingDown)?;
        rx.await.map_err(|_| TriggerError::ShuttingDown)?
    }

    /// Cancels a build: a queued one is removed (ABORTED), a running one has its processes
    /// killed and its `aborted` posts run.
    pub async fn cancel(&self, id: &BuildRef, by: &str) -> Result<(), ControlError> {
        self.cancel_because(id, format!("Aborted by {by}")).await
    }

    /// Cancels a build whose log then ends with `reason` (`Superseded by app#5`).
    pub(crate) async fn cancel_because(
        &self,
        id: &BuildRef,
        reason: String,
    ) -> Result<(), ControlError> {
        self.control(|reply| Command::Cancel {
            id: id.clone(),
            reason,
            reply,
            relayed: false,
        })
        .await
    }

    /// Answers the oldest `input` the build waits for.
    pub async fn answer_input(
        &self,
        id: &BuildRef,
        answer: InputAnswer,
    ) -> Result<(), ControlError> {
        self.control(|reply| Command::Answer {
            id: id.clone(),
            answer,
            reply,
            relayed: false,
        })
        .await
    }

    /// Sends the actor a control command and waits for its answer.
    async fn control(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<(), ControlError>>) -> Command,
    ) -> Result<(), ControlError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(command(reply))
            .map_err(|_| ControlError::ShuttingDown)?;
        rx.await.map_err(|_| ControlError::ShuttingDown)?
    }

    /// Follows a build's log from byte `from`: what is stored, then new bytes as they come,
    /// until the build finished.
    pub fn follow_log(&self, id: &BuildRef, from: u64) -> LogFollower {
        // A queued build's log goes live when it starts: watched from before the look.
        let went_live = self.shared.live.watch();
        let live = went_live.get(id);
        // A build another controller drives is read from the shared store as it grows,
        // woken by the store's signal of each append.
        let grown = match (&live, self.shared.store.coordination()) {
            (None, Some(_)) => Some(self.shared.signals.follow_log(id)),
            _ => None,
        };
        LogFollower::new(self.shared.store.clone(), id.clone(), from, live, grown)
            .waiting_to_start(went_live)
    }

    /// Every configured job, with the parameters and triggers of its last-read pipeline.
    pub fn jobs(&self) -> Vec<JobView> {
        let config = self.shared.config();
        config
            .jobs
            .iter()
            .map(|j| {
                let name = j.name.as_str();
                job_view::view(
                    j,
                    self.shared.pipeline(name),
                    self.shared.job_properties(name),
                )
            })
            .collect()
    }

    pub fn job(&self, name: &str) -> Option<JobView> {
        let config = self.shared.config();
        let j = config.job(name)?;
        Some(job_view::view(
            j,
            self.shared.pipeline(name),
            self.shared.job_properties(name),
        ))
    }

    /// The Jenkinsfile text a build of `job` reads at `commit` (or the head of `branch`, or
    /// of the job's branch): what a replay starts from.
    pub async fn jenkinsfile(
        &self,
        job: &str,
        branch: Option<&str>,
        commit: Option<&str>,
    ) -> Result<String, TriggerError> {
        let config = self
            .shared
            .job(job)
            .ok_or_else(|| TriggerError::UnknownJob(job.to_owned()))?;
        let resolved = crate::source::resolve(&self.shared.git, &config, branch, commit)
            .await
            .map_err(|source| {
                TriggerError::Source(Box::new(crate::error::JobSourceError {
                    job: job.to_owned(),
                    source,
                }))
            })?;
        Ok(resolved.loaded.source.text().to_owned())
    }

    /// The jobs a push webhook for `repo_url` (and a branch or tag) should build.
    pub fn jobs_for_push(
        &self,
        repo_url: &str,
        branch: Option<&str>,
        tag: Option<&str>,
    ) -> Vec<String> {
        matching::jobs_for_push(&self.shared.config(), repo_url, branch, tag)
    }

    /// The jobs a pull or merge request of `repo_url` into `target` should build.
    pub fn jobs_for_change(&self, repo_url: &str, target: &str) -> Vec<String> {
        matching::jobs_for_change(&self.shared.config(), repo_url, target)
    }

    /// The lockable resources, their holders and the builds waiting for them.
    pub fn locks(&self) -> crate::LocksView {
        self.shared.locks.view()
    }

    pub fn stats(&self) -> SchedulerStats {
        let mut s = self.shared.stats();
        s.waiting_for_input = self.shared.waiting.load(Ordering::Relaxed);
        s
    }

    /// The configuration the scheduler works with now.
    pub fn config(&self) -> Arc<Config> {
        self.shared.config()
    }

    /// Replaces the configuration; running builds keep the one they started with, queued
    /// builds of jobs that were removed are aborted, and every job's pipeline is read again.
    pub async fn reload(&self, config: Arc<Config>) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Reload(config, tx)).is_ok() && rx.await.is_ok() {
            // New and changed jobs show their parameters and pipeline triggers at once.
            trigger::refresh_all(self.clone());
        }
    }

    /// Whether the scheduler's actor task is alive: false once it stopped (after
    /// [`SchedulerHandle::shutdown`] began, or if the task ended abnormally).
    pub fn is_running(&self) -> bool {
        !self.commands.is_closed()
    }

    /// Stops the scheduler: running builds are aborted (their posts run) and recorded;
    /// queued builds stay queued for the next start. Returns when the builds have ended.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}
