use std::path::PathBuf;

/// Errors of an executor backend. Each case is its own variant so callers can tell them
/// apart; a `String` field is a message for the build log, written where the cause is known.
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
    /// A process's reader went away before it reported how the process ended.
    #[error("the process ended without reporting an exit status")]
    NoExitStatus,
    /// A blocking task of the executor (e.g. listing files) did not complete.
    #[error("{what} failed")]
    Task {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    /// This executor cannot do what was asked (e.g. an image build outside Kubernetes);
    /// the message says where it can be done.
    #[error("{0}")]
    Unsupported(String),
    /// The agent that runs the build's steps (in a pod) cannot be reached or failed;
    /// `agent` names it.
    #[error("{agent}: {reason}")]
    Agent { agent: String, reason: String },
    /// The agent answered something the protocol does not allow there.
    #[error("unexpected answer {0}")]
    Protocol(String),
    /// The remote side reported a failure of its own; `context` says where it ran.
    #[error("{context}: {message}")]
    Remote { context: String, message: String },
    /// The pod has no such container.
    #[error("pod {pod} has no container `{container}` (its containers: {known})")]
    NoContainer {
        pod: String,
        container: String,
        known: String,
    },
    /// The pod or container cannot run steps any more (it was evicted, its container
    /// ended...); the reason says why.
    #[error("{0}")]
    Unusable(String),
    /// Preparing the pod for the build failed (uploading the workspace, packing a build
    /// context); the message says what.
    #[error("{0}")]
    Setup(String),
    /// An image build failed (a Kaniko pod, its digest, an index push); the message says
    /// which platform or destination and why.
    #[error("{0}")]
    ImageBuild(String),
    /// Random bytes for a generated name could not be read.
    #[error("cannot read random bytes for a name")]
    Random(#[source] std::io::Error),
}
