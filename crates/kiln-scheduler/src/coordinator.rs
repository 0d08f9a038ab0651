//! [`ServerCoordinator`]: kiln-engine's [`Coordinator`] for one build of the server: locks
//! from the server's one [`crate::locks::LockTable`], milestones across the job's running
//! builds (superseded builds are cancelled through the actor), and downstream builds
//! queued through a handle (see [`crate::downstream`]).

use crate::command::Command;
use crate::fencing::BuildFence;
use crate::handle::SchedulerHandle;
use crate::shared::Shared;
use async_trait::async_trait;
use kiln_engine::{
    BuildId, Coordinator, JobRequest, LockAttempt, LockRequest, MilestoneOutcome, StartedJob,
};
use kiln_types::{BuildRef, JobName};
use std::sync::Arc;
use tokio::sync::mpsc;

pub(crate) struct ServerCoordinator {
    shared: Arc<Shared>,
    /// Weak, so a running build does not keep the actor alive.
    commands: mpsc::WeakUnboundedSender<Command>,
    build: BuildRef,
    id: BuildId,
    /// The build's claim, which its kept files carry.
    claim: Option<BuildFence>,
}

impl ServerCoordinator {
    pub(crate) fn new(
        shared: Arc<Shared>,
        commands: mpsc::WeakUnboundedSender<Command>,
        build: BuildRef,
        claim: Option<BuildFence>,
    ) -> Self {
        let id = BuildId {
            job: build.job.to_string(),
            number: build.number,
        };
        shared.milestones.started(&id);
        ServerCoordinator {
            shared,
            commands,
            build,
            id,
            claim,
        }
    }

    fn handle(&self) -> Option<SchedulerHandle> {
        let tx = self.commands.upgrade()?;
        Some(SchedulerHandle::new(self.shared.clone(), tx))
    }
}

impl Drop for ServerCoordinator {
    fn drop(&mut self) {
        self.shared.milestones.forget(&self.id);
    }
}

#[async_trait]
impl Coordinator for ServerCoordinator {
    fn lock(&self, req: LockRequest) -> Result<LockAttempt, String> {
        self.shared.locks.attempt(self.id.clone(), req)
    }

    async fn commit_status(&self, post: kiln_engine::StatusPost) -> Result<String, String> {
        crate::forge_steps::post(&self.shared, &self.build, post).await
    }

    async fn start_job(&self, req: JobRequest) -> Result<StartedJob, String> {
        let handle = self
            .handle()
            .ok_or_else(|| "build: the scheduler is stopping".to_owned())?;
        crate::downstream::start(&self.shared, handle, &self.build, req).await
    }

    async fn stash_saved(&self, name: &str, dir: &std::path::Path) -> Result<(), String> {
        crate::db_files::stash_saved(&self.shared, &self.build, self.claim.as_ref(), name, dir)
            .await
    }

    async fn stash_wanted(&self, name: &str, dir: &std::path::Path) -> Result<bool, String> {
        crate::db_files::stash_wanted(&self.shared, &self.build, name, dir).await
    }

    fn job_properties(&self, props: &kiln_engine::JobProperties) {
        if let Some(tx) = self.commands.upgrade() {
            let _ = tx.send(Command::JobProperties(
                self.build.clone(),
                Box::new(props.clone()),
            ));
        }
    }

    fn milestone(&self, ordinal: u32) -> MilestoneOutcome {
        let passage = self.shared.milestones.pass(&self.id, ordinal);
        if let Some(handle) = self.handle() {
            for older in passage.superseded {
                let Ok(job) = JobName::new(older.job.clone()) else {
                    continue;
                };
                let id = BuildRef {
                    job,
                    number: older.number,
                };
                let (handle, reason) = (handle.clone(), format!("Superseded by {}", self.id));
                tokio::spawn(async move {
                    if let Err(e) = handle.cancel_because(&id, reason).await {
                        tracing::debug!(build = %id, error = %e, "superseded build not cancelled");
                    }
                });
            }
        }
        passage.outcome
    }
}
