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
    /// An image the agent runs could not be built (the text says why).
    #[error("{0}")]
    Image(String),
    /// The backend cannot be reached (the text says why).
    #[error("{0}")]
    Connect(String),
    /// The agent did not start, or cannot be taken over.
    #[error(transparent)]
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
