//! [`KubeBackend`]: pods as agents, through the execution-backend seam. For the server, pods
//! come from a [`PodSource`] (warm pools, `max_concurrent_pods`, orphans reaped at connect),
//! connected in the background at start or at first use; for `kiln run --kubeconfig`, from a
//! [`LocalCluster`] reached with a kubeconfig (each pod started and deleted by the run).

use super::lease::PodLease;
use super::request::agent_request;
use super::server::{KubeAgent, SetupError, server_settings};
use crate::api::reaper::{EPOCH_LABEL, LiveBuild as ReaperLiveBuild, Unrecorded};
use crate::config::KubeConfig;
use crate::exec::executor::{ExecutorSettings, KubeExecutor};
use crate::image::build::ImageBuilder;
use crate::pod::agent_spec::runs_in_pod;
use crate::pod::build::{AgentRequest, BuiltPod, PodIdentity, build_pod};
use crate::pod::lifetime::set_build_timeout;
use crate::pools::local_run::{LocalCluster, LocalRunError, LocalRunOptions};
use crate::pools::source::PodSource;
use crate::pools::warm::PodOutcome;
use async_trait::async_trait;
use kiln_backend::{
    AgentHandle, AgentName, AgentWanted, BackendError, ExecutionBackend, Lease, LiveAgents, Note,
    Placement,
};
use kiln_types::{AgentSpec, AgentSpecKind, BuildResult};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tokio::sync::OnceCell;

/// kiln's Kubernetes backend (see the module's docs).
pub struct KubeBackend {
    config: KubeConfig,
    supply: Supply,
    /// The epoch each build is driven at here, when several controllers share a database
    /// (see [`ExecutionBackend::fence`]).
    epochs: std::sync::Mutex<std::collections::HashMap<(String, u64), u64>>,
}

/// Where the pods come from.
enum Supply {
    Server(Box<ServerPods>),
    Laptop(Box<LaptopPods>),
}

/// `kiln run --kubeconfig`'s pods: the cluster, how pods are made, and the kubeconfig (named
/// in what the run says).
struct LaptopPods {
    cluster: LocalCluster,
    options: LocalRunOptions,
    kubeconfig: PathBuf,
}

/// The server's pods: the settings they are made with, the source (connected once), and the
/// live builds whose pods are not orphans.
struct ServerPods {
    settings: ExecutorSettings,
    source: OnceCell<PodSource>,
    live: OnceLock<Arc<dyn LiveAgents>>,
}

impl KubeBackend {
    /// The server's backend, from its configuration's `executors.kubernetes` (`json`) and
    /// data directory (kiln's agent CA lives in `data_dir/agent-ca`); it connects when
    /// started ([`ExecutionBackend::start`]) or first used.
    pub fn for_server(
        json: &serde_json::Value,
        agent: KubeAgent,
        data_dir: &Path,
    ) -> Result<Self, SetupError> {
        let (config, settings) = server_settings(json, agent, data_dir)?;
        Ok(KubeBackend {
            config,
            epochs: Default::default(),
            supply: Supply::Server(Box::new(ServerPods {
                settings,
                source: OnceCell::new(),
                live: OnceLock::new(),
            })),
        })
    }

    /// `kiln run --kubeconfig`'s backend: the cluster of `kubeconfig` (its current context),
    /// pods made as `options` say.
    pub async fn for_laptop(
        kubeconfig: &Path,
        options: LocalRunOptions,
    ) -> Result<Self, LocalRunError> {
        let cluster = LocalCluster::connect(kubeconfig).await?;
        Ok(KubeBackend {
            config: cluster.config(&options),
            epochs: Default::default(),
            supply: Supply::Laptop(Box::new(LaptopPods {
                cluster,
                options,
                kubeconfig: kubeconfig.to_path_buf(),
            })),
        })
    }

    /// The server's pod source, connecting (and reaping orphans) the first time.
    async fn pods(&self) -> Result<&PodSource, BackendError> {
        let Supply::Server(server) = &self.supply else {
            return Err(BackendError::Unsupported(
                "kiln run's pods come from no pod source".to_owned(),
            ));
        };
        let ServerPods {
            settings,
            source,
            live,
        } = server.as_ref();
        source
            .get_or_try_init(|| async {
                // Controllers sharing a store reap one at a time (the turn is held to the end).
                let (live, _turn) = match live.get() {
                    Some(live) => {
                        let turn = live.reaping().await;
                        (live.live().await.map(reaper_live), turn)
                    }
                    None => (None, None),
                };
                PodSource::connect(&self.config, settings.clone(), live)
                    .await
                    .map_err(|e| BackendError::Connect(Box::new(e)))
            })
            .await
    }

