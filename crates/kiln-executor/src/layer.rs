//! An executor that wraps another and changes only how processes start: every file operation,
//! image build and flag goes to the inner executor unchanged. Wrappers implement
//! [`SpawnLayer`] and are used as [`Layered`], so none repeats the delegation.

use crate::{
    ExecError, Executor, FileEntry, ImageBuild, ImageBuilt, ImageLog, ProcessHandle, ProcessSpec,
};
use async_trait::async_trait;
use std::path::Path;
use std::sync::Arc;

/// What a wrapper changes: how a process starts and, optionally, how the executor is named.
#[async_trait]
pub trait SpawnLayer: Send + Sync {
    /// The executor everything else goes to.
    fn inner(&self) -> &Arc<dyn Executor>;

    /// The name in logs and messages; the inner executor's by default.
    fn describe(&self) -> String {
        self.inner().describe()
    }

    /// Starts a process, usually through [`SpawnLayer::inner`] after changing the spec or
    /// recording something first.
    async fn spawn(&self, spec: ProcessSpec) -> Result<ProcessHandle, ExecError>;
}

/// A [`SpawnLayer`] as an [`Executor`].
pub struct Layered<L>(pub L);

#[async_trait]
impl<L: SpawnLayer> Executor for Layered<L> {
    fn workspace(&self) -> &Path {
        self.0.inner().workspace()
    }

    fn describe(&self) -> String {
        self.0.describe()
    }

    fn runs_in_containers(&self) -> bool {
        self.0.inner().runs_in_containers()
    }

    fn is_replaying(&self) -> bool {
        self.0.inner().is_replaying()
    }

    async fn spawn(&self, spec: ProcessSpec) -> Result<ProcessHandle, ExecError> {
        self.0.spawn(spec).await
    }

    async fn read_file(&self, path: &Path) -> Result<Vec<u8>, ExecError> {
        self.0.inner().read_file(path).await
    }

    async fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<(), ExecError> {
        self.0.inner().write_file(path, bytes).await
    }

    async fn file_exists(&self, path: &Path) -> Result<bool, ExecError> {
        self.0.inner().file_exists(path).await
    }

    async fn delete_dir(&self, path: &Path) -> Result<(), ExecError> {
        self.0.inner().delete_dir(path).await
    }

    async fn create_dir(&self, path: &Path) -> Result<(), ExecError> {
        self.0.inner().create_dir(path).await
    }

    async fn list_files(
        &self,
        dir: &Path,
        includes: &[String],
        excludes: &[String],
    ) -> Result<Vec<FileEntry>, ExecError> {
        self.0.inner().list_files(dir, includes, excludes).await
    }

    async fn build_image(&self, build: ImageBuild, log: ImageLog) -> Result<ImageBuilt, ExecError> {
        self.0.inner().build_image(build, log).await
    }
}
