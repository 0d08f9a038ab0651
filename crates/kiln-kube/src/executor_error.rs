//! Errors of the Kubernetes executor (pod creation, start, cleanup, reaping).

/// Why a build pod could not be made ready or cleaned up.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// An API request failed (after retries for transient errors).
    #[error("cannot {action}")]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },
    /// The pod will not start; the text is the reason for the build log.
    #[error("{0}")]
    Start(String),
    /// An agent in the pod could not be reached.
    #[error("{0}")]
    Agent(String),
    /// The pod as given cannot be used.
    #[error("invalid build pod: {0}")]
    Pod(String),
    /// The pod of a build being taken over (after a controller restart) is gone or can no
    /// longer run steps; the text says which and why.
    #[error("{0}")]
    Unusable(String),
    #[error("cannot make a random token")]
    Token(#[source] std::io::Error),
}
