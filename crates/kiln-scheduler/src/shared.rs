//! What the scheduler's actor, its handles and its build tasks share: the store, the
//! configuration snapshot, the last-read pipelines, live logs and counters. Every lock here
//! is a short std lock, never held across an `.await`.

use crate::clock::Clock;
use crate::forge_status::ForgeReporter;
use crate::git::Git;
use crate::live::LiveLogs;
use crate::locks::{DeclaredResource, LockTable};
use crate::milestones::Milestones;
use crate::pipeline_info::PipelineInfo;
use crate::view::SchedulerStats;
use kiln_backend::ExecutionBackend;
use kiln_config::{Config, JobConfig};
use kiln_store::Store;
use kiln_types::BuildRef;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// The last time a job's pipeline was read: what it declared, or why it could not be read.
use crate::job_properties::JobPropertiesRecord;

pub(crate) type PipelineRead = Result<Arc<PipelineInfo>, String>;

pub(crate) struct Shared {
    pub store: Arc<dyn Store>,
    pub data_dir: PathBuf,
    pub git: Git,
    pub clock: Arc<dyn Clock>,
    /// The configuration as loaded (`base`), and with every multibranch child's job added.
    base: RwLock<Arc<Config>>,
    config: RwLock<Arc<Config>>,
    /// The children of multibranch jobs.
    pub children: crate::multibranch::Registry,
    pipelines: Mutex<HashMap<String, PipelineRead>>,
    /// The job properties builds set from computed values, by job (see `job_properties`).
    job_properties: Mutex<HashMap<String, JobPropertiesRecord>>,
    /// Log progress of every build running here.
    pub live: Arc<LiveLogs>,
    /// Counters published by the actor.
    stats: Mutex<SchedulerStats>,
    /// Builds waiting for input now (kept by the builds' recorders).
    pub waiting: Arc<AtomicUsize>,
    /// The backend that gives builds and stages agents of their own (pods), when
    /// `executors.kubernetes` is configured; other builds run on this machine.
    pub backend: Option<Arc<dyn ExecutionBackend>>,
    /// The sandbox of local build processes, when the caller gave one (`kiln server` does
    /// where the kernel enforces Landlock); `executors.local.sandbox: off` skips it.
    pub sandbox: Option<kiln_executor::Sandbox>,
    /// The lockable resources of every build (`lock`).
    pub locks: LockTable,
    /// The milestones the running builds passed (`milestone`).
    pub milestones: Milestones,
    /// Commit statuses to GitHub and GitLab.
    pub forge: ForgeReporter,
    /// What other controllers signal through a shared store.
    pub signals: crate::signals::Signals,
}

/// The resources `locks:` declares.
fn declared_locks(config: &Config) -> Vec<DeclaredResource> {
    config
        .locks
        .iter()
        .map(|l| DeclaredResource {
            name: l.name.clone(),
            labels: l.labels.clone(),
            description: l.description.clone(),
        })
        .collect()
}

