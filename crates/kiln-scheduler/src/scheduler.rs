//! Starting the scheduler: recovery of the previous run's builds, then the actor task.

use crate::actor::Actor;
use crate::clock::{Clock, SystemClock};
use crate::error::SchedulerError;
use crate::handle::SchedulerHandle;
use crate::kube::{KubeAgent, KubeBackend};
use crate::recovery;
use crate::shared::Shared;
use crate::trigger;
use kiln_config::Config;
use kiln_store::{BuildStatus, Store};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;

/// kiln's build scheduler.
pub struct Scheduler;

impl Scheduler {
    /// Starts the scheduler on the current tokio runtime. Builds the previous run left
    /// running in a Kubernetes pod are resumed in it; other builds it left running are
    /// finished as ABORTED ("controller restarted"); queued ones are queued again.
    pub fn start(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        data_dir: PathBuf,
    ) -> Result<SchedulerHandle, SchedulerError> {
        Scheduler::start_with_clock(config, store, data_dir, Arc::new(SystemClock))
    }

    /// [`Scheduler::start`] with another clock (tests move a [`crate::ManualClock`]).
    pub fn start_with_clock(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        data_dir: PathBuf,
        clock: Arc<dyn Clock>,
    ) -> Result<SchedulerHandle, SchedulerError> {
        Scheduler::start_with_kube_agent(config, store, data_dir, clock, KubeAgent::default())
    }

    /// [`Scheduler::start_with_clock`] with how build pods get the kiln agent (tests of a
    /// fake cluster run the agent binary of their target directory).
    pub fn start_with_kube_agent(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        data_dir: PathBuf,
        clock: Arc<dyn Clock>,
        agent: KubeAgent,
    ) -> Result<SchedulerHandle, SchedulerError> {
        Scheduler::start_sandboxed(config, store, data_dir, clock, agent, None)
    }

    /// [`Scheduler::start_with_kube_agent`] whose local builds run their processes in
    /// `sandbox` (unless `executors.local.sandbox` is `off`).
    pub fn start_sandboxed(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        data_dir: PathBuf,
        clock: Arc<dyn Clock>,
        agent: KubeAgent,
        sandbox: Option<kiln_executor::Sandbox>,
    ) -> Result<SchedulerHandle, SchedulerError> {
        let kube = KubeBackend::from_config(&config, agent, store.clone(), &data_dir)?;
        for sub in ["builds", "workspaces", "git"] {
            let path = data_dir.join(sub);
            std::fs::create_dir_all(&path).map_err(|source| SchedulerError::DataDir {
                path: path.display().to_string(),
                source,
            })?;
        }
        let now = clock.now_ms();
        let resumed = recovery::recover_interrupted(store.as_ref(), now, kube.is_some())
            .map_err(SchedulerError::Recovery)?;
        let queued = store
            .builds_in(&[BuildStatus::Queued])
            .map_err(SchedulerError::Recovery)?;
        if !queued.is_empty() {
            tracing::info!(
                builds = queued.len(),
                "queued builds from the previous run queued again"
            );
        }
        if let Some(kube) = &kube {
            kube.connect_soon();
        }
        let mut shared = Shared::new(config, store, data_dir, clock, kube);
        shared.sandbox = sandbox;
        let shared = Arc::new(shared);
        let (tx, rx) = mpsc::unbounded_channel();
        let actor = Actor::new(shared.clone(), rx, tx.downgrade(), queued, resumed);
        tokio::spawn(actor.run());
        let handle = SchedulerHandle::new(shared, tx);
        trigger::refresh_all(handle.clone());
        Ok(handle)
    }
}
