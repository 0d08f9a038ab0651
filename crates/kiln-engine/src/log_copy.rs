//! The build's own copy of its log text, for steps that send it elsewhere (`emailext
//! attachLog`). Bounded: past [`MAX_BYTES`] the oldest lines give way, and a first line says
//! so.

use crate::{BuildEvent, LogFormatter, PlainStyle};

/// The most log text kept.
const MAX_BYTES: usize = 8 * 1024 * 1024;

#[derive(Default)]
pub(crate) struct LogCopy {
    formatter: LogFormatter,
    text: String,
    cut: bool,
}

impl LogCopy {
    pub(crate) fn new(formatter: LogFormatter) -> Self {
        LogCopy {
            formatter,
            text: String::new(),
            cut: false,
        }
    }

    pub(crate) fn add(&mut self, event: &BuildEvent) {
        if let BuildEvent::Output { node, lines } = event {
            self.formatter
                .write_output(*node, lines, &PlainStyle, &mut self.text);
        } else {
            let Some(line) = self.formatter.line(event) else {
                return;
            };
            self.text.push_str(&line.render(&PlainStyle));
            self.text.push('\n');
        }
        if self.text.len() > MAX_BYTES {
            let excess = self.text.len() - MAX_BYTES / 2;
            let cut_at = self.text[excess..]
                .find('\n')
                .map_or(self.text.len(), |i| excess + i + 1);
            self.text.drain(..cut_at);
            self.cut = true;
        }
    }

    /// The log so far.
    pub(crate) fn text(&self) -> String {
        if self.cut {
            format!("[earlier lines of this log were left out]\n{}", self.text)
        } else {
            self.text.clone()
        }
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
            });
        }
        let text = copy.text();
        assert!(text.len() <= MAX_BYTES + 100);
        assert!(text.starts_with("[earlier lines of this log were left out]\n"));
        assert!(text.ends_with(&format!("{line}\n")));
    }
}