    fn epochs(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<(String, u64), u64>> {
        self.epochs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The epoch build `build` of `job` is driven at here, if it has one.
    fn epoch_of(&self, job: &str, build: u64) -> Option<u64> {
        self.epochs().get(&(job.to_owned(), build)).copied()
    }

    /// Tells the pod's agents the epoch build `build` of `job` is driven at, if it has one.
    fn fence_pod(&self, pod: &KubeExecutor, job: &str, build: u64) {
        if let Some(epoch) = self.epoch_of(job, build) {
            pod.fence(&format!("{job}#{build}"), epoch);
        }
    }

    /// What runs Kaniko builds for build `build` of `job`.
    async fn image_builder(&self, job: &str, build: u64) -> Result<ImageBuilder, BackendError> {
        match &self.supply {
            Supply::Server(_) => Ok(self.pods().await?.image_builder(job, build)),
            Supply::Laptop(laptop) => Ok(laptop.cluster.image_builder(job, build, &laptop.options)),
        }
    }

    /// A running pod made from `request` for `wanted`.
    async fn start_pod(
        &self,
        request: &AgentRequest,
        wanted: &AgentWanted,
    ) -> Result<PodLease, BackendError> {
        let (job, build) = (wanted.job.as_str(), wanted.build);
        let id = PodIdentity::new_pod(job, build);
        let mut built = build_pod(&self.config, request, &id).map_err(BackendError::Invalid)?;
        // Who made the pod: a later driver of the build deletes it if it was not recorded.
        if let Some(epoch) = self.epoch_of(job, build) {
            let labels = built
                .pod
                .metadata
                .labels
                .get_or_insert_with(Default::default);
            labels.insert(EPOCH_LABEL.to_owned(), epoch.to_string());
        }
        // The pod's Events and the waits for it go to the log of whoever asked (lines a resumed
        // build does not write again, like the wait for a pod slot).
        let notes = wanted.notes.clone();
        built.start_log = crate::StartLog::new(move |line| notes(Note::Waiting(line)));
        if let Placement::Build {
            timeout: Some(timeout),
        } = wanted.place
        {
            set_build_timeout(&mut built.pod, timeout);
        }
        let agent_error = |e: crate::error::KubeError| BackendError::Agent(Box::new(e));
        match &self.supply {
            Supply::Server(_) => self.start_pooled(built, wanted).await,
            Supply::Laptop(laptop) => {
                let LaptopPods {
                    cluster,
                    options,
                    kubeconfig,
                } = laptop.as_ref();
                if wanted.place.stage().is_none() {
                    (wanted.notes)(Note::Text(starting_line(&wanted.agent, kubeconfig)));
                }
                let options = LocalRunOptions {
                    start_log: built.start_log.clone(),
                    ..options.clone()
                };
                let executor = cluster.start_built(built, job, build, &options).await;
                Ok(PodLease::Own(Arc::new(executor.map_err(agent_error)?)))
            }
        }
    }

    /// A pod of the server's source: a warm one, or a new one once a slot is free (a nested
    /// stage's never waits for one).
    async fn start_pooled(
        &self,
        built: BuiltPod,
        wanted: &AgentWanted,
    ) -> Result<PodLease, BackendError> {
        let (job, build) = (wanted.job.as_str(), wanted.build);
        let pods = self.pods().await?;
        let notes = wanted.notes.clone();
        let wait = move |counts| notes(Note::Waiting(format!("Waiting for a pod: {counts}")));
        let acquired = match wanted.place {
            Placement::Stage { nested: true, .. } => pods.acquire_nested(built, job, build).await,
            _ => pods.acquire(built, job, build, wait).await,
        };
        acquired
            .map(PodLease::Pooled)
            .map_err(|e| BackendError::Agent(Box::new(e)))
    }
}

#[async_trait]
impl ExecutionBackend for KubeBackend {
    fn serves(&self, agent: &AgentSpec) -> bool {
        let dockerfile_agents = self.config.dockerfile_agents.is_some();
        !matches!(agent.kind, AgentSpecKind::None)
            && runs_in_pod(&self.config, dockerfile_agents, agent)
    }

    fn start(self: Arc<Self>, live: Arc<dyn LiveAgents>) {
        let Supply::Server(server) = &self.supply else {
            return;
        };
        if server.live.set(live).is_err() {
            tracing::warn!("the Kubernetes backend was started twice");
            return;
        }
        tokio::spawn(async move {
            if let Err(e) = self.pods().await {
                tracing::error!(error = %e, "cannot connect to the Kubernetes cluster");
            }
        });
    }

    async fn acquire(&self, wanted: AgentWanted) -> Result<Option<Lease>, BackendError> {
        let builder = self.image_builder(&wanted.job, wanted.build);
        let Some(request) = agent_request(&self.config, &wanted, builder).await? else {
            return Ok(None);
        };
        let lease = self.start_pod(&request, &wanted).await?;
        self.fence_pod(&lease.kube_executor(), &wanted.job, wanted.build);
        Ok(Some(Box::new(lease)))
    }

    async fn release(&self, lease: Lease, result: BuildResult) -> Result<(), BackendError> {
        let Ok(lease) = lease.into_any().downcast::<PodLease>() else {
            return Err(BackendError::Unsupported(
                "an agent of another backend cannot be released here".to_owned(),
            ));
        };
        let outcome = if result == BuildResult::Success {
            PodOutcome::Clean
        } else {
            PodOutcome::Dirty
        };
        let released = match (*lease, &self.supply) {
            (PodLease::Pooled(pod), Supply::Server(server)) => match server.source.get() {
                Some(source) => source.release(pod, outcome).await,
                None => Ok(()),
            },
            (PodLease::Pooled(pod), Supply::Laptop(_)) => pod.executor().cleanup().await,
            (PodLease::Own(executor), _) => executor.cleanup().await,
        };
        released.map_err(|e| BackendError::Agent(Box::new(e)))
    }

    async fn resume(
        &self,
        name: &AgentName,
        build: (&str, u64),
        replay_of: Option<&AgentHandle>,
    ) -> Result<Lease, BackendError> {
        if let Supply::Laptop(_) = &self.supply {
            return Err(BackendError::Unsupported(format!(
                "pod {} cannot be taken over: kiln run resumes no build",
                name.name
            )));
        }
        let source = self.pods().await?;
        let namespace = name.namespace.as_deref().unwrap_or(&self.config.namespace);
        let replay_of = replay_of.and_then(|h| h.as_any().downcast_ref::<KubeExecutor>());
        let pod = source
            .reattach(namespace, &name.name, build, replay_of)
            .await;
        let pod = pod.map_err(|e| BackendError::Agent(Box::new(e)))?;
        self.fence_pod(&pod.executor(), build.0, build.1);
        Ok(Box::new(PodLease::Pooled(pod)))
    }

    fn fence(&self, build: (&str, u64), epoch: Option<u64>) {
        let key = (build.0.to_owned(), build.1);
        let mut epochs = self.epochs();
        match epoch {
            Some(epoch) => epochs.insert(key, epoch),
            None => epochs.remove(&key),
        };
    }

    async fn discard_unrecorded(&self, build: (&str, u64), keep: &[AgentName]) -> Vec<String> {
        let Supply::Server(_) = &self.supply else {
            return Vec::new();
        };
        let source = match self.pods().await {
            Ok(source) => source,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look for pods a build did not record: no cluster");
                return Vec::new();
            }
        };
        let names: Vec<String> = keep.iter().map(|n| n.name.clone()).collect();
        let which = Unrecorded {
            job: build.0,
            build: build.1,
            keep: &names,
            epoch: self.epoch_of(build.0, build.1),
        };
        let mut deleted = Vec::new();
        for namespace in self.namespaces_of(keep) {
            match source.discard_unrecorded(namespace, &which).await {
                Ok(pods) => deleted.extend(pods),
                Err(e) => tracing::warn!(
                    build = %format!("{}#{}", build.0, build.1), %namespace, error = %e,
                    "cannot delete the pods a build did not record"
                ),
            }
        }
        deleted
    }

    async fn discard(&self, names: &[AgentName]) {
        if names.is_empty() {
            return;
        }
        for name in names {
            let namespace = name.namespace.as_deref().unwrap_or(&self.config.namespace);
            let deleted = match &self.supply {
                Supply::Server(_) => match self.pods().await {
                    Ok(source) => source.delete(namespace, &name.name).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot delete pods not taken over: no cluster");
                        return;
                    }
                },
                Supply::Laptop(laptop) => laptop.cluster.delete(namespace, &name.name).await,
            };
            match deleted {
                Ok(()) => tracing::info!(pod = %name.name, "pod not taken over deleted"),
                Err(e) => tracing::warn!(pod = %name.name, error = %e, "cannot delete a pod"),
            }
        }
    }
}

