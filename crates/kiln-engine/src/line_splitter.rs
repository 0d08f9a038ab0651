//! Splitting a process's output into log lines, on bytes.
//!
//! Output arrives in chunks of up to a pipe's size. The complete lines of a chunk are found
//! with `memchr` and, when they are valid UTF-8 with no CRLF ending (the common case), handed
//! on as one text, validated once; only a chunk that needs it is decoded line by line. A line
//! with no end in sight is not kept growing: past [`MAX_LINE`] bytes it is cut into pieces,
//! each a line of the log, and the splitter says it cut one ([`LineSplitter::take_cut`]).

use crate::masker::Masker;
use memchr::{memchr, memchr_iter, memmem, memrchr};
use std::borrow::Cow;

/// The longest line kept whole; a longer one becomes pieces of this size, so what one
/// process's unterminated output holds is bounded.
pub(crate) const MAX_LINE: usize = 1 << 20;

/// What the lines go to.
pub(crate) trait LineSink {
    /// One line, without its line break.
    fn line(&mut self, line: &str);

    /// The secrets the lines are masked against: a line too long to keep is never cut
    /// inside one of them (the default: no secrets).
    fn secrets(&self) -> Option<&Masker> {
        None
    }

    /// Complete lines, each followed by `\n`, none ending in `\r\n`.
    fn lines(&mut self, text: &str) {
        for line in text.split_terminator('\n') {
            self.line(line);
        }
    }
}

impl<F: FnMut(&str)> LineSink for F {
    fn line(&mut self, line: &str) {
        self(line);
    }
}

/// Turns a stream of byte chunks into complete lines, keeping a partial line until its end
/// arrives (or [`LineSplitter::finish`] flushes it).
#[derive(Debug, Default)]
pub(crate) struct LineSplitter {
    pending: Vec<u8>,
    /// A line was cut since [`LineSplitter::take_cut`] was last called.
    cut: bool,
}

impl LineSplitter {
    /// Feeds a chunk and gives `sink` each line it completes (without the line break).
    pub(crate) fn push(&mut self, bytes: &[u8], sink: &mut impl LineSink) {
        let mut rest = bytes;
        if !self.pending.is_empty() {
            let Some(end) = memchr(b'\n', rest) else {
                self.keep(rest, sink);
                return;
            };
            self.keep(&rest[..end], sink);
            self.flush_pending(sink);
            rest = &rest[end + 1..];
        }
        let (complete, tail) = match memrchr(b'\n', rest) {
            Some(last) => rest.split_at(last + 1),
            None => (&[][..], rest),
        };
        whole_lines(complete, sink);
        self.keep(tail, sink);
    }

    /// Gives `sink` what is left of an unterminated last line.
    pub(crate) fn finish(&mut self, sink: &mut impl LineSink) {
        self.flush_pending(sink);
    }

    /// Whether a line was cut into pieces since the last call.
    pub(crate) fn take_cut(&mut self) -> bool {
        std::mem::take(&mut self.cut)
    }

    /// Emits the pending line (if any), keeping the buffer's allocation.
    fn flush_pending(&mut self, sink: &mut impl LineSink) {
        if self.pending.is_empty() {
            return;
        }
        // The whole line is here: what a secret's lookahead kept past the bound is cut now.
        self.cut_pieces(0, sink);
        sink.line(&decode(&self.pending));
        self.pending.clear();
        if self.pending.capacity() > 64 * 1024 {
            self.pending.shrink_to(64 * 1024);
        }
    }

    /// Adds the start of a line to the pending one, cutting off pieces past [`MAX_LINE`].
    /// With secrets, the longest secret's length more is kept before a cut, so that a cut
    /// can be placed before a secret it would split (which would then be masked nowhere).
    fn keep(&mut self, bytes: &[u8], sink: &mut impl LineSink) {
        self.pending.extend_from_slice(bytes);
        let lookahead = sink.secrets().map_or(0, Masker::longest);
        self.cut_pieces(lookahead, sink);
    }

    /// Cuts pieces of [`MAX_LINE`] bytes (less before a secret) off the pending line while
    /// it holds more than that and `lookahead` bytes.
    fn cut_pieces(&mut self, lookahead: usize, sink: &mut impl LineSink) {
        while self.pending.len() > MAX_LINE + lookahead {
            let mut at = char_boundary(&self.pending, MAX_LINE);
            if let Some(secrets) = sink.secrets() {
                at = secrets.safe_cut(&self.pending, at);
            }
            sink.line(&String::from_utf8_lossy(&self.pending[..at]));
            self.pending.drain(..at);
            self.cut = true;
        }
    }
}

