//! [`LocalBackend`]: builds on the controller's (or the user's) machine.

use crate::backend::{AgentWanted, ExecutionBackend, Placement};
use crate::error::BackendError;
use crate::lease::{AgentControl, AgentHandle, AgentName, Lease, Leased};
use crate::records::ImageRecords;
use async_trait::async_trait;
use kiln_executor::{Executor, LocalExecutor, Sandbox};
use kiln_types::{AgentSpec, BuildResult};
use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// This machine: a build's agent is a [`LocalExecutor`] on its prepared workspace (file
/// steps confined to it and the allowed directories, processes in `sandbox` when given).
/// It gives stages no agents of their own (they run where the build runs), keeps nothing
/// running, and resumes nothing: a process on this machine does not outlive its controller.
#[derive(Clone, Debug, Default)]
pub struct LocalBackend {
    allow: Vec<PathBuf>,
    sandbox: Option<Sandbox>,
}

impl LocalBackend {
    /// Builds' file steps may also reach `allow`; processes start in `sandbox`, if given.
    pub fn new(allow: Vec<PathBuf>, sandbox: Option<Sandbox>) -> Self {
        LocalBackend { allow, sandbox }
    }

    /// The executor of a build whose workspace is `workspace`.
    pub fn executor(&self, workspace: PathBuf) -> LocalExecutor {
        let executor = LocalExecutor::new(workspace).allow(self.allow.iter().cloned());
        match &self.sandbox {
            Some(sandbox) => executor.with_sandbox(sandbox.clone()),
            None => executor,
        }
    }
}

#[async_trait]
impl ExecutionBackend for LocalBackend {
    fn serves(&self, _agent: &AgentSpec) -> bool {
        false
    }

    async fn acquire(&self, wanted: AgentWanted) -> Result<Option<Lease>, BackendError> {
        Ok(match wanted.place {
            Placement::Build { .. } => Some(Box::new(LocalLease {
                executor: Arc::new(self.executor(wanted.workspace.clone())),
                workspace: wanted.workspace,
            })),
            Placement::Stage { .. } => None,
        })
    }

    async fn release(&self, _lease: Lease, _result: BuildResult) -> Result<(), BackendError> {
        Ok(())
    }

    async fn resume(
        &self,
        name: &AgentName,
        _build: (&str, u64),
        _replay_of: Option<&AgentHandle>,
    ) -> Result<Lease, BackendError> {
        Err(BackendError::Unsupported(format!(
            "{} cannot be taken over: work on this machine does not outlive its controller",
            name.name
        )))
    }

    async fn discard(&self, _names: &[AgentName]) {}
}

/// A build's workspace on this machine.
struct LocalLease {
    executor: Arc<LocalExecutor>,
    workspace: PathBuf,
}

#[async_trait]
impl Leased for LocalLease {
    fn executor(&self) -> Arc<dyn Executor> {
        self.executor.clone()
    }

    fn name(&self) -> Option<AgentName> {
        None
    }

    fn pool(&self) -> Option<&str> {
        None
    }

    async fn upload(&self, from: &Path) -> Result<usize, BackendError> {
        if from == self.workspace {
            return Ok(0);
        }
        Err(BackendError::Unsupported(format!(
            "a local build runs in its workspace {}; {} is not copied into it",
            self.workspace.display(),
            from.display()
        )))
    }

    fn record_images(&self, _records: Arc<dyn ImageRecords>) {}

    fn handle(&self) -> AgentHandle {
        Arc::new(LocalHandle)
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

struct LocalHandle;

impl AgentControl for LocalHandle {
    fn end_replay(&self) {}

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Notes;

    fn wanted(place: Placement, workspace: &Path) -> AgentWanted {
        let notes: Notes = Arc::new(|_| {});
        AgentWanted {
            agent: AgentSpec {
                kind: kiln_types::AgentSpecKind::Any,
                span: kiln_diagnostics::Span::new(0, 0),
            },
            job: "app".to_owned(),
            build: 1,
            place,
            workspace: workspace.to_path_buf(),
            notes,
        }
    }

    #[tokio::test]
    async fn a_build_runs_in_its_workspace_and_stages_where_the_build_runs() {
        let dir = std::env::temp_dir().join(format!("kiln-backend-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let backend = LocalBackend::default();
        let lease = backend
            .acquire(wanted(Placement::Build { timeout: None }, &dir))
            .await
            .unwrap()
            .unwrap();
        lease
            .executor()
            .write_file(Path::new("a.txt"), b"hi")
            .await
            .unwrap();
        assert_eq!(std::fs::read(dir.join("a.txt")).unwrap(), b"hi");
        assert_eq!(lease.name(), None);
        assert_eq!(lease.upload(&dir).await.unwrap(), 0);
        assert!(lease.upload(Path::new("/elsewhere")).await.is_err());
        let stage = Placement::Stage {
            path: vec!["Build".to_owned()],
            nested: false,
        };
        assert!(
            backend
                .acquire(wanted(stage, &dir))
                .await
                .unwrap()
                .is_none()
        );
        let name = AgentName {
            namespace: None,
            name: "x".to_owned(),
        };
        let resumed = backend.resume(&name, ("app", 1), None).await;
        assert!(matches!(resumed, Err(BackendError::Unsupported(_))));
        backend.release(lease, BuildResult::Success).await.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
