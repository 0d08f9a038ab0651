//! The site of an `image.inside { }` block run with the docker CLI: processes run in the
//! container with `docker exec`, files are those of the executor underneath (the container
//! mounts the workspace and its `@tmp` at the same paths).

use async_trait::async_trait;
use kiln_executor::{ExecError, Executor, ProcessHandle, ProcessSpec, SpawnLayer};
use std::sync::Arc;

/// Variables the container keeps its own values of: the build machine's would break it.
const CONTAINER_OWN: &[&str] = &[
    "PATH", "HOME", "HOSTNAME", "USER", "SHELL", "TMPDIR", "PWD", "OLDPWD", "SHLVL", "_",
];

/// An executor running its processes in a container of the executor underneath.
pub(crate) struct DockerExec {
    inner: Arc<dyn Executor>,
    container: String,
}

impl DockerExec {
    pub(crate) fn new(inner: Arc<dyn Executor>, container: String) -> Self {
        DockerExec { inner, container }
    }

    /// `docker exec` of `spec` in the container. The build's variables are passed by name
    /// (`--env NAME`), so their values (secrets among them) reach the container from the
    /// docker client's environment and never appear in a command line.
    pub(crate) fn exec_spec(&self, spec: ProcessSpec) -> ProcessSpec {
        let cwd = if spec.cwd.is_absolute() {
            spec.cwd.clone()
        } else {
            self.inner.workspace().join(&spec.cwd)
        };
        let mut argv = vec!["docker".to_owned(), "exec".to_owned()];
        if !spec.stdin.is_empty() {
            argv.push("-i".to_owned());
        }
        for name in spec.env.keys() {
            if !CONTAINER_OWN.contains(&name.as_str()) {
                argv.push("--env".to_owned());
                argv.push(name.clone());
            }
        }
        argv.push("-w".to_owned());
        argv.push(cwd.display().to_string());
        argv.push(self.container.clone());
        argv.extend(spec.argv.iter().cloned());
        ProcessSpec {
            argv,
            cwd,
            container: None,
            ..spec
        }
    }
}

#[async_trait]
impl SpawnLayer for DockerExec {
    fn inner(&self) -> &Arc<dyn Executor> {
        &self.inner
    }

    fn describe(&self) -> String {
        let short: String = self.container.chars().take(12).collect();
        format!("{} (container {short})", self.inner.describe())
    }

    async fn spawn(&self, spec: ProcessSpec) -> Result<ProcessHandle, ExecError> {
        self.inner.spawn(self.exec_spec(spec)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_executor::LocalExecutor;
    use std::collections::BTreeMap;

    #[test]
    fn processes_become_docker_exec_with_variables_by_name() {
        let inner: Arc<dyn Executor> = Arc::new(LocalExecutor::new("/ws".into()));
        let exec = DockerExec::new(inner, "c0ffee".to_owned());
        let env = BTreeMap::from([
            ("PATH".to_owned(), "/usr/bin".to_owned()),
            ("TOKEN".to_owned(), "s3cret".to_owned()),
        ]);
        let spec = ProcessSpec::new(vec!["sh".into(), "-c".into(), "make".into()])
            .env(env)
            .cwd("sub");
        let out = exec.exec_spec(spec);
        assert_eq!(
            out.argv,
            [
                "docker", "exec", "--env", "TOKEN", "-w", "/ws/sub", "c0ffee", "sh", "-c", "make"
            ]
        );
        assert_eq!(out.env.get("TOKEN").map(String::as_str), Some("s3cret"));
        assert!(!out.argv.iter().any(|a| a.contains("s3cret")));
    }
}
