//! The structured record of a build's log: a sequence of [`LogEvent`]s, each saying what a
//! piece of the log's text is (a process's output and which bytes of it, a stage's start or
//! end, a line of a typed kind kiln wrote) and where its text lies in the log. The text is
//! what the API serves byte for byte; the events are what code that must understand the
//! log (a resumed build's replay) reads, so nothing parses text kiln itself wrote.

use crate::StoreError;
use serde::{Deserialize, Serialize};

/// One event of a build's log and where its text is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEvent {
    /// Byte offset of the event's text in the build's log. When appending, counted from the
    /// start of the appended bytes; when read back, from the start of the log.
    pub offset: u64,
    /// Length of the event's text (whole lines, each with its line break).
    pub len: u64,
    /// When kiln recorded it, in ms since the Unix epoch (0: not known).
    #[serde(default)]
    pub at_ms: u64,
    /// The stage (plan node id) it belongs to; `None` for the build's own lines.
    #[serde(default)]
    pub stage: Option<u32>,
    pub kind: LogEventKind,
}

impl LogEvent {
    /// Text that says nothing more of itself, from `offset` for `len` bytes.
    pub fn plain(offset: u64, len: u64) -> Self {
        LogEvent {
            offset,
            len,
            at_ms: 0,
            stage: None,
            kind: LogEventKind::Plain,
        }
    }

    /// The offset just past the event's text.
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.len)
    }

    /// Checks that `events`, offsets counted from the start of `bytes`, tile `bytes` in
    /// order (what every [`Store`](crate::Store) requires of an append, and readers of the
    /// record rely on).
    pub fn check_tiling(bytes: &[u8], events: &[LogEvent]) -> Result<(), StoreError> {
        let mut at = 0;
        for e in events {
            if e.offset != at {
                return Err(StoreError::BadEvents(format!(
                    "an event starts at {} where the previous one ended at {at}",
                    e.offset
                )));
            }
            at = e.end();
        }
        if at != bytes.len() as u64 {
            return Err(StoreError::BadEvents(format!(
                "the events cover {at} bytes of the {} appended",
                bytes.len()
            )));
        }
        Ok(())
    }
}

/// What a piece of a build's log is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LogEventKind {
    /// Text with no more structure: a log written before logs were structured (a migrated
    /// store), or text whose writer said nothing more about it.
    Plain,
    /// Lines of a process's output: `process` is its key within the build, `from..to` the
    /// bytes of its output the lines are, `lines` how many there are.
    Output {
        process: String,
        from: u64,
        to: u64,
        lines: u64,
    },
    /// A line a step or the build wrote.
    Line,
    /// A stage started.
    StageStarted,
    /// A stage finished (or was not run).
    StageFinished,
    /// A notice about something kiln accepts but does not do.
    Notice,
    /// The build (or a stage) runs in this pod.
    RunningInPod { pod: String },
    /// The workspace was copied into a new pod.
    WorkspaceUploaded,
    /// The build (or a stage) waited for a pod slot.
    WaitingForPod,
    /// The pod came from a warm pool.
    PodFromWarmPool,
    /// An image build started (or took over) a builder pod.
    BuilderPodStarted { pod: String },
    /// The build waits for an input.
    WaitingForInput,
    /// The build is being stopped, and why.
    Stopping,
    /// The controller stopped while the build went on in its pod.
    ControllerStopping,
    /// A resumed build's first new line: what follows was written after the restart.
    Resumed,
    /// Lines were lost while the store could not write.
    LinesLost,
    /// A kind a newer kiln wrote.
    #[serde(other)]
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_back_as_written_and_unknown_kinds_do_not_fail() {
        let event = LogEvent {
            offset: 3,
            len: 10,
            at_ms: 7,
            stage: Some(2),
            kind: LogEventKind::Output {
                process: "1.j.2.0.ab".into(),
                from: 0,
                to: 12,
                lines: 2,
            },
        };
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            json,
            r#"{"offset":3,"len":10,"at_ms":7,"stage":2,"kind":{"type":"output","process":"1.j.2.0.ab","from":0,"to":12,"lines":2}}"#
        );
        assert_eq!(serde_json::from_str::<LogEvent>(&json).unwrap(), event);
        let newer: LogEvent =
            serde_json::from_str(r#"{"offset":0,"len":1,"kind":{"type":"something_new"}}"#)
                .unwrap();
        assert_eq!(newer.kind, LogEventKind::Other);
    }
}