/// Hands on complete lines (`text` is empty or ends with `\n`): all at once when they are
/// valid UTF-8 with no CRLF, else line by line, decoded.
fn whole_lines(text: &[u8], sink: &mut impl LineSink) {
    if text.is_empty() {
        return;
    }
    if memmem::find(text, b"\r\n").is_none()
        && let Ok(valid) = std::str::from_utf8(text)
    {
        sink.lines(valid);
        return;
    }
    let mut start = 0;
    for end in memchr_iter(b'\n', text) {
        sink.line(&decode(&text[start..end]));
        start = end + 1;
    }
}

/// Where to cut `bytes` at most `at` bytes in, not inside a UTF-8 character (when the bytes
/// there are one).
fn char_boundary(bytes: &[u8], at: usize) -> usize {
    let continuation = |i: usize| bytes.get(i).is_some_and(|b| b & 0xc0 == 0x80);
    (at.saturating_sub(3)..=at)
        .rev()
        .find(|&i| i > 0 && !continuation(i))
        .unwrap_or(at)
}

/// Lossy UTF-8, without the carriage return of a CRLF line ending.
fn decode(line: &[u8]) -> Cow<'_, str> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<String> {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, &mut |l: &str| out.push(l.to_owned()));
        }
        s.finish(&mut |l: &str| out.push(l.to_owned()));
        out
    }

    #[test]
    fn splits_lines_across_chunks() {
        assert_eq!(split(&[b"a\nb", b"c\n", b"d"]), ["a", "bc", "d"]);
        assert_eq!(split(&[b"x\r\n\n"]), ["x", ""]);
        assert_eq!(split(&[b""]), Vec::<String>::new());
        assert_eq!(split(&[b"a\nb\r\nc\n\nd\n"]), ["a", "b", "c", "", "d"]);
        assert_eq!(split(&[b"a\r", b"\nb\rc\n"]), ["a", "b\rc"]);
        assert_eq!(split(&[b"a", b"b", b"\n\n", b"c\n"]), ["ab", "", "c"]);
    }

    #[test]
    fn decodes_invalid_utf8_line_by_line_and_characters_split_across_chunks() {
        let euro = "\u{20ac}".as_bytes();
        let first = [b'o', b'k', b'\n', 0xff, b'x', b'\n', euro[0]];
        let second = [euro[1], euro[2], b'\n', b'z', b'\n'];
        assert_eq!(
            split(&[&first, &second]),
            ["ok", "\u{fffd}x", "\u{20ac}", "z"]
        );
    }

    /// The bulk path and the line-by-line path give the same lines.
    #[test]
    fn whole_chunks_and_single_bytes_split_alike() {
        let text = "one\ntwo \u{20ac}\n\nthree\r\nfour\rx\n\u{fffd}end".as_bytes();
        let whole = split(&[text]);
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(split(&bytes), whole);
        assert_eq!(
            whole,
            ["one", "two \u{20ac}", "", "three", "four\rx", "\u{fffd}end"]
        );
    }

    /// Regression (issue 11): a line with no end was kept whole, so a process printing
    /// without a newline grew kiln's memory without bound.
    #[test]
    fn a_line_longer_than_the_bound_is_cut_into_pieces() {
        let mut s = LineSplitter::default();
        let mut lengths = Vec::new();
        let chunk = vec![b'x'; 32 * 1024];
        for _ in 0..(2 * MAX_LINE / chunk.len() + 1) {
            s.push(&chunk, &mut |l: &str| lengths.push(l.len()));
            assert!(s.pending.len() <= MAX_LINE);
        }
        assert!(s.take_cut());
        assert!(!s.take_cut(), "said once per cut");
        s.push(b"y\nnext\n", &mut |l: &str| lengths.push(l.len()));
        assert_eq!(lengths, [MAX_LINE, MAX_LINE, 32 * 1024 + 1, 4]);
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let mut bytes = vec![b'x'; MAX_LINE - 1];
        bytes.extend_from_slice("\u{20ac}\u{20ac}".as_bytes());
        let lines = split(&[&bytes]);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), MAX_LINE - 1);
        assert_eq!(lines[1], "\u{20ac}\u{20ac}");
    }
}
