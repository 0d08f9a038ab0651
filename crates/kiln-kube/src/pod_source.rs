//! `PodSource`: where a build's pod comes from. A build whose pod (as `build_pod` made it) is
//! what a template's warm pool keeps takes a ready pod from it; any other build gets a new pod
//! from [`KubeExecutor::start`]. When the build ends, [`PodSource::release`] returns a pooled
//! pod to its pool or deletes the pod.

use crate::config::KubeConfig;
use crate::executor::{ExecutorSettings, KubeExecutor, PodRequest};
use crate::executor_error::KubeError;
use crate::pod::BuiltPod;
use crate::pool::{PodOutcome, WarmPool};
use kiln_diagnostics::Diagnostic;
use std::sync::Arc;

/// The pools of every template with `pool` settings, plus new pods for everything else.
pub struct PodSource {
    client: kube::Client,
    settings: ExecutorSettings,
    pools: Vec<Arc<WarmPool>>,
}

/// A build's pod and where it goes when the build ends.
pub struct BuildPod {
    executor: Arc<KubeExecutor>,
    pool: Option<Arc<WarmPool>>,
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
    /// Starts a warm pool for every template of `config` that has `pool` settings.
    pub fn start(
        client: kube::Client,
        settings: ExecutorSettings,
        config: &KubeConfig,
    ) -> Result<PodSource, Vec<Diagnostic>> {
        let mut pools = Vec::new();
        let mut diags = Vec::new();
        for template in config.templates.iter().filter(|t| t.pool.is_some()) {
            match WarmPool::start(client.clone(), settings.clone(), config, &template.name) {
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
            pools,
        })
    }

    /// The warm pool of `template`, if it has one.
    pub fn pool(&self, template: &str) -> Option<&Arc<WarmPool>> {
        self.pools.iter().find(|p| p.template() == template)
    }

    /// A ready pod for build `build` of `job`: a warm one when a pool serves `built` and has
    /// one idle, else a new one (created, watched until running, agents connected).
    pub async fn acquire(
        &self,
        built: BuiltPod,
        job: &str,
        build: u64,
    ) -> Result<BuildPod, KubeError> {
        if let Some(pool) = self.pools.iter().find(|p| p.serves(&built))
            && let Some(executor) = pool.take(job, build)
        {
            return Ok(BuildPod {
                executor,
                pool: Some(pool.clone()),
            });
        }
        let request = PodRequest {
            pod: built.pod,
            namespace: built.namespace,
            default_container: Some(built.default_container),
        };
        let executor = KubeExecutor::start(self.client.clone(), &self.settings, request).await?;
        Ok(BuildPod {
            executor: Arc::new(executor),
            pool: None,
        })
    }

    /// Ends a build's use of its pod: a pooled pod goes back to its pool (which keeps it only
    /// when `outcome` is clean), any other pod is deleted.
    pub async fn release(&self, pod: BuildPod, outcome: PodOutcome) -> Result<(), KubeError> {
        match pod.pool {
            Some(pool) => {
                pool.give_back(pod.executor, outcome).await;
                Ok(())
            }
            None => pod.executor.cleanup().await,
        }
    }

    /// Stops every pool and deletes its idle pods.
    pub async fn shutdown(&self) {
        for pool in &self.pools {
            pool.shutdown().await;
        }
    }
}
