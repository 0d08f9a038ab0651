//! A pod while a build or stage holds it, as the seam's [`Leased`].

use crate::exec::executor::KubeExecutor;
use crate::pools::source::BuildPod;
use async_trait::async_trait;
use kiln_backend::{AgentControl, AgentHandle, AgentName, BackendError, ImageRecords, Leased};
use kiln_executor::Executor;
use std::any::Any;
use std::path::Path;
use std::sync::Arc;

/// A pod of the server's [`crate::PodSource`] (holding a slot, maybe from a pool), or one
/// `kiln run --kubeconfig` started and deletes.
pub(crate) enum PodLease {
    Pooled(BuildPod),
    Own(Arc<KubeExecutor>),
}

impl PodLease {
    pub(crate) fn kube_executor(&self) -> Arc<KubeExecutor> {
        match self {
            PodLease::Pooled(pod) => pod.executor(),
            PodLease::Own(executor) => executor.clone(),
        }
    }
}

#[async_trait]
impl Leased for PodLease {
    fn executor(&self) -> Arc<dyn Executor> {
        self.kube_executor()
    }

    fn name(&self) -> Option<AgentName> {
        let executor = self.kube_executor();
        Some(AgentName {
            namespace: Some(executor.namespace().to_owned()),
            name: executor.pod_name().to_owned(),
        })
    }

    fn pool(&self) -> Option<&str> {
        match self {
            PodLease::Pooled(pod) => pod.pool(),
            PodLease::Own(_) => None,
        }
    }

    async fn upload(&self, from: &Path) -> Result<usize, BackendError> {
        let executor = self.kube_executor();
        Ok(crate::pools::local_run::upload_workspace(&executor, from).await?)
    }

    fn record_images(&self, records: Arc<dyn ImageRecords>) {
        self.kube_executor().set_image_records(records);
    }

    fn handle(&self) -> AgentHandle {
        self.kube_executor()
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

impl AgentControl for KubeExecutor {
    fn end_replay(&self) {
        KubeExecutor::end_replay(self);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
