//! Starting the scheduler: recovery of the previous run's builds, then the actor task.

use crate::actor::Actor;
use crate::agent_records::StoreLive;
use crate::claims::{BuildClaims, DbClaims, LocalClaims, Recovered, controller_id};
use crate::clock::{Clock, SystemClock};
use crate::error::SchedulerError;
use crate::handle::SchedulerHandle;
use crate::shared::Shared;
use crate::trigger;
use kiln_backend::ExecutionBackend;
use kiln_config::Config;
use kiln_store::Store;
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
        Scheduler::start_with_backend(config, store, data_dir, clock, None)
    }

    /// [`Scheduler::start_with_clock`] with the execution backend that gives builds and
    /// stages agents of their own (kiln-kube's, when `executors.kubernetes` is configured:
    /// the configuration without a backend refuses the start).
    pub fn start_with_backend(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        data_dir: PathBuf,
        clock: Arc<dyn Clock>,
        backend: Option<Arc<dyn ExecutionBackend>>,
    ) -> Result<SchedulerHandle, SchedulerError> {
        Scheduler::start_sandboxed(config, store, data_dir, clock, backend, None)
    }

    /// [`Scheduler::start_with_backend`] whose local builds run their processes in
    /// `sandbox` (unless `executors.local.sandbox` is `off`).
    pub fn start_sandboxed(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        data_dir: PathBuf,
        clock: Arc<dyn Clock>,
        backend: Option<Arc<dyn ExecutionBackend>>,
        sandbox: Option<kiln_executor::Sandbox>,
    ) -> Result<SchedulerHandle, SchedulerError> {
        if config.executors.kubernetes.is_some() && backend.is_none() {
            return Err(SchedulerError::NoBackend);
        }
        for sub in ["builds", "workspaces", "git"] {
            let path = data_dir.join(sub);
            std::fs::create_dir_all(&path).map_err(|source| SchedulerError::DataDir {
                path: path.display().to_string(),
                source,
            })?;
        }
        let now = clock.now_ms();
        let resume = backend.is_some();
        let mut shared = Shared::new(config, store.clone(), data_dir, clock, backend.clone());
        shared.sandbox = sandbox;
        shared.load_job_properties();
        let shared = Arc::new(shared);
        let (tx, rx) = mpsc::unbounded_channel();
        // One controller on its store, or one of several on a shared one.
        let claims: Box<dyn BuildClaims> = if store.coordination().is_some() {
            let claims = DbClaims::start(shared.clone(), controller_id(), tx.downgrade())
                .map_err(SchedulerError::Recovery)?;
            Box::new(claims)
        } else {
            Box::new(LocalClaims)
        };
        let Recovered { queued, resumed } = claims
            .recover(store.as_ref(), now, resume)
            .map_err(SchedulerError::Recovery)?;
        if let Some(backend) = &backend {
            backend.clone().start(Arc::new(StoreLive(store.clone())));
        }
        let actor = Actor::new(shared.clone(), rx, tx.downgrade(), queued, resumed, claims);
        tokio::spawn(actor.run());
        let handle = SchedulerHandle::new(shared, tx);
        trigger::refresh_all(handle.clone());
        Ok(handle)
    }
}
