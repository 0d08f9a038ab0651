//! Masking secret values in the build's log.

use aho_corasick::AhoCorasick;

/// Replaces every known secret value with `****`.
///
/// The log is masked line by line (process output is split into lines first, so a line
/// that arrived in several chunks is whole when masked), so a multi-line secret (an SSH
/// private key, multi-line secret text) is masked as a whole where one text holds it (an
/// `echo` of it) and line by line: each of its non-blank lines, without surrounding
/// blanks, is a secret of its own.
///
/// Finding whether a text holds any secret is one Aho-Corasick pass over it, whatever the
/// number of secrets; so a batch of lines with none in it is copied as it is, and a build
/// without secrets pays nothing.
#[derive(Clone, Debug, Default)]
pub(crate) struct Masker {
    /// Longest first, so a secret containing another is masked whole.
    secrets: Vec<String>,
    /// Finds any of `secrets`; `None` when there are none.
    finder: Option<AhoCorasick>,
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
        let finder = match AhoCorasick::new(&secrets) {
            Ok(finder) if !secrets.is_empty() => Some(finder),
            Ok(_) => None,
            Err(error) => {
                // Only a set of patterns too large for the automaton; masking then looks
                // for each secret in turn.
                tracing::warn!(%error, "cannot index the build's secrets; masking them one by one");
                None
            }
        };
        Masker { secrets, finder }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Whether `text` may hold a secret (it surely does not when this is false).
    pub(crate) fn may_match(&self, text: &str) -> bool {
        match &self.finder {
            Some(finder) => finder.is_match(text),
            None => self.secrets.iter().any(|s| text.contains(s.as_str())),
        }
    }

    /// The longest secret's length in bytes (0 without secrets): how far past a cut in a
    /// line a secret may reach.
    pub(crate) fn longest(&self) -> usize {
        self.secrets.first().map_or(0, String::len)
    }

    /// Where to cut `bytes` at or before `at` so that no secret is cut in two: the start of
    /// a secret that straddles `at` (repeated, for one straddling that start). `bytes` must
    /// hold [`Masker::longest`] bytes past `at` for a secret there to be seen. When only a cut
    /// at the very start would do (a secret longer than the piece), `at` stands.
    pub(crate) fn safe_cut(&self, bytes: &[u8], at: usize) -> usize {
        let reach = self.longest().saturating_sub(1);
        let mut cut = at;
        loop {
            let window = cut.saturating_sub(reach)..(cut + reach).min(bytes.len());
            let Some(start) = self.straddling(bytes, window, cut) else {
                return cut;
            };
            if start == 0 {
                return at;
            }
            cut = start;
        }
    }

    /// The earliest start of a secret found in `bytes[window]` that begins before `cut` and
    /// ends after it.
    fn straddling(
        &self,
        bytes: &[u8],
        window: std::ops::Range<usize>,
        cut: usize,
    ) -> Option<usize> {
        let base = window.start;
        let hay = bytes.get(window)?;
        let spans: Vec<(usize, usize)> = match &self.finder {
            Some(finder) => finder
                .find_overlapping_iter(hay)
                .map(|m| (base + m.start(), base + m.end()))
                .collect(),
            None => self
                .secrets
                .iter()
                .flat_map(|s| {
                    memchr::memmem::find_iter(hay, s.as_bytes())
                        .map(move |i| (base + i, base + i + s.len()))
                })
                .collect(),
        };
        spans
            .into_iter()
            .filter(|&(start, end)| start < cut && end > cut)
            .map(|(start, _)| start)
            .min()
    }

    pub(crate) fn mask(&self, line: &str) -> String {
        let mut out = String::with_capacity(line.len());
        self.mask_into(line, &mut out);
        out
    }

    /// Appends `line` masked to `out`; copies it as it is, without allocating, when it
    /// holds no secret.
    pub(crate) fn mask_into(&self, line: &str, out: &mut String) {
        if !self.may_match(line) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line_splitter::LineSplitter;

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
            s.push(chunk, &mut |l: &str| lines.push(m.mask(l)));
        }
        assert_eq!(
            lines,
            ["before", "****", "****", "  ****  ", "", "****", "after"]
        );
        assert_eq!(m.mask(&format!("echo {key}!")), "echo ****!");
    }

    /// Regression (issue 11): a secret that straddled the cut of a line longer than the
    /// line bound was split over two log lines, and neither was masked.
    #[test]
    fn a_long_line_is_never_cut_inside_a_secret() {
        use crate::line_splitter::MAX_LINE;
        let m = Masker::default().with(["s3cr3t-value".to_owned(), "cr3t-v".to_owned()]);
        for before in [MAX_LINE - 5, MAX_LINE - 1, MAX_LINE - 11, MAX_LINE] {
            let mut line = "x".repeat(before);
            line.push_str("s3cr3t-value");
            line.push_str(&"y".repeat(MAX_LINE));
            line.push('\n');
            let mut lines = Vec::new();
            let mut s = LineSplitter::default();
            let mut sink = MaskingSink {
                masker: &m,
                lines: &mut lines,
            };
            for chunk in line.as_bytes().chunks(32 * 1024) {
                s.push(chunk, &mut sink);
            }
            s.finish(&mut sink);
            assert!(s.take_cut(), "{before}: the line was cut");
            let all = lines.concat();
            assert!(
                !all.contains("s3cr") && !all.contains("value"),
                "{before}: {}",
                &all[before.saturating_sub(4)..before + 14]
            );
            assert_eq!(all.matches("****").count(), 1, "{before}");
            assert!(lines.iter().all(|l| l.len() <= MAX_LINE));
        }
    }

    /// Masks lines as the log does, and tells the splitter where not to cut.
    struct MaskingSink<'a> {
        masker: &'a Masker,
        lines: &'a mut Vec<String>,
    }

    impl crate::line_splitter::LineSink for MaskingSink<'_> {
        fn line(&mut self, line: &str) {
            self.lines.push(self.masker.mask(line));
        }

        fn secrets(&self) -> Option<&Masker> {
            Some(self.masker)
        }
    }

    #[test]
    fn masks_longest_secret_first() {
        let m = Masker::default().with(["abc".to_owned(), "abcdef".to_owned()]);
        assert_eq!(m.mask("x abcdef abc"), "x **** ****");
        // Overlapping secrets: the longer one is masked whole, then what is left of the other.
        let m = Masker::default().with(["xab".to_owned(), "abcde".to_owned()]);
        assert_eq!(m.mask("xabcde"), "x****");
    }

    #[test]
    fn finds_secrets_anywhere_and_nothing_without_them() {
        let none = Masker::default();
        assert!(!none.may_match("anything"));
        assert_eq!(none.mask("anything"), "anything");
        let m = Masker::default().with(["s3cret".to_owned(), "tok".to_owned()]);
        assert!(m.may_match("a\nb tok c\n"));
        assert!(m.may_match("xxs3cretxx"));
        assert!(!m.may_match("a\nb to k\ns3cre t\n"));
        let more = m.with(["later".to_owned()]);
        assert!(more.may_match("later") && more.may_match("tok"));
        assert!(!m.may_match("later"), "the earlier masker is unchanged");
    }
}
