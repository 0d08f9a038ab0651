//! The build's own copy of its log text, for steps that send it elsewhere (`emailext
//! attachLog`). Bounded: past [`MAX_BYTES`] the oldest lines give way, and a first line says
//! so.

use crate::log_lines::BatchBuffers;
use crate::{BuildEvent, LogFormatter, LogLines, PlainStyle};
use kiln_plan::NodeId;
use std::collections::VecDeque;
use std::sync::Arc;

/// The most memory the copy holds: its log text (process output without its stage
/// prefixes), and the room past the text of the output batches it shares.
const MAX_BYTES: usize = 8 * 1024 * 1024;

/// A piece of the copy: a line already rendered, or a batch of process output kept as the
/// process wrote it: the batch's own text, shared with its event, not a copy (its stage
/// prefixes are added when the text is asked for, so a build that never sends its log
/// pays nothing per byte of its output).
enum Segment {
    Line(String),
    Output(Option<NodeId>, Arc<String>),
}

impl Segment {
    /// The memory it holds: a shared batch's whole buffer, which may have room past its text.
    fn len(&self) -> usize {
        match self {
            Segment::Line(text) => text.len(),
            Segment::Output(_, text) => text.capacity(),
        }
    }
}

#[derive(Default)]
pub(crate) struct LogCopy {
    formatter: LogFormatter,
    segments: VecDeque<Segment>,
    bytes: usize,
    cut: bool,
    /// Where the buffers of the batches it lets go go back to.
    buffers: BatchBuffers,
}

impl LogCopy {
    pub(crate) fn new(formatter: LogFormatter, buffers: BatchBuffers) -> Self {
        LogCopy {
            formatter,
            buffers,
            ..LogCopy::default()
        }
    }

    pub(crate) fn add(&mut self, event: &BuildEvent) {
        let segment = if let BuildEvent::Output { node, lines, .. } = event {
            Segment::Output(*node, lines.shared_text())
        } else {
            let Some(line) = self.formatter.line(event) else {
                return;
            };
            let mut text = line.render(&PlainStyle);
            text.push('\n');
            Segment::Line(text)
        };
        self.bytes += segment.len();
        self.segments.push_back(segment);
        while self.bytes > MAX_BYTES && self.segments.len() > 1 {
            if let Some(old) = self.segments.pop_front() {
                self.bytes -= old.len();
                self.cut = true;
                if let Segment::Output(_, text) = old {
                    self.buffers.give_back(text);
                }
            }
        }
    }

    /// The log so far.
    pub(crate) fn text(&self) -> String {
        let mut text = String::with_capacity(self.bytes + 64);
        if self.cut {
            text.push_str("[earlier lines of this log were left out]\n");
        }
        for segment in &self.segments {
            match segment {
                Segment::Line(line) => text.push_str(line),
                Segment::Output(node, output) => {
                    let lines: LogLines = output.lines().collect();
                    self.formatter
                        .write_output(*node, &lines, &PlainStyle, &mut text);
                }
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_stays_bounded_and_says_when_it_was_cut() {
        let mut copy = LogCopy::default();
        let line = "x".repeat(1000);
        for _ in 0..(MAX_BYTES / 1000 + 10) {
            copy.add(&BuildEvent::Log {
                node: None,
                line: line.clone(),
                kind: crate::LineKind::Text,
            });
        }
        let text = copy.text();
        assert!(text.len() <= MAX_BYTES + 100);
        assert!(text.starts_with("[earlier lines of this log were left out]\n"));
        assert!(text.ends_with(&format!("{line}\n")));
    }

    /// The copy shares the batches' text, and gives their buffers back for the next
    /// batches once it lets them go and nobody else holds them.
    #[test]
    fn batches_are_shared_and_their_buffers_given_back() {
        let buffers = BatchBuffers::default();
        let mut copy = LogCopy::new(LogFormatter::default(), buffers.clone());
        let lines: LogLines = std::iter::repeat_n("y", 1 << 20).collect();
        let at = lines.text().as_ptr();
        let event = |lines: LogLines| BuildEvent::Output {
            node: None,
            lines,
            source: crate::OutputSource::default(),
        };
        copy.add(&event(lines.clone()));
        assert!(matches!(copy.segments.back(), Some(Segment::Output(_, t)) if t.as_ptr() == at));
        // Still held elsewhere when let go: not given back.
        let held: LogLines = std::iter::repeat_n("z", 1 << 20).collect();
        let kept = held.clone();
        copy.add(&event(held));
        drop(lines);
        for _ in 0..(MAX_BYTES >> 20) {
            copy.add(&event(std::iter::repeat_n("x", 1 << 20).collect()));
        }
        assert!(copy.bytes <= MAX_BYTES);
        let back: Vec<String> = std::iter::repeat_with(|| buffers.take())
            .take_while(|b| b.capacity() > 0)
            .collect();
        assert!(back.len() <= 4, "a few are kept, not all");
        assert!(back.iter().all(String::is_empty));
        let first = back.iter().find(|b| b.as_ptr() == at);
        assert!(
            first.is_some_and(|b| b.capacity() >= 2 << 20),
            "the first batch's buffer"
        );
        assert!(
            back.iter().all(|b| b.as_ptr() != kept.text().as_ptr()),
            "a batch held elsewhere is not reused"
        );
    }

    #[test]
    fn process_output_is_kept_and_prefixed_when_the_text_is_asked_for() {
        let mut copy = LogCopy::default();
        copy.add(&BuildEvent::Log {
            node: None,
            line: "first".into(),
            kind: crate::LineKind::Text,
        });
        copy.add(&BuildEvent::Output {
            node: None,
            lines: ["a", "", "b"].into_iter().collect(),
            source: crate::OutputSource::default(),
        });
        assert_eq!(copy.text(), "first\na\n\nb\n");
    }
}
