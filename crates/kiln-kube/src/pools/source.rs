//! `PodSource`: where a build's pod comes from. A build whose pod (as `build_pod` made it) is
//! what a template's warm pool keeps takes a ready pod from it; any other build gets a new pod
//! from [`KubeExecutor::start`]. When the build ends, [`PodSource::release`] returns a pooled
//! pod to its pool or deletes the pod.
//!
//! `max_concurrent_pods` is enforced here: every pod holds a [`PodSlot`] (see
//! [`PodSlots`]). A build that finds none free first takes the slot of an idle warm pod of
//! another template (that pod is deleted), else waits in turn, told once how many pods are
//! in use; dropping the `acquire` future (a cancelled build) leaves the line. Every pod
//! handed out can run `kanikoBuild` (an [`ImageBuilder`] for its build is attached).

use crate::api::reaper::{BuildPodRef, LiveBuild, is_alive, reap_orphans};
use crate::config::KubeConfig;
use crate::error::KubeError;
use crate::exec::executor::{ExecutorSettings, KubeExecutor, PodRequest};
use crate::image::build::ImageBuilder;
use crate::pod::build::BuiltPod;
use crate::pools::warm::{PodOutcome, WarmPool};
use crate::slots::{PodSlot, PodSlots, SlotCounts};
use kiln_diagnostics::Diagnostic;
use std::sync::Arc;

/// Why a [`PodSource`] could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The cluster's client could not be made (the text says from what).
    #[error("{0}")]
    Connect(String),
    /// A template's pool could not start.
    #[error("cannot start the pod templates' pools: {}", join_messages(.0))]
    Pools(Vec<Diagnostic>),
}

fn join_messages(diags: &[Diagnostic]) -> String {
    let all: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
    all.join("; ")
}

/// The pools of every template with `pool` settings, plus new pods for everything else.
pub struct PodSource {
    client: kube::Client,
    settings: ExecutorSettings,
    config: Arc<KubeConfig>,
    slots: Arc<PodSlots>,
    pools: Vec<Arc<WarmPool>>,
}

/// A build's pod, its slot, and where it goes when the build ends.
pub struct BuildPod {
    executor: Arc<KubeExecutor>,
    pool: Option<Arc<WarmPool>>,
    slot: PodSlot,
}

impl BuildPod {
    /// The executor to run the build with.
    pub fn executor(&self) -> Arc<KubeExecutor> {
        self.executor.clone()
    }

    /// The template whose warm pool the pod came from, if it did.
    pub fn pool(&self) -> Option<&str> {
        self.pool.as_deref().map(WarmPool::template)
    }
}

