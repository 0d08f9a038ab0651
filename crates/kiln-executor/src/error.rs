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
    /// The pod or container cannot run steps any more (it was evicted, its node was lost,
    /// its container ended, it runs a service...): the backend's typed reason, which a
    /// caller may downcast (kiln-kube's `StepsStopped`, `StepsRefused`). The message is its
    /// whole chain, so it is kept to match on, not repeated as a `source`.
    #[error("{}", one_line(.0.as_ref()))]
    Unusable(Box<dyn std::error::Error + Send + Sync>),
    /// Preparing the pod for the build failed (uploading the workspace, packing a build
    /// context); the message says what.
    #[error("{0}")]
    Setup(String),
    /// An image build failed (a Kaniko pod that did not start, Kaniko's exit, its digest,
    /// an index push): the backend's typed error (kiln-kube's `ImageBuildError`, whose
    /// sources are the causes: the pod's start, the API server, the registry). The message
    /// is its whole chain, so it is kept to match on, not repeated as a `source`.
    #[error("{}", one_line(.0.as_ref()))]
    ImageBuild(Box<dyn std::error::Error + Send + Sync>),
    /// Random bytes for a generated name could not be read.
    #[error("cannot read random bytes for a name")]
    Random(#[source] std::io::Error),
}

/// An error and its sources on one line: `a: b: c`.
pub fn one_line(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