/// Locks a mutex whose data stays consistent even if a holder panicked (every update is
/// a single insert, remove or assignment).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        data_dir: PathBuf,
        clock: Arc<dyn Clock>,
        backend: Option<Arc<dyn ExecutionBackend>>,
    ) -> Self {
        let locks = LockTable::default();
        locks.declare(&declared_locks(&config));
        let children = crate::multibranch::Registry::load(data_dir.join("multibranch"));
        let shared = Shared {
            children,
            locks,
            milestones: Milestones::default(),
            forge: ForgeReporter::start(),
            store,
            git: Git::new(data_dir.join("git")),
            data_dir,
            clock,
            base: RwLock::new(config.clone()),
            config: RwLock::new(config),
            pipelines: Mutex::new(HashMap::new()),
            job_properties: Mutex::new(HashMap::new()),
            live: Arc::default(),
            stats: Mutex::new(SchedulerStats::default()),
            waiting: Arc::new(AtomicUsize::new(0)),
            backend,
            sandbox: None,
            signals: Default::default(),
        };
        shared.refresh_children();
        shared
    }

    pub(crate) fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .map_or_else(|p| p.into_inner().clone(), |c| c.clone())
    }

    /// The configuration as loaded, without multibranch children.
    pub(crate) fn base(&self) -> Arc<Config> {
        self.base
            .read()
            .map_or_else(|p| p.into_inner().clone(), |c| c.clone())
    }

    pub(crate) fn set_config(&self, config: Arc<Config>) {
        self.locks.declare(&declared_locks(&config));
        match self.base.write() {
            Ok(mut c) => *c = config,
            Err(p) => *p.into_inner() = config,
        }
        self.refresh_children();
    }

    /// Makes the configuration the loaded one plus a job per child of each multibranch job
    /// (children whose parent is gone or no longer multibranch are left out).
    pub(crate) fn refresh_children(&self) {
        let base = self.base();
        let mut merged = Config::clone(&base);
        for child in self.children.all() {
            let Some(parent) = base.job(child.parent()) else {
                continue;
            };
            if parent.multibranch.is_some() {
                merged.jobs.push(child.config(parent));
            }
        }
        let merged = Arc::new(merged);
        match self.config.write() {
            Ok(mut c) => *c = merged,
            Err(p) => *p.into_inner() = merged,
        }
    }

    pub(crate) fn job(&self, name: &str) -> Option<JobConfig> {
        self.config().job(name).cloned()
    }

    pub(crate) fn pipeline(&self, job: &str) -> Option<PipelineRead> {
        lock(&self.pipelines).get(job).cloned()
    }

    pub(crate) fn set_pipeline(&self, job: &str, read: PipelineRead) {
        lock(&self.pipelines).insert(job.to_owned(), read);
    }

    /// What the job's last build set from computed values, when the job uses it: its
    /// pipeline computes schedules or counts, or is not read yet (after a restart); what a
    /// `properties` step set always applies.
    pub(crate) fn job_properties(&self, job: &str) -> Option<JobPropertiesRecord> {
        if self.job_properties_by_step(job) {
            return lock(&self.job_properties).get(job).cloned();
        }
        let applies = match self.pipeline(job) {
            Some(Ok(info)) => kiln_engine::computes_job_properties(&info.pipeline),
            Some(Err(_)) | None => true,
        };
        if !applies {
            return None;
        }
        lock(&self.job_properties).get(job).cloned()
    }

    /// Did a `properties` step set the job's record?
    pub(crate) fn job_properties_by_step(&self, job: &str) -> bool {
        lock(&self.job_properties)
            .get(job)
            .is_some_and(|r| r.by_step)
    }

    /// Keeps `record` for `job` (`None`: forgets it); an older build's never replaces a
    /// newer one's. Says whether anything changed.
    pub(crate) fn set_job_properties(
        &self,
        job: &str,
        record: Option<JobPropertiesRecord>,
    ) -> bool {
        let mut all = lock(&self.job_properties);
        match record {
            Some(new) => {
                let old = all.get(job);
                if old.is_some_and(|o| o.build > new.build || *o == new) {
                    return false;
                }
                all.insert(job.to_owned(), new);
                true
            }
            None => all.remove(job).is_some(),
        }
    }

    /// The job's `cron`, `pollSCM` and `parameterizedCron` schedules from its pipeline: the
    /// literal ones of the last-read pipeline and those its last build computed.
    pub(crate) fn pipeline_schedules(&self, job: &str) -> PipelineSchedules {
        let set = self.job_properties(job);
        let replaced = set.as_ref().is_some_and(|s| s.replaces.triggers);
        let mut out = match self.pipeline(job) {
            // A `properties` step in a stage set the job's triggers: the step's alone.
            _ if replaced => PipelineSchedules::default(),
            Some(Ok(info)) => PipelineSchedules {
                cron: info.cron.clone(),
                poll: info.poll.clone(),
                param_cron: info.param_cron.clone(),
            },
            _ => PipelineSchedules::default(),
        };
        if let Some(set) = set {
            out.cron.extend(set.cron);
            out.poll.extend(set.poll);
            out.param_cron.extend(set.param_cron);
        }
        out
    }

    /// Every job's record, as the store had them when the scheduler started.
    pub(crate) fn load_job_properties(&self) {
        let loaded = crate::job_properties::load_all(self.store.as_ref());
        *lock(&self.job_properties) = loaded;
    }

    pub(crate) fn stats(&self) -> SchedulerStats {
        lock(&self.stats).clone()
    }

    pub(crate) fn update_stats(&self, f: impl FnOnce(&mut SchedulerStats)) {
        f(&mut lock(&self.stats));
    }

    /// `DATA_DIR/builds/JOB/N`: the build's stashes, artifacts and test reports.
    pub(crate) fn build_dir(&self, id: &BuildRef) -> PathBuf {
        self.builds_root()
            .join(id.job.as_str())
            .join(id.number.to_string())
    }

    /// Where builds' files are kept: `store.postgres.files_dir/builds` (a directory every
    /// controller sharing the store mounts), else `DATA_DIR/builds`.
    pub(crate) fn builds_root(&self) -> PathBuf {
        match self.config().store.files_dir() {
            Some(dir) => dir.join("builds"),
            None => self.data_dir.join("builds"),
        }
    }

    /// `DATA_DIR/workspaces/JOB`, or `JOB@2`, `JOB@3`... for concurrent builds.
    pub(crate) fn workspace(&self, job: &str, slot: usize) -> PathBuf {
        let name = if slot == 0 {
            job.to_owned()
        } else {
            format!("{job}@{}", slot + 1)
        };
        self.data_dir.join("workspaces").join(name)
    }
}

/// A job's schedules from its pipeline (see [`Shared::pipeline_schedules`]).
#[derive(Default)]
pub(crate) struct PipelineSchedules {
    pub cron: Vec<String>,
    pub poll: Vec<String>,
    /// `parameterizedCron` texts, each of schedule lines with `%` parameters.
    pub param_cron: Vec<String>,
}