impl PodSource {
    /// Connects to the cluster of `config` (kubeconfig or in-cluster service account),
    /// deletes the build pods no `live` build has (`None`: the caller cannot tell which
    /// builds live, so none are deleted), collects finished build pods now and every
    /// `orphans.sweep_seconds` (for the life of the runtime) and starts the pools (see
    /// [`PodSource::start`]).
    pub async fn connect(
        config: &KubeConfig,
        settings: ExecutorSettings,
        live: Option<Vec<LiveBuild>>,
    ) -> Result<PodSource, SourceError> {
        let client =
            crate::api::client::connect(&config.connection, &config.api, &config.api_retry)
                .await
                .map_err(SourceError::Connect)?;
        if let Some(live) = live {
            let alive = |p: &BuildPodRef| is_alive(&live, p);
            match reap_orphans(client.clone(), &config.namespace, alive).await {
                Ok(reaped) if !reaped.is_empty() => {
                    tracing::info!(pods = reaped.len(), "orphaned build pods deleted");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot reap orphaned build pods"),
            }
        }
        let orphans = &config.orphans;
        if orphans.sweep_seconds > 0 {
            crate::api::reaper::collect_finished_every(
                client.clone(),
                config.namespace.clone(),
                std::time::Duration::from_secs(orphans.sweep_seconds),
                std::time::Duration::from_secs(orphans.finished_grace_seconds),
            );
        }
        PodSource::start(client, settings, config).map_err(SourceError::Pools)
    }

    /// Starts a warm pool for every template of `config` that has `pool` settings; all
    /// their pods and the builds' share `max_concurrent_pods` slots.
    pub fn start(
        client: kube::Client,
        settings: ExecutorSettings,
        config: &KubeConfig,
    ) -> Result<PodSource, Vec<Diagnostic>> {
        let slots = PodSlots::new(config.max_concurrent_pods);
        let mut pools = Vec::new();
        let mut diags = Vec::new();
        for template in config.templates.iter().filter(|t| t.pool.is_some()) {
            let pool = WarmPool::start(
                client.clone(),
                settings.clone(),
                slots.clone(),
                config,
                &template.name,
            );
            match pool {
                Ok(pool) => pools.push(pool),
                Err(mut d) => diags.append(&mut d),
            }
        }
        if !diags.is_empty() {
            return Err(diags);
        }
        Ok(PodSource {
            client,
            settings,
            config: Arc::new(config.clone()),
            slots,
            pools,
        })
    }

    /// The warm pool of `template`, if it has one.
    pub fn pool(&self, template: &str) -> Option<&Arc<WarmPool>> {
        self.pools.iter().find(|p| p.template() == template)
    }

    /// The pod slots (`max_concurrent_pods`) every pod of this source holds one of.
    pub fn slots(&self) -> &Arc<PodSlots> {
        &self.slots
    }

    /// A ready pod for build `build` of `job`: a warm one when a pool serves `built` and has
    /// one idle, else a new one (created, watched until running, agents connected) once a
    /// pod slot is free. `waiting` is called once, with the counts, when the build must wait
    /// for a slot.
    pub async fn acquire(
        &self,
        built: BuiltPod,
        job: &str,
        build: u64,
        waiting: impl FnOnce(SlotCounts),
    ) -> Result<BuildPod, KubeError> {
        if let Some(pod) = self.warm(&built, job, build) {
            return Ok(pod);
        }
        let slot = match self.free_slot() {
            Some(slot) => slot,
            None => {
                waiting(self.slots.counts());
                self.slots.take().await
            }
        };
        self.start_pod(built, job, build, slot).await
    }

    /// [`PodSource::acquire`] for a pod a build needs while it holds one already (a stage's
    /// own pod inside the build's pod or another stage's): it never waits for a slot but goes
    /// over the limit when none is free, as Kaniko pods do, since builds holding pods while
    /// waiting for more would wait for each other forever.
    pub async fn acquire_nested(
        &self,
        built: BuiltPod,
        job: &str,
        build: u64,
    ) -> Result<BuildPod, KubeError> {
        if let Some(pod) = self.warm(&built, job, build) {
            return Ok(pod);
        }
        let slot = self
            .free_slot()
            .unwrap_or_else(|| self.slots.take_or_force());
        self.start_pod(built, job, build, slot).await
    }

    /// A warm pod of the pool that serves `built`, if it has one idle.
    fn warm(&self, built: &BuiltPod, job: &str, build: u64) -> Option<BuildPod> {
        let pool = self.pools.iter().find(|p| p.serves(built))?;
        let (executor, slot) = pool.take(job, build)?;
        self.attach_image_builder(&executor, job, build);
        Some(BuildPod {
            executor,
            pool: Some(pool.clone()),
            slot,
        })
    }

    /// A new pod holding `slot`.
    async fn start_pod(
        &self,
        built: BuiltPod,
        job: &str,
        build: u64,
        slot: PodSlot,
    ) -> Result<BuildPod, KubeError> {
        let request = PodRequest {
            pod: built.pod,
            namespace: built.namespace,
            default_container: Some(built.default_container),
            start_log: built.start_log,
        };
        let executor = KubeExecutor::start(self.client.clone(), &self.settings, request).await?;
        let executor = Arc::new(executor);
        self.attach_image_builder(&executor, job, build);
        Ok(BuildPod {
            executor,
            pool: None,
            slot,
        })
    }

    /// A free slot, or the slot of an idle warm pod (which is deleted for it).
    fn free_slot(&self) -> Option<PodSlot> {
        self.slots
            .try_take()
            .or_else(|| self.pools.iter().find_map(|p| p.surrender()))
    }

    fn attach_image_builder(&self, executor: &KubeExecutor, job: &str, build: u64) {
        executor.set_image_builder(Some(Arc::new(self.image_builder(job, build))));
    }

    /// What runs Kaniko builds for build `build` of `job` (its pods hold slots of this
    /// source): `kanikoBuild` in the build's pods, and the images of dockerfile agents.
    pub fn image_builder(&self, job: &str, build: u64) -> ImageBuilder {
        ImageBuilder {
            client: self.client.clone(),
            settings: self.settings.clone(),
            config: self.config.clone(),
            job: job.to_owned(),
            build,
            slots: Some(self.slots.clone()),
            records: None,
        }
    }

    /// Takes over build pod `name` of a build that ran when the controller restarted (see
    /// [`KubeExecutor::reattach`]), replaying (see [`KubeExecutor::begin_replay`]): the build
    /// runs its steps again. When the build ends the pod is deleted like any new pod.
    /// A pod that cannot be taken over is deleted with its Secret (its build ends).
    /// The pod exists already, so it takes a slot even above `max_concurrent_pods`.
    /// With `replay_of` (the build's pod, taking over a stage's pod), the two share the
    /// replay (see [`KubeExecutor::join_replay`]).
    pub async fn reattach(
        &self,
        namespace: &str,
        name: &str,
        (job, build): (&str, u64),
        replay_of: Option<&KubeExecutor>,
    ) -> Result<BuildPod, KubeError> {
        match KubeExecutor::reattach(self.client.clone(), &self.settings, namespace, name).await {
            Ok(mut executor) => {
                match replay_of {
                    Some(other) => executor.join_replay(other),
                    None => executor.begin_replay(),
                }
                executor.learn_known(build).await;
                let executor = Arc::new(executor);
                self.attach_image_builder(&executor, job, build);
                Ok(BuildPod {
                    executor,
                    pool: None,
                    slot: self.slots.take_or_force(),
                })
            }
            Err(error) => {
                if let Err(e) = self.delete(namespace, name).await {
                    tracing::warn!(pod = %name, error = %e, "cannot delete a pod that was not taken over");
                }
                Err(error)
            }
        }
    }

    /// Deletes build pod `name` and its Secret, e.g. a pod a build resumed after a
    /// controller restart had recorded but did not take over; a missing one is fine.
    pub async fn delete(&self, namespace: &str, name: &str) -> Result<(), KubeError> {
        let pods = kube::Api::namespaced(self.client.clone(), namespace);
        let secrets = kube::Api::namespaced(self.client.clone(), namespace);
        let secret = crate::api::reaper::secret_name(name);
        crate::api::lifecycle::delete(&pods, &secrets, name, Some(&secret), 0).await
    }

    /// Deletes the pods (and Secrets) of a build in `namespace` it did not record (see
    /// [`crate::api::reaper::discard_unrecorded`]); returns the pods deleted.
    pub(crate) async fn discard_unrecorded(
        &self,
        namespace: &str,
        which: &crate::api::reaper::Unrecorded<'_>,
    ) -> Result<Vec<String>, KubeError> {
        crate::api::reaper::discard_unrecorded(self.client.clone(), namespace, which).await
    }

    /// Ends a build's use of its pod: a pooled pod goes back to its pool (which keeps it only
    /// when `outcome` is clean), any other pod is deleted; its slot is free afterwards.
    pub async fn release(&self, pod: BuildPod, outcome: PodOutcome) -> Result<(), KubeError> {
        pod.executor.set_image_builder(None);
        match pod.pool {
            Some(pool) => {
                pool.give_back(pod.executor, pod.slot, outcome).await;
                Ok(())
            }
            None => {
                let deleted = pod.executor.cleanup().await;
                drop(pod.slot);
                deleted
            }
        }
    }

    /// Stops every pool and deletes its idle pods.
    pub async fn shutdown(&self) {
        for pool in &self.pools {
            pool.shutdown().await;
        }
    }
}
