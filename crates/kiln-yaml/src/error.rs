//! A YAML syntax or type error: what is wrong, and where in the text.

use kiln_diagnostics::{Diagnostic, LineCol, Span};
use serde_saphyr::{Location, SnippetMode};
use std::fmt;

/// What went wrong reading YAML, and where when the parser knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    /// The problem in serde-saphyr's words, without a place (e.g. "unclosed bracket '['").
    pub reason: String,
    /// The byte span of the offending token or node in the parsed text.
    pub span: Option<Span>,
    /// The 1-based line and character column where `span` starts.
    pub line_col: Option<LineCol>,
}

impl YamlError {
    /// The error as kiln's YAML syntax diagnostic (`invalid YAML: ...`, pointing at the place).
    pub fn diagnostic(&self) -> Diagnostic {
        Diagnostic::error("yaml-syntax", format!("invalid YAML: {}", self.reason))
            .with_primary(self.span.unwrap_or_default(), "here")
    }

    pub(crate) fn from_saphyr(text: &str, err: &serde_saphyr::Error) -> YamlError {
        let plain = err.without_snippet();
        let message = plain.render_with_options(serde_saphyr::render_options! {
            snippets: SnippetMode::Off,
        });
        let location = plain.location().filter(|loc| loc.line() > 0);
        YamlError {
            reason: strip_location(&message),
            span: location.as_ref().map(|loc| span_at(text, loc)),
            line_col: location.as_ref().map(|loc| LineCol {
                line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
                col: u32::try_from(loc.column()).unwrap_or(u32::MAX),
            }),
        }
    }
}

/// The reason, then " at line L, column C" when the place is known.
impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)?;
        match self.line_col {
            Some(lc) => write!(f, " at line {}, column {}", lc.line, lc.col),
            None => Ok(()),
        }
    }
}

impl std::error::Error for YamlError {}

impl From<YamlError> for Diagnostic {
    fn from(err: YamlError) -> Diagnostic {
        err.diagnostic()
    }
}

/// serde-saphyr appends ` at line L, column C` to its messages; kiln shows the place itself.
fn strip_location(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message).trim();
    let cut = first.rfind(" at line ").map_or(first, |i| &first[..i]);
    cut.trim_end_matches(['.', ':']).to_owned()
}

/// The byte span of an error location: the whole node when its length is known, else the
/// word starting there.
fn span_at(text: &str, loc: &Location) -> Span {
    let span = loc.span();
    let start = span
        .byte_offset()
        .and_then(|o| u32::try_from(o).ok())
        .unwrap_or_else(|| offset_of(text, loc.line(), loc.column()));
    let len = span
        .byte_len()
        .and_then(|l| u32::try_from(l).ok())
        .filter(|&l| l > 0)
        .unwrap_or_else(|| token_len(text, start));
    Span::new(start, start.saturating_add(len))
}

/// The byte offset of a 1-based line and character column (the end of the line when the
/// column is past it, the end of the text when the line is).
fn offset_of(text: &str, line: u64, column: u64) -> u32 {
    let mut start = 0usize;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i as u64 + 1 == line {
            let skip = usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX);
            let within = l
                .char_indices()
                .nth(skip)
                .map_or(l.trim_end_matches('\n').len(), |(b, _)| b);
            return u32::try_from(start + within).unwrap_or(u32::MAX);
        }
        start += l.len();
    }
    u32::try_from(text.len()).unwrap_or(u32::MAX)
}

/// The length of the word starting at `start` (up to a space, `:`, `,` or a bracket; at
/// least one character when there is one).
fn token_len(text: &str, start: u32) -> u32 {
    let rest = text.get(start as usize..).unwrap_or("");
    let n = rest
        .find(|c: char| c.is_whitespace() || matches!(c, ':' | ',' | '[' | ']' | '{' | '}'))
        .unwrap_or(rest.len());
    let n = if n == 0 {
        rest.chars().next().map_or(0, char::len_utf8)
    } else {
        n
    };
    u32::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_characters_within_a_line() {
        let text = "a: 1\nbé: [x\n";
        assert_eq!(offset_of(text, 2, 5), text.find('[').unwrap() as u32);
        assert_eq!(offset_of(text, 2, 99), text.find("x\n").unwrap() as u32 + 1);
        assert_eq!(offset_of(text, 9, 1), text.len() as u32);
    }

    #[test]
    fn tokens_end_at_punctuation() {
        let text = "max: many, more";
        assert_eq!(token_len(text, 5), 4);
        assert_eq!(token_len(text, 3), 1);
        assert_eq!(token_len(text, text.len() as u32), 0);
    }

    #[test]
    fn locations_are_stripped_from_reasons() {
        assert_eq!(
            strip_location("unclosed bracket '[' at line 2, column 11"),
            "unclosed bracket '['"
        );
        assert_eq!(strip_location("bad value.\nmore"), "bad value");
    }
}
