//! Build log plumbing: splitting process output into lines, masking secrets, timestamps.

/// Turns a stream of byte chunks into complete lines, keeping a partial line until its end
/// arrives (or [`LineSplitter::finish`] flushes it).
#[derive(Debug, Default)]
pub(crate) struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Feeds a chunk and calls `emit` for each line it completes (without the line break).
    pub(crate) fn push(&mut self, bytes: &[u8], mut emit: impl FnMut(&str)) {
        let mut rest = bytes;
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            let (line, tail) = rest.split_at(pos);
            if self.pending.is_empty() {
                emit(&decode(line));
            } else {
                self.pending.extend_from_slice(line);
                let whole = std::mem::take(&mut self.pending);
                emit(&decode(&whole));
            }
            rest = &tail[1..];
        }
        self.pending.extend_from_slice(rest);
    }

    /// Emits what is left of an unterminated last line.
    pub(crate) fn finish(&mut self, mut emit: impl FnMut(&str)) {
        if !self.pending.is_empty() {
            let whole = std::mem::take(&mut self.pending);
            emit(&decode(&whole));
        }
    }
}

/// Lossy UTF-8, without the carriage return of a CRLF line ending.
fn decode(line: &[u8]) -> std::borrow::Cow<'_, str> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line)
}

/// Replaces every known secret value with `****`.
///
/// The log is masked line by line (process output is split into lines first, so a line
/// that arrived in several chunks is whole when masked), so a multi-line secret (an SSH
/// private key, multi-line secret text) is masked as a whole where one text holds it (an
/// `echo` of it) and line by line: each of its non-blank lines, without surrounding
/// blanks, is a secret of its own.
#[derive(Clone, Debug, Default)]
pub(crate) struct Masker {
    /// Longest first, so a secret containing another is masked whole.
    secrets: Vec<String>,
}

impl Masker {
    pub(crate) fn with(&self, more: impl IntoIterator<Item = String>) -> Masker {
        let mut secrets = self.secrets.clone();
        let mut add = |s: String| {
            if !s.is_empty() && !secrets.contains(&s) {
                secrets.push(s);
            }
        };
        for s in more {
            if s.contains('\n') {
                s.split('\n')
                    .map(str::trim)
                    .filter(|line| !line.is_empty())
                    .for_each(|line| add(line.to_owned()));
            }
            add(s);
        }
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Masker { secrets }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    pub(crate) fn mask(&self, line: &str) -> String {
        let mut out = String::with_capacity(line.len());
        self.mask_into(line, &mut out);
        out
    }

    /// Appends `line` masked to `out`; copies it as it is, without allocating, when it
    /// holds no secret.
    pub(crate) fn mask_into(&self, line: &str, out: &mut String) {
        if !self.secrets.iter().any(|s| line.contains(s.as_str())) {
            out.push_str(line);
            return;
        }
        let mut masked = line.to_owned();
        for secret in &self.secrets {
            if masked.contains(secret.as_str()) {
                masked = masked.replace(secret.as_str(), "****");
            }
        }
        out.push_str(&masked);
    }
}

/// The current UTC time as `[2024-05-01T10:20:30.123Z] `, the `timestamps` prefix.
pub(crate) fn timestamp_prefix() -> String {
    let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ");
    format!("[{now}] ")
}

/// The length of the `timestamps` prefix `bytes` starts with (the shape
/// [`timestamp_prefix`] writes), 0 when it does not start with one; for readers of stored
/// logs that compare lines whatever their time.
pub fn timestamp_prefix_len(bytes: &[u8]) -> usize {
    const SHAPE: &[u8] = b"[dddd-dd-ddTdd:dd:dd.dddZ] ";
    let matches = bytes.len() >= SHAPE.len()
        && SHAPE.iter().zip(bytes).all(|(shape, b)| match shape {
            b'd' => b.is_ascii_digit(),
            other => other == b,
        });
    if matches { SHAPE.len() } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timestamp_prefix_written_is_the_one_recognized() {
        let prefix = timestamp_prefix();
        assert_eq!(timestamp_prefix_len(prefix.as_bytes()), prefix.len());
        let line = format!("{prefix}hello");
        assert_eq!(&line[timestamp_prefix_len(line.as_bytes())..], "hello");
        assert_eq!(timestamp_prefix_len(b"[Build] hello"), 0);
        assert_eq!(timestamp_prefix_len(b"[2024-05-01T10:20:30Z] x"), 0);
    }

    fn split(chunks: &[&str]) -> Vec<String> {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        for c in chunks {
            s.push(c.as_bytes(), |l| out.push(l.to_owned()));
        }
        s.finish(|l| out.push(l.to_owned()));
        out
    }

    #[test]
    fn splits_lines_across_chunks() {
        assert_eq!(split(&["a\nb", "c\n", "d"]), ["a", "bc", "d"]);
        assert_eq!(split(&["x\r\n\n"]), ["x", ""]);
        assert_eq!(split(&[""]), Vec::<String>::new());
        assert_eq!(split(&["a\nb\r\nc\n\nd\n"]), ["a", "b", "c", "", "d"]);
    }

    #[test]
    fn decodes_invalid_utf8_line_by_line_and_characters_split_across_chunks() {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        let euro = "\u{20ac}".as_bytes();
        s.push(&[b'o', b'k', b'\n', 0xff, b'x', b'\n', euro[0]], |l| {
            out.push(l.to_owned())
        });
        s.push(&[euro[1], euro[2], b'\n', b'z', b'\n'], |l| {
            out.push(l.to_owned())
        });
        assert_eq!(out, ["ok", "\u{fffd}x", "\u{20ac}", "z"]);
    }

    /// Guards issue 11: a multi-line secret was not masked at all, since no line holds it.
    #[test]
    fn masks_every_line_of_a_multi_line_secret_and_the_secret_whole() {
        let key = "-----BEGIN KEY-----\r\nAAAAb3Blbn\n  Nzc2gta2V5  \n\n-----END KEY-----\n";
        let m = Masker::default().with([key.to_owned()]);
        let mut lines = Vec::new();
        let mut s = LineSplitter::default();
        // The key's text cut in the middle of its lines, as output chunks may be.
        let output = format!("before\n{key}after\n");
        for chunk in output.as_bytes().chunks(7) {
            s.push(chunk, |l| lines.push(m.mask(l)));
        }
        assert_eq!(
            lines,
            ["before", "****", "****", "  ****  ", "", "****", "after"]
        );
        assert_eq!(m.mask(&format!("echo {key}!")), "echo ****!");
    }

    #[test]
    fn masks_longest_secret_first() {
        let m = Masker::default().with(["abc".to_owned(), "abcdef".to_owned()]);
        assert_eq!(m.mask("x abcdef abc"), "x **** ****");
    }
}
