//! Why an agent could not be acquired, resumed or filled.

use kiln_diagnostics::Diagnostic;

/// Why a backend could not give an agent. The variants let callers tell what the user wrote
/// wrong ([`BackendError::Settings`], [`BackendError::Invalid`]) from the backend's troubles.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The agent's settings cannot be read (e.g. its `yamlFile`), at the agent.
    #[error("{}", .0.message)]
    Settings(Box<Diagnostic>),
    /// The agent the settings make is invalid (every problem, against the Jenkinsfile).
    #[error("{}", join(.0))]
    Invalid(Vec<Diagnostic>),
    /// An image the agent runs could not be built: the backend's typed error (kiln-kube's
    /// `DockerfileError`: the agent's settings, or the build with its causes). The message
    /// is its whole chain, so it is kept to match on, not repeated as a `source`.
    #[error("{}", kiln_executor::one_line(.0.as_ref()))]
    Image(Box<dyn std::error::Error + Send + Sync>),
    /// The backend cannot be reached: its typed error (kiln-kube's `SourceError`), whole
    /// chain as the message, kept to match on.
    #[error("{}", kiln_executor::one_line(.0.as_ref()))]
    Connect(Box<dyn std::error::Error + Send + Sync>),
    /// The agent did not start, or cannot be taken over: the backend's typed error (kiln-kube's
    /// `KubeError`, whose sources say what the API server or the pod answered). The message
    /// is its whole chain, so a build log shows the cause; it is kept to match on, not
    /// repeated as a `source`.
    #[error("{}", kiln_executor::one_line(.0.as_ref()))]
    Agent(Box<dyn std::error::Error + Send + Sync>),
    /// The workspace could not be copied into the agent.
    #[error(transparent)]
    Upload(#[from] kiln_executor::ExecError),
    /// This backend cannot do what was asked (the text says what).
    #[error("{0}")]
    Unsupported(String),
}

fn join(diags: &[Diagnostic]) -> String {
    let all: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
    all.join("; ")
}

#[cfg(test)]
mod tests {
    use super::BackendError;
    use std::error::Error;

    /// An error with a cause, as kiln-kube's `KubeError::Api` holds a `kube::Error`.
    #[derive(Debug, thiserror::Error)]
    #[error("cannot create pod p-1")]
    struct Create(#[source] Cause);

    #[derive(Debug, thiserror::Error)]
    #[error("ApiError: pods \"p-1\" is forbidden (Forbidden)")]
    struct Cause;

    #[test]
    fn an_agent_error_says_its_whole_chain_once() {
        let error = BackendError::Agent(Box::new(Create(Cause)));
        assert_eq!(
            error.to_string(),
            "cannot create pod p-1: ApiError: pods \"p-1\" is forbidden (Forbidden)"
        );
        // The chain is in the message, so nothing prints the cause a second time.
        assert!(error.source().is_none());
        // The typed error is still there to match on.
        let BackendError::Agent(inner) = &error else {
            unreachable!()
        };
        assert!(inner.downcast_ref::<Create>().is_some());
    }
}
