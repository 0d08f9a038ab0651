use crate::process::{SpawnOptions, spawn_local_with};
use crate::{ExecError, Executor, FileEntry, FileSet, ProcessHandle, ProcessSpec};
use async_trait::async_trait;
use std::io;
use std::path::{Path, PathBuf};

/// Runs steps on this machine, in a workspace directory of the server's file system.
#[derive(Clone, Debug)]
pub struct LocalExecutor {
    workspace: PathBuf,
    options: SpawnOptions,
}

impl LocalExecutor {
    pub fn new(workspace: PathBuf) -> Self {
        LocalExecutor {
            workspace,
            options: SpawnOptions::default(),
        }
    }

    /// Replaces the process runner's tuning (grace periods).
    pub fn with_options(mut self, options: SpawnOptions) -> Self {
        self.options = options;
        self
    }

    /// An absolute path stays as it is; a relative one is taken below the workspace.
    fn resolve(&self, path: &Path) -> PathBuf {
        self.workspace.join(path)
    }
}

fn file_error(op: &'static str, path: PathBuf) -> impl FnOnce(io::Error) -> ExecError {
    move |source| ExecError::File { op, path, source }
}

#[async_trait]
impl Executor for LocalExecutor {
    fn workspace(&self) -> &Path {
        &self.workspace
    }

    fn describe(&self) -> String {
        "local".to_owned()
    }

    async fn spawn(&self, spec: ProcessSpec) -> Result<ProcessHandle, ExecError> {
        spawn_local_with(spec, &self.workspace, self.options).await
    }

    async fn read_file(&self, path: &Path) -> Result<Vec<u8>, ExecError> {
        let path = self.resolve(path);
        tokio::fs::read(&path)
            .await
            .map_err(file_error("read", path))
    }

    async fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<(), ExecError> {
        let path = self.resolve(path);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(file_error("create directory", parent.to_path_buf()))?;
        }
        tokio::fs::write(&path, bytes)
            .await
            .map_err(file_error("write", path))
    }

    async fn file_exists(&self, path: &Path) -> Result<bool, ExecError> {
        let path = self.resolve(path);
        tokio::fs::try_exists(&path)
            .await
            .map_err(file_error("check", path))
    }

    async fn delete_dir(&self, path: &Path) -> Result<(), ExecError> {
        let path = self.resolve(path);
        match tokio::fs::remove_dir_all(&path).await {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            result => result.map_err(file_error("delete", path)),
        }
    }

    async fn create_dir(&self, path: &Path) -> Result<(), ExecError> {
        let path = self.resolve(path);
        tokio::fs::create_dir_all(&path)
            .await
            .map_err(file_error("create directory", path))
    }

    async fn list_files(
        &self,
        dir: &Path,
        includes: &[String],
        excludes: &[String],
    ) -> Result<Vec<FileEntry>, ExecError> {
        let set = FileSet::new(includes, excludes)?;
        let dir = self.resolve(dir);
        tokio::task::spawn_blocking(move || set.scan(&dir))
            .await
            .map_err(|e| ExecError::Backend(format!("listing files failed: {e}")))?
    }
}
