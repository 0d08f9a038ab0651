//! Running the `git` command line: non-interactive, with a timeout, errors naming the URL.

use crate::ScmError;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// Environment variables of an outer git (a hook, a build) that must not leak into ours.
const SCRUBBED: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
];

/// One git invocation for the repository `url`.
pub(crate) struct Git<'a> {
    pub url: &'a str,
    pub timeout: Duration,
    /// Variables set for the command (e.g. a commit's dates).
    pub env: Vec<(&'static str, String)>,
}

impl Git<'_> {
    /// Runs `git ARGS` in `cwd` (if given) and returns its standard output.
    pub async fn run<I, S>(&self, cwd: Option<&Path>, args: I) -> Result<Vec<u8>, ScmError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<std::ffi::OsString> =
            args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let command = describe(&args);
        let mut cmd = Command::new("git");
        // Never ask anyone anything: no terminal prompts, no GUI credential helpers,
        // ssh in batch mode (unless the user configured their own ssh command).
        cmd.args(["-c", "credential.interactive=never", "-c", "core.askPass="])
            .args(&args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GCM_INTERACTIVE", "never")
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if std::env::var_os("GIT_SSH_COMMAND").is_none() {
            cmd.env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes");
        }
        for var in SCRUBBED {
            cmd.env_remove(var);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        tracing::debug!(url = self.url, command = %command, "git");
        let child = cmd.spawn().map_err(|source| ScmError::Spawn {
            url: self.url.to_owned(),
            source,
        })?;
        let output = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(Ok(output)) => output,
            Ok(Err(source)) => {
                return Err(ScmError::Spawn {
                    url: self.url.to_owned(),
                    source,
                });
            }
            Err(_) => {
                return Err(ScmError::Timeout {
                    url: self.url.to_owned(),
                    command,
                    secs: self.timeout.as_secs(),
                });
            }
        };
        if output.status.success() {
            Ok(output.stdout)
        } else {
            Err(ScmError::Git {
                url: self.url.to_owned(),
                command,
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            })
        }
    }

    /// Like [`Git::run`], with the output as trimmed text.
    pub async fn text<I, S>(&self, cwd: Option<&Path>, args: I) -> Result<String, ScmError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self.run(cwd, args).await?;
        Ok(String::from_utf8_lossy(&out).trim().to_owned())
    }
}

/// The subcommand, for messages (`fetch`, `clone`, ...); URLs and paths are named elsewhere.
fn describe(args: &[std::ffi::OsString]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy())
        .find(|a| !a.starts_with('-'))
        .map_or_else(|| "git".to_owned(), |a| a.into_owned())
}
