//! The log of a resumed build. After a controller restart a build whose pod still runs is
//! resumed by running its steps again against that pod (the agent answers processes that
//! already ran with their recorded output, see `ProcessSpec::key`), so the engine writes the
//! build's log again from its first line. The stored log is the truth: what repeats it is
//! dropped; the first piece that does not, or comes past the stored end, is appended after a
//! marker line, and so is everything after it in its stage.
//!
//! The replay reads the stored log's structured record (its [`LogEvent`]s), never its text:
//! a process's output is known by the process's key and the byte offsets of its output, a
//! line kiln wrote by its kind. Rewording any line changes nothing here.
//!
//! - Process output (and an image builder's): a process recorded up to offset N is not
//!   written again below N. A batch that ends at or below N repeats the stored output; one
//!   that starts below N and ends past it drops the lines the stored log has (as many as the
//!   stored events counted up to N, less those the new run wrote before), and the rest is new.
//!   Output of a process the stored log does not have, or past N, is new.
//! - Everything else (stage starts and ends, lines, typed messages) is compared per stage, in
//!   order, by kind: within a stage they come in a fixed order, while parallel stages
//!   interleave them as their timing goes. A new piece whose kind is the stage's next stored
//!   kind repeats it; stored pieces of kinds a resumed build does not write again (the
//!   workspace upload, waits for a pod slot or an input, the warm pool a pod came from, the
//!   start of an image builder's pod, which a build answered from its record does not start
//!   again, and an earlier restart's marker and stopping lines) may be passed over. A stage
//!   whose new pieces differed once, or whose output went past the stored one, has everything
//!   after appended; the other stages keep being compared.
//! - A stage whose pod is taken over says that it runs in the pod (the same pod, a field of
//!   the kind) without what made the pod (a dockerfile agent's image build): its stored copy
//!   is looked for past the pieces before it. A stage that had finished before the restart
//!   in a pod of its own is not run again (its pod is gone): its end comes right after its
//!   start. The recorder announces that ([`Replay::expect_stage_end`]), and the stage's stored
//!   pieces before its stored end are passed over.

use kiln_store::{LogEvent, LogEventKind};
use std::collections::{HashMap, VecDeque};

/// The start of the marker line of a resumed build.
pub(crate) const MARKER_START: &str = "kiln: controller restarted; build resumed in ";

/// Compares a resumed build's new log with its stored record.
pub(crate) struct Replay {
    /// Per stage (`None`: the build's own pieces), the stored kinds not matched yet.
    groups: HashMap<Option<u32>, Group>,
    /// Per process key, the stored output: (offset past the last line, lines so far) after
    /// each stored batch.
    stored: HashMap<String, Vec<(u64, u64)>>,
    /// Per process key, the lines of output the resumed build wrote so far.
    seen: HashMap<String, u64>,
    marker: String,
    /// The marker was written (some new piece was appended).
    marked: bool,
    /// Stages that had finished before the restart: their stored end may be reached past the
    /// stage's other stored pieces.
    stage_ends: Vec<u32>,
}

#[derive(Default)]
struct Group {
    kinds: VecDeque<LogEventKind>,
    diverged: bool,
}

/// What the replay made of one new piece of the log.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Taken {
    /// How many of the piece's first lines repeat the stored log (they are dropped).
    pub repeated: u64,
    /// For output that goes past the stored output: the offset its new lines start at.
    pub new_from: Option<u64>,
}

impl Replay {
    /// A replay of the stored record `events`; `marker` (one line, no newline) goes where
    /// new output starts.
    pub(crate) fn new(events: Vec<LogEvent>, marker: String) -> Self {
        let mut groups: HashMap<Option<u32>, Group> = HashMap::new();
        let mut stored: HashMap<String, Vec<(u64, u64)>> = HashMap::new();
        for event in events {
            match event.kind {
                LogEventKind::Output {
                    process, to, lines, ..
                } => {
                    let batches = stored.entry(process).or_default();
                    let before = batches.last().map_or(0, |b| b.1);
                    batches.push((to, before + lines));
                }
                kind => groups.entry(event.stage).or_default().kinds.push_back(kind),
            }
        }
        Replay {
            groups,
            stored,
            seen: HashMap::new(),
            marker,
            marked: false,
            stage_ends: Vec::new(),
        }
    }

