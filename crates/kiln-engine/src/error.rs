use crate::BuildResult;
use crate::failed_step::FailedStep;
use crate::steps::StepCall;
use kiln_executor::ExecError;
use kiln_plan::NodeId;
use std::sync::Arc;

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
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum StepError {
    /// The step failed; the message is the build log's (`error 'x'`, an exit code...).
    #[error("{0}")]
    Failed(String),
    /// The executor failed (a process could not start, a file operation failed). The
    /// message is the whole chain, as the build log shows it, so the executor's error is
    /// kept here to match on, not repeated as a `source`.
    #[error("{}", error_chain(.0.as_ref()))]
    Exec(Arc<ExecError>),
    #[error("{message}")]
    Interrupted {
        cause: Interruption,
        message: String,
    },
    /// A step's failure (never an interruption) with the step that failed and the stage it
    /// ran in: set by the innermost step, passed on unchanged by the blocks around it. It
    /// reads as the error it wraps.
    #[error("{error}")]
    InStep {
        step: Arc<FailedStep>,
        node: Option<NodeId>,
        error: Box<StepError>,
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
            StepError::Failed(_) | StepError::Exec(_) => BuildResult::Failure,
            StepError::Interrupted { .. } => BuildResult::Aborted,
            StepError::InStep { error, .. } => error.result(),
        }
    }

    pub(crate) fn is_interruption(&self) -> bool {
        match self {
            StepError::Interrupted { .. } => true,
            StepError::InStep { error, .. } => error.is_interruption(),
            StepError::Failed(_) | StepError::Exec(_) => false,
        }
    }

    /// This error as the failure of the step `call` (running in the stage `node`), unless it
    /// is an interruption or already names the (inner) step that failed.
    pub(crate) fn in_step(self, call: &StepCall<'_>) -> Self {
        if self.is_interruption() || matches!(self, StepError::InStep { .. }) {
            return self;
        }
        StepError::InStep {
            step: Arc::new(FailedStep::of(call, &self.to_string())),
            node: call.scope.node,
            error: Box::new(self),
        }
    }

    /// The step that failed, when it ran in the stage `node` itself (not in a stage inside).
    pub(crate) fn failed_step_in(&self, node: NodeId) -> Option<FailedStep> {
        match self {
            StepError::InStep {
                step,
                node: Some(n),
                ..
            } if *n == node => Some(FailedStep::clone(step)),
            _ => None,
        }
    }
}

impl From<ExecError> for StepError {
    fn from(e: ExecError) -> Self {
        StepError::Exec(Arc::new(e))
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
