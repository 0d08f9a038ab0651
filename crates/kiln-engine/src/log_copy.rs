//! The build's own copy of its log text, for steps that send it elsewhere (`emailext
//! attachLog`). Bounded: past [`MAX_BYTES`] the oldest lines give way, and a first line says
//! so.

use crate::{BuildEvent, LogFormatter, LogLines, PlainStyle};
use kiln_plan::NodeId;
use std::collections::VecDeque;

/// The most log text kept (process output without its stage prefixes).
const MAX_BYTES: usize = 8 * 1024 * 1024;

/// A piece of the copy: a line already rendered, or a batch of process output kept as the
/// process wrote it (its stage prefixes are added when the text is asked for, so a build
/// that never sends its log pays one copy of its output's bytes, not a formatted log).
enum Segment {
    Line(String),
    Output(Option<NodeId>, String),
}

impl Segment {
    fn len(&self) -> usize {
        match self {
            Segment::Line(text) | Segment::Output(_, text) => text.len(),
        }
    }
}

#[derive(Default)]
pub(crate) struct LogCopy {
    formatter: LogFormatter,
    segments: VecDeque<Segment>,
    bytes: usize,
    cut: bool,
}

impl LogCopy {
    pub(crate) fn new(formatter: LogFormatter) -> Self {
        LogCopy {
            formatter,
            ..LogCopy::default()
        }
    }

    pub(crate) fn add(&mut self, event: &BuildEvent) {
        let segment = if let BuildEvent::Output { node, lines, .. } = event {
            Segment::Output(*node, lines.text().to_owned())
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