    /// Announces the end of stage `node`, which had finished before the restart: when it
    /// comes, the stage's stored pieces up to its stored end are passed over (the stage was
    /// not run again).
    pub(crate) fn expect_stage_end(&mut self, node: u32) {
        self.stage_ends.push(node);
    }

    /// Whether every new piece so far repeated the stored log (nothing was appended).
    pub(crate) fn is_matching(&self) -> bool {
        !self.marked
    }

    /// The marker line (without its newline), the first time something is appended.
    pub(crate) fn marker(&mut self) -> Option<&str> {
        if self.marked {
            return None;
        }
        self.marked = true;
        Some(&self.marker)
    }

    /// Takes the next new piece of the log, `lines` lines of `kind` in `stage`, and says how
    /// many of its first lines repeat the stored log.
    pub(crate) fn take(&mut self, stage: Option<u32>, kind: &LogEventKind, lines: u64) -> Taken {
        match kind {
            LogEventKind::Output {
                process, from, to, ..
            } => self.take_output(stage, process, (*from, *to), lines),
            _ => Taken {
                repeated: if self.take_kind(stage, kind) {
                    lines
                } else {
                    0
                },
                new_from: None,
            },
        }
    }

    fn take_output(
        &mut self,
        stage: Option<u32>,
        process: &str,
        (from, to): (u64, u64),
        lines: u64,
    ) -> Taken {
        let seen = self.seen.entry(process.to_owned()).or_default();
        let before = *seen;
        *seen += lines;
        let (stored_to, stored_lines) = self
            .stored
            .get(process)
            .and_then(|b| b.last().copied())
            .unwrap_or((0, 0));
        if to <= stored_to {
            return Taken {
                repeated: lines,
                new_from: None,
            };
        }
        // New output from here on: the stage's later pieces are new too.
        self.groups.entry(stage).or_default().diverged = true;
        let repeated = if from < stored_to {
            stored_lines.saturating_sub(before).min(lines)
        } else {
            0
        };
        Taken {
            repeated,
            new_from: (repeated > 0).then_some(stored_to),
        }
    }

    /// Moves past `kind` if it is its stage's next stored kind (after kinds that may be
    /// passed over); says whether it was. A stage's first piece that was not ends its
    /// comparison.
    fn take_kind(&mut self, stage: Option<u32>, kind: &LogEventKind) -> bool {
        let announced = match (kind, stage) {
            (LogEventKind::StageFinished, Some(node)) => {
                let at = self.stage_ends.iter().position(|n| *n == node);
                at.map(|i| self.stage_ends.swap_remove(i)).is_some()
            }
            _ => false,
        };
        let sync = announced || matches!(kind, LogEventKind::RunningInPod { .. });
        let group = self.groups.entry(stage).or_default();
        if group.diverged {
            return false;
        }
        for (skipped, stored) in group.kinds.iter().enumerate() {
            if stored == kind {
                group.kinds.drain(..=skipped);
                return true;
            }
            if !sync && !may_pass_over(stored) {
                break;
            }
        }
        group.diverged = true;
        false
    }
}

/// Stored kinds a resumed build may not write again.
fn may_pass_over(kind: &LogEventKind) -> bool {
    matches!(
        kind,
        LogEventKind::WorkspaceUploaded
            | LogEventKind::PodFromWarmPool
            | LogEventKind::WaitingForPod
            | LogEventKind::WaitingForInput
            | LogEventKind::BuilderPodStarted { .. }
            | LogEventKind::Resumed
            | LogEventKind::ControllerStopping
    )
}

#[cfg(test)]
mod tests;
