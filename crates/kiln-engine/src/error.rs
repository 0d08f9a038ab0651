use crate::BuildResult;

/// Why a running block was interrupted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interruption {
    /// The build was cancelled, a fail-fast sibling failed, or an input was aborted.
    Aborted,
    /// A `timeout` step or option ran out.
    Timeout,
}

/// How a step (or a block of steps) ended when it did not succeed. Jenkins has the same two
/// kinds: an error (the stage and build fail) and an interruption (they end aborted).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StepError {
    #[error("{0}")]
    Failed(String),
    #[error("{message}")]
    Interrupted {
        cause: Interruption,
        message: String,
    },
}

impl StepError {
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        StepError::Failed(message.into())
    }

    pub(crate) fn aborted(message: impl Into<String>) -> Self {
        StepError::Interrupted {
            cause: Interruption::Aborted,
            message: message.into(),
        }
    }

    /// The result this error gives the stage and build it escapes from.
    pub(crate) fn result(&self) -> BuildResult {
        match self {
            StepError::Failed(_) => BuildResult::Failure,
            StepError::Interrupted { .. } => BuildResult::Aborted,
        }
    }

    pub(crate) fn is_interruption(&self) -> bool {
        matches!(self, StepError::Interrupted { .. })
    }
}

impl From<kiln_executor::ExecError> for StepError {
    fn from(e: kiln_executor::ExecError) -> Self {
        StepError::Failed(error_chain(&e))
    }
}

/// An error and its sources as one line: `read `x` failed: No such file or directory`.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