impl KubeBackend {
    /// The namespaces a build's pods may be in: the configured one and those of `keep`.
    fn namespaces_of<'a>(&'a self, keep: &'a [AgentName]) -> Vec<&'a str> {
        let mut namespaces = vec![self.config.namespace.as_str()];
        for ns in keep.iter().filter_map(|n| n.namespace.as_deref()) {
            if !namespaces.contains(&ns) {
                namespaces.push(ns);
            }
        }
        namespaces
    }
}

/// What `kiln run --kubeconfig` says before it starts the build's pod.
fn starting_line(agent: &AgentSpec, kubeconfig: &Path) -> String {
    let of = match &agent.kind {
        AgentSpecKind::Docker(_) => " of the docker agent's image",
        AgentSpecKind::Dockerfile(_) => " of the dockerfile agent's image",
        _ => "",
    };
    format!(
        "Starting a build pod{of} in the cluster of {}",
        kubeconfig.display()
    )
}

/// The seam's live builds as the orphan reaper reads them.
fn reaper_live(live: Vec<kiln_backend::LiveBuild>) -> Vec<ReaperLiveBuild> {
    live.into_iter()
        .map(|b| ReaperLiveBuild {
            job: b.job,
            build: b.build,
            pods: b.agents,
        })
        .collect()
}
