use crate::{BuildResult, LogLines, StageOutcome};
use kiln_plan::NodeId;
use std::time::Duration;

/// What a running build reports, in order, to whoever displays or stores it.
#[derive(Clone, Debug, PartialEq)]
pub enum BuildEvent {
    StageStarted {
        node: NodeId,
        path: Vec<String>,
    },
    StageFinished {
        node: NodeId,
        path: Vec<String>,
        outcome: StageOutcome,
        duration: Duration,
    },
    /// One line of the build's log (without its line break), from a stage's step or from the
    /// build itself (`node` is `None` for pipeline-level lines, e.g. post blocks of the pipeline).
    /// Secrets from credentials are already masked.
    Log {
        node: Option<NodeId>,
        line: String,
    },
    /// Lines a step's process printed (the lines of one piece of its output), like
    /// [`BuildEvent::Log`]'s. The batch holds the build's log credit until it is dropped:
    /// handle it and let it go (see [`LogLines`]).
    Output {
        node: Option<NodeId>,
        lines: LogLines,
    },
    /// A warning about something kiln accepts but does not do here (said once per build).
    Notice {
        message: String,
    },
    BuildFinished {
        result: BuildResult,
        duration: Duration,
    },
}
