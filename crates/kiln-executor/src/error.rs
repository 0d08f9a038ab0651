use std::path::PathBuf;

/// Errors of an executor backend.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("cannot start `{program}`")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("empty command")]
    EmptyCommand,
    #[error("{op} `{path}` failed")]
    File {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{op} `{path}` refused: it is outside the build's workspace (allowed: {allowed}; more with `executors.local.allow_paths`)"
    )]
    Outside {
        op: &'static str,
        path: PathBuf,
        allowed: String,
    },
    #[error("invalid glob pattern `{pattern}`: {message}")]
    Glob { pattern: String, message: String },
    #[error("{0}")]
    Backend(String),
}
