use std::path::PathBuf;

/// Why a git operation failed; every variant names the repository URL.
#[derive(Debug, thiserror::Error)]
pub enum ScmError {
    #[error("git {command} failed for {url}: {stderr}")]
    Git {
        url: String,
        command: String,
        /// What git printed on standard error.
        stderr: String,
    },
    #[error("git {command} for {url} timed out after {secs}s")]
    Timeout {
        url: String,
        command: String,
        secs: u64,
    },
    #[error("cannot run git for {url} (is git installed?)")]
    Spawn {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{url} has no branch or tag `{name}`")]
    UnknownRef { url: String, name: String },
    #[error("{url} has no file `{path}` at commit {commit}")]
    NoSuchFile {
        url: String,
        commit: String,
        path: String,
    },
    #[error("invalid {what} `{value}` for {url}")]
    InvalidArgument {
        url: String,
        what: &'static str,
        value: String,
    },
    #[error("cannot prepare {path} for {url}")]
    Io {
        url: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
