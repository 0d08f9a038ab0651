use crate::process::{SpawnOptions, spawn_local_with};
use crate::{
    Confinement, ExecError, Executor, FileEntry, FileSet, ProcessHandle, ProcessSpec, Sandbox,
};
use async_trait::async_trait;
use std::io;
use std::path::{Path, PathBuf};

/// Runs steps on this machine, in a workspace directory of the server's file system.
///
/// File operations and working directories are confined to the workspace, its `@tmp`
/// directory and the directories [`LocalExecutor::allow`] adds; with a [`Sandbox`] the
/// processes are confined too.
#[derive(Clone, Debug)]
pub struct LocalExecutor {
    workspace: PathBuf,
    options: SpawnOptions,
    confinement: Confinement,
    sandbox: Option<Sandbox>,
}

impl LocalExecutor {
    pub fn new(workspace: PathBuf) -> Self {
        LocalExecutor {
            confinement: Confinement::new(&workspace),
            workspace,
            options: SpawnOptions::default(),
            sandbox: None,
        }
    }

    /// Lets file steps use these directories besides the workspace and its `@tmp`.
    pub fn allow(mut self, paths: impl IntoIterator<Item = PathBuf>) -> Self {
        self.confinement = self.confinement.allow(paths);
        self
    }

    /// Runs every process in this sandbox (its writable directories are the confinement's).
    pub fn with_sandbox(mut self, sandbox: Sandbox) -> Self {
        self.sandbox = Some(sandbox);
        self
    }

    /// Replaces the process runner's tuning (grace periods).
    pub fn with_options(mut self, options: SpawnOptions) -> Self {
        self.options = options;
        self
    }

    /// An absolute path stays as it is; a relative one is taken below the workspace. Either
    /// must lie inside the confinement.
    fn resolve(&self, op: &'static str, path: &Path) -> Result<PathBuf, ExecError> {
        let path = self.workspace.join(path);
        self.confinement.check(op, &path)?;
        Ok(path)
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

    async fn spawn(&self, mut spec: ProcessSpec) -> Result<ProcessHandle, ExecError> {
        spec.cwd = self.resolve("run a process in", &spec.cwd)?;
        if let Some(sandbox) = &self.sandbox {
            spec.argv = sandbox.wrap(self.confinement.roots(), spec.argv);
        }
        spawn_local_with(spec, &self.workspace, self.options).await
    }

    async fn read_file(&self, path: &Path) -> Result<Vec<u8>, ExecError> {
        let path = self.resolve("read", path)?;
        tokio::fs::read(&path)
            .await
            .map_err(file_error("read", path))
    }

    async fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<(), ExecError> {
        let path = self.resolve("write", path)?;
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
        let path = self.resolve("check", path)?;
        tokio::fs::try_exists(&path)
            .await
            .map_err(file_error("check", path))
    }

    async fn delete_dir(&self, path: &Path) -> Result<(), ExecError> {
        let path = self.resolve("delete", path)?;
        match tokio::fs::remove_dir_all(&path).await {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            result => result.map_err(file_error("delete", path)),
        }
    }

    async fn create_dir(&self, path: &Path) -> Result<(), ExecError> {
        let path = self.resolve("create directory", path)?;
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
        let dir = self.resolve("list", dir)?;
        tokio::task::spawn_blocking(move || set.scan(&dir))
            .await
            .map_err(|source| ExecError::Task {
                what: "listing files",
                source,
            })?
    }
}
