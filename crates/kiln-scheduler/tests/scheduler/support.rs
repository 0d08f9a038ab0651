//! Test support: a temporary data directory with a sled store, job sources, configs and
//! waiting helpers (every wait has a generous limit so a bug fails instead of hanging).

use kiln_config::Config;
use kiln_engine::BuildCause;
use kiln_scheduler::{Clock, Scheduler, SchedulerHandle, TriggerRequest};
use kiln_store::{BuildRecord, BuildStatus, SledStore, Store};
pub use kiln_testkit::git;
use kiln_types::BuildRef;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

/// How long any wait may take before the test fails (a guard against hangs, not a timing
/// assertion).
pub const LIMIT: Duration = Duration::from_secs(60);

pub struct Env {
    pub tmp: TempDir,
    pub data: PathBuf,
    pub store: Arc<dyn Store>,
}

impl Env {
    pub fn new() -> Env {
        let tmp = tempfile::Builder::new()
            .prefix("kiln-scheduler-test-")
            .tempdir()
            .unwrap();
        let data = tmp.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let store: Arc<dyn Store> = Arc::new(SledStore::open(&data.join("store")).unwrap());
        Env { tmp, data, store }
    }

    /// A configuration from YAML (the `jobs:` etc. of kiln.yaml).
    pub fn config(&self, yaml: &str) -> Arc<Config> {
        match kiln_config::parse("kiln.yaml", yaml) {
            Ok(c) => Arc::new(c),
            Err(e) => panic!("bad test config: {e}\n{yaml}"),
        }
    }

    /// A plain directory holding a Jenkinsfile.
    pub fn dir(&self, name: &str, jenkinsfile: &str) -> PathBuf {
        let dir = self.tmp.path().join("src").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Jenkinsfile"), jenkinsfile).unwrap();
        dir
    }

    /// A git repository (branch `main`) with these files in one commit.
    pub fn repo(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.tmp.path().join("repos").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        git(&dir, &["init", "--quiet", "--initial-branch=main"]);
        commit(&dir, files, "initial");
        dir
    }

    pub fn start(&self, config: Arc<Config>) -> SchedulerHandle {
        Scheduler::start(config, self.store.clone(), self.data.clone()).unwrap()
    }

    /// Starts the scheduler with the Kubernetes backend of `config`'s `executors.kubernetes`,
    /// made as `kiln server` makes it; errors are the backend's or the scheduler's, as text.
    pub fn start_with_kube(
        &self,
        config: Arc<Config>,
        agent: kiln_kube::KubeAgent,
    ) -> Result<SchedulerHandle, String> {
        let section = config.executors.kubernetes.as_ref();
        let section = section.ok_or("the configuration has no executors.kubernetes")?;
        let backend = kiln_kube::KubeBackend::for_server(section, agent, &self.data)
            .map_err(|e| e.to_string())?;
        Scheduler::start_with_backend(
            config,
            self.store.clone(),
            self.data.clone(),
            Arc::new(kiln_scheduler::SystemClock),
            Some(Arc::new(backend)),
        )
        .map_err(|e| e.to_string())
    }

    pub fn start_with_clock(&self, config: Arc<Config>, clock: Arc<dyn Clock>) -> SchedulerHandle {
        Scheduler::start_with_clock(config, self.store.clone(), self.data.clone(), clock).unwrap()
    }

    pub fn build(&self, id: &BuildRef) -> BuildRecord {
        self.store.get_build(id).unwrap().expect("the build exists")
    }

    pub fn log(&self, id: &BuildRef) -> String {
        let slice = self.store.read_log(id, 0, usize::MAX).unwrap();
        String::from_utf8(slice.bytes).unwrap()
    }

    /// Waits until the build finished; returns its record.
    pub async fn finished(&self, id: &BuildRef) -> BuildRecord {
        self.until(|| {
            let b = self.build(id);
            (b.status == BuildStatus::Finished).then_some(b)
        })
        .await
    }

    /// Polls `f` until it gives a value.
    pub async fn until<T>(&self, mut f: impl FnMut() -> Option<T>) -> T {
        let start = std::time::Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(start.elapsed() < LIMIT, "gave up waiting");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Writes the files and commits them; returns the commit.
pub fn commit(dir: &Path, files: &[(&str, &str)], message: &str) -> String {
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "--quiet", "--allow-empty", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// A declarative pipeline with one stage running these steps.
pub fn pipeline(steps: &str) -> String {
    format!(
        "pipeline {{\n  agent any\n  stages {{\n    stage('Build') {{\n      steps {{\n        {steps}\n      }}\n    }}\n  }}\n}}\n"
    )
}

pub fn user(job: &str) -> TriggerRequest {
    TriggerRequest::new(job, BuildCause::User("alice".into()))
}

/// `jobs:` YAML for one job reading a directory.
pub fn dir_job(name: &str, dir: &Path, extra: &str) -> String {
    format!(
        "jobs:\n  - name: {name}\n    dir: {}\n{extra}",
        dir.display()
    )
}

/// A file whose creation lets `gate_step` steps continue.
pub struct Gate(pub PathBuf);

impl Gate {
    pub fn new(env: &Env, name: &str) -> Gate {
        Gate(env.tmp.path().join(format!("gate-{name}")))
    }

    /// A step that waits for the gate to open.
    pub fn step(&self) -> String {
        format!(
            "sh 'while [ ! -f {} ]; do sleep 0.02; done'",
            self.0.display()
        )
    }

    pub fn open(&self) {
        std::fs::write(&self.0, "").unwrap();
    }
}

/// Returns once the scheduler's actor has handled everything sent before (it dispatches
/// queued builds before it takes the next command).
pub async fn settle(h: &SchedulerHandle) {
    h.reload(h.config()).await;
}

pub fn status(env: &Env, id: &BuildRef) -> BuildStatus {
    env.build(id).status
}
