use crate::{ExecError, ImageBuild, ImageBuilt, ImageLog, ProcessHandle, ProcessSpec};
use async_trait::async_trait;
use std::path::{Path, PathBuf};

/// A file found by [`Executor::list_files`], relative to the directory searched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    pub path: PathBuf,
    pub size: u64,
}

/// A place where one build's steps run: a workspace directory plus the ability to run
/// processes in it. The local backend runs them on this machine; the Kubernetes backend
/// runs them in pod containers through the kiln agent.
///
/// Every path given to these methods is either absolute or relative to [`Executor::workspace`].
#[async_trait]
pub trait Executor: Send + Sync {
    /// The workspace root as the steps see it (`WORKSPACE`).
    fn workspace(&self) -> &Path;

    /// A short name for logs and messages, e.g. `local` or `pod kiln-build-42/maven`.
    fn describe(&self) -> String;

    /// Whether [`ProcessSpec::container`] chooses where a process runs (a pod's containers).
    /// The default is false: the executor has one place and ignores it.
    fn runs_in_containers(&self) -> bool {
        false
    }

    /// Whether the build is repeating steps it had done before a controller restart (a
    /// build resumed in its Kubernetes pod, until it reaches the step that was running):
    /// steps with effects outside the executor keep what they recorded then (archived
    /// artifacts, stashes) and `sleep` does not wait again. The default is false.
    fn is_replaying(&self) -> bool {
        false
    }

    /// Starts a process. Its output arrives through the returned handle; dropping the handle
    /// stops the process.
    async fn spawn(&self, spec: ProcessSpec) -> Result<ProcessHandle, ExecError>;

    async fn read_file(&self, path: &Path) -> Result<Vec<u8>, ExecError>;

    /// Writes a file, creating its parent directories.
    async fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<(), ExecError>;

    async fn file_exists(&self, path: &Path) -> Result<bool, ExecError>;

    /// Removes a directory and everything in it; a missing directory is not an error.
    async fn delete_dir(&self, path: &Path) -> Result<(), ExecError>;

    /// Creates a directory and its parents.
    async fn create_dir(&self, path: &Path) -> Result<(), ExecError>;

    /// Regular files below `dir` whose path relative to `dir` matches one of the Ant-style
    /// `includes` globs (`**/*.xml`, `target/*.jar`) and none of the `excludes`, sorted by path.
    ///
    /// The pattern rules are those of [`FileSet`](crate::FileSet): Ant's, each string may be a
    /// comma-separated list, no includes means every file, and a missing `dir` holds no files.
    async fn list_files(
        &self,
        dir: &Path,
        includes: &[String],
        excludes: &[String],
    ) -> Result<Vec<FileEntry>, ExecError>;

    /// Builds and pushes a container image from the workspace (`kanikoBuild`), writing the
    /// builders' output to `log`. The default says that this executor cannot: image builds
    /// run in Kaniko pods, so they need a Kubernetes agent.
    async fn build_image(&self, build: ImageBuild, log: ImageLog) -> Result<ImageBuilt, ExecError> {
        let _ = (build, log);
        Err(ExecError::Unsupported(format!(
            "kanikoBuild needs a Kubernetes agent: image builds run in Kaniko pods, and this \
             build runs on {} (use `agent {{ kubernetes {{ ... }} }}`, or `kiln run --kubeconfig`)",
            self.describe()
        )))
    }
}
