use crate::{BuildResult, FailedStep, LogLines, StageOutcome};
use kiln_executor::ImageLogLine;
use kiln_plan::NodeId;
use std::sync::Arc;
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
        /// The step whose error failed the stage, when it ran in this stage itself.
        failed_step: Option<FailedStep>,
    },
    /// One line of the build's log (without its line break), from a stage's step or from the
    /// build itself (`node` is `None` for pipeline-level lines, e.g. post blocks of the pipeline).
    /// Secrets from credentials are already masked. `kind` says what the line is, so that
    /// what reads the build's record knows it without reading its words.
    Log {
        node: Option<NodeId>,
        line: String,
        kind: LineKind,
    },
    /// Lines a step's process printed (the lines of one piece of its output), like
    /// [`BuildEvent::Log`]'s. The batch holds the build's log credit until it is dropped:
    /// handle it and let it go (see [`LogLines`]). `source` says which process and which
    /// bytes of its output the lines are.
    Output {
        node: Option<NodeId>,
        lines: LogLines,
        source: OutputSource,
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

/// What a line of the build's log is, besides its words. A resumed build's record is
/// compared by these, never by a line's text: rewording a line changes nothing there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LineKind {
    /// A line a step or the build wrote.
    #[default]
    Text,
    /// The build's first line: what started it (`Started by user alice`).
    Cause,
    /// The build's own last line, `Finished: RESULT`.
    BuildEnd,
    /// The build (or a stage) runs in this pod.
    RunningInPod { pod: String },
    /// The workspace was copied into a new pod (not done again for a pod taken over).
    WorkspaceUploaded,
    /// The build (or a stage) waits for a pod slot.
    WaitingForPod,
    /// The pod came from a warm pool.
    PodFromWarmPool,
    /// An image build started (or took over) a builder pod.
    BuilderPodStarted { pod: String },
    /// One line of an image builder's output: `process` names the builder within the build
    /// (the step's process key and the platform), `end` is the byte offset just past the line
    /// in the builder's output.
    BuilderOutput { process: String, end: u64 },
}

/// A line for the build's log with its kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogMessage {
    pub kind: LineKind,
    pub text: String,
}

impl LogMessage {
    pub fn new(kind: LineKind, text: impl Into<String>) -> Self {
        LogMessage {
            kind,
            text: text.into(),
        }
    }
}

impl LogMessage {
    /// What an image build said, as a line of the log. A builder's output line gets its
    /// platform's prefix; with `step` (the `kanikoBuild` step's process key) it is keyed as
    /// output of the builder (`STEP/kaniko PLATFORM`), else it is a plain line.
    pub fn image(line: ImageLogLine, step: Option<&str>) -> Self {
        match line {
            ImageLogLine::PodStarted { pod, text } => {
                LogMessage::new(LineKind::BuilderPodStarted { pod }, text)
            }
            ImageLogLine::Output {
                platform,
                end,
                line,
            } => {
                let text = format!("[kaniko {platform}] {line}");
                let kind = match step {
                    Some(step) => LineKind::BuilderOutput {
                        process: format!("{step}/kaniko {platform}"),
                        end,
                    },
                    None => LineKind::Text,
                };
                LogMessage::new(kind, text)
            }
            ImageLogLine::Note(text) => LogMessage::new(LineKind::Text, text),
        }
    }
}

impl From<kiln_backend::Note> for LogMessage {
    /// What a backend said while an agent started, as a line of the log.
    fn from(note: kiln_backend::Note) -> Self {
        match note {
            kiln_backend::Note::Text(text) => LogMessage::new(LineKind::Text, text),
            kiln_backend::Note::Waiting(text) => LogMessage::new(LineKind::WaitingForPod, text),
            kiln_backend::Note::Image(line) => LogMessage::image(line, None),
        }
    }
}

impl From<String> for LogMessage {
    /// A plain line ([`LineKind::Text`]).
    fn from(text: String) -> Self {
        LogMessage::new(LineKind::Text, text)
    }
}

/// Which process a batch of output lines came from, and which of its bytes they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputSource {
    /// The process's key within the build (`ProcessSpec::key`): the same each time the
    /// build's steps run again along the same path.
    pub process: Arc<str>,
    /// The byte offset in the process's output (both streams counted) where the batch's
    /// first line starts.
    pub from: u64,
    /// The byte offset just past the batch's last line.
    pub to: u64,
}

/// Runs `work` (an image build writing to the sender of `lines`), passing what it says on to
/// `sink` as log lines as it comes.
pub async fn forward_image_log<T>(
    work: impl std::future::Future<Output = T>,
    lines: &mut tokio::sync::mpsc::UnboundedReceiver<ImageLogLine>,
    sink: &tokio::sync::mpsc::UnboundedSender<LogMessage>,
) -> T {
    tokio::pin!(work);
    let out = loop {
        tokio::select! {
            out = &mut work => break out,
            Some(line) = lines.recv() => {
                let _ = sink.send(LogMessage::image(line, None));
            }
        }
    };
    while let Ok(line) = lines.try_recv() {
        let _ = sink.send(LogMessage::image(line, None));
    }
    out
}
