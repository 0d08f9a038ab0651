use crate::{Diagnostic, Label, Severity, SourceFile};
use serde::Serialize;
use std::fmt::Write as _;

/// How diagnostics are rendered.
#[derive(Clone, Copy, Debug, Default)]
pub struct RenderOptions {
    /// ANSI colours (only for a terminal).
    pub color: bool,
}

struct Palette {
    bold: &'static str,
    blue: &'static str,
    reset: &'static str,
}

impl Palette {
    fn new(color: bool) -> Self {
        if color {
            Palette {
                bold: "\x1b[1m",
                blue: "\x1b[1;34m",
                reset: "\x1b[0m",
            }
        } else {
            Palette {
                bold: "",
                blue: "",
                reset: "",
            }
        }
    }

    fn severity(&self, s: Severity, color: bool) -> &'static str {
        match (color, s) {
            (false, _) => "",
            (true, Severity::Error) => "\x1b[1;31m",
            (true, Severity::Warning) => "\x1b[1;33m",
            (true, Severity::Note) => "\x1b[1;36m",
        }
    }
}

/// Renders one diagnostic as a caret snippet:
///
/// ```text
/// error: unknown directive `stagess`
///   --> Jenkinsfile:3:5
///    |
///  3 |     stagess {
///    |     ^^^^^^^ did you mean `stages`?
/// ```
pub fn render(diag: &Diagnostic, file: &SourceFile, opts: RenderOptions) -> String {
    let p = Palette::new(opts.color);
    let sev = p.severity(diag.severity, opts.color);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{sev}{}{}: {}{}{}",
        diag.severity.as_str(),
        p.reset,
        p.bold,
        diag.message,
        p.reset
    );
    let mut labels: Vec<&Label> = diag.labels.iter().collect();
    labels.sort_by_key(|l| (l.span.start, !l.primary));
    let primary = diag.primary_span();
    let at = file.line_col(primary.start);
    let width = labels
        .iter()
        .map(|l| file.line_col(l.span.start).line)
        .max()
        .unwrap_or(at.line)
        .to_string()
        .len();
    let pad = " ".repeat(width + 1);
    let _ = writeln!(
        out,
        "{pad}{}-->{} {}:{}:{}",
        p.blue,
        p.reset,
        file.name(),
        at.line,
        at.col
    );
    if !labels.is_empty() {
        let _ = writeln!(out, "{pad} {}|{}", p.blue, p.reset);
    }
    for label in labels {
        let line_idx = file.line_index(label.span.start);
        let line = file.line_text(line_idx);
        let line_start = file.line_start(line_idx) as usize;
        let (shown, caret_col, caret_len) = caret_geometry(line, line_start, label);
        let marker = if label.primary { '^' } else { '-' };
        let mark_color = if label.primary { sev } else { p.blue };
        let _ = writeln!(
            out,
            "{} {:>width$} |{} {}",
            p.blue,
            line_idx + 1,
            p.reset,
            shown
        );
        let message = if label.message.is_empty() {
            String::new()
        } else {
            format!(" {}", label.message)
        };
        let _ = writeln!(
            out,
            "{pad} {}|{} {}{mark_color}{}{message}{}",
            p.blue,
            p.reset,
            " ".repeat(caret_col),
            marker.to_string().repeat(caret_len),
            p.reset
        );
    }
    for note in &diag.notes {
        let _ = writeln!(out, "{pad} {}={} {note}", p.blue, p.reset);
    }
    out
}

/// The line with tabs expanded, and where the carets go on it (in characters).
fn caret_geometry(line: &str, line_start: usize, label: &Label) -> (String, usize, usize) {
    let start = (label.span.start as usize)
        .saturating_sub(line_start)
        .min(line.len());
    let end = (label.span.end as usize)
        .saturating_sub(line_start)
        .clamp(start, line.len());
    let mut shown = String::with_capacity(line.len());
    let (mut caret_col, mut caret_end) = (None, None);
    for (i, ch) in line.char_indices() {
        if i >= start && caret_col.is_none() {
            caret_col = Some(shown.chars().count());
        }
        if i >= end && caret_end.is_none() {
            caret_end = Some(shown.chars().count());
        }
        if ch == '\t' {
            shown.push_str("    ");
        } else {
            shown.push(ch);
        }
    }
    let total = shown.chars().count();
    let col = caret_col.unwrap_or(total);
    let end_col = caret_end.unwrap_or(total);
    (shown, col, end_col.saturating_sub(col).max(1))
}

/// Renders a list of diagnostics, each followed by a blank line, then a summary line
/// (`error: could not validate Jenkinsfile: 2 errors, 1 warning`) when there are errors.
pub fn render_all(diags: &[Diagnostic], file: &SourceFile, opts: RenderOptions) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&render(d, file, opts));
        out.push('\n');
    }
    out
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    file: &'a str,
    line: u32,
    column: u32,
    end_line: u32,
    end_column: u32,
    #[serde(flatten)]
    diag: &'a Diagnostic,
}

/// The JSON form of diagnostics for editors and CI: one object per diagnostic, with
/// 1-based `line`/`column` of its primary span besides the raw byte spans.
pub fn to_json(diags: &[Diagnostic], file: &SourceFile) -> serde_json::Value {
    let items: Vec<serde_json::Value> = diags
        .iter()
        .map(|d| {
            let span = d.primary_span();
            let start = file.line_col(span.start);
            let end = file.line_col(span.end);
            serde_json::to_value(JsonDiagnostic {
                file: file.name(),
                line: start.line,
                column: start.col,
                end_line: end.line,
                end_column: end.col,
                diag: d,
            })
            .unwrap_or(serde_json::Value::Null)
        })
        .collect();
    serde_json::Value::Array(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Span;

    fn check(src: &str, diag: Diagnostic, expected: &str) {
        let file = SourceFile::new("Jenkinsfile", src);
        assert_eq!(render(&diag, &file, RenderOptions::default()), expected);
    }

    #[test]
    fn renders_caret_under_span() {
        let src = "pipeline {\n    agent any\n    stagess {\n    }\n}\n";
        let start = u32::try_from(src.find("stagess").unwrap()).unwrap();
        check(
            src,
            Diagnostic::error("unknown-directive", "unknown directive `stagess`")
                .with_primary(Span::new(start, start + 7), "did you mean `stages`?"),
            "error: unknown directive `stagess`\n  --> Jenkinsfile:3:5\n   |\n 3 |     stagess {\n   |     ^^^^^^^ did you mean `stages`?\n",
        );
    }

    #[test]
    fn renders_secondary_labels_and_notes() {
        let src = "stage('a') {}\nstage('a') {}\n";
        check(
            src,
            Diagnostic::error("duplicate-stage", "duplicate stage name `a`")
                .with_primary(Span::new(20, 23), "used again here")
                .with_secondary(Span::new(6, 9), "first used here")
                .with_note("help: stage names must be unique"),
            "error: duplicate stage name `a`\n  --> Jenkinsfile:2:7\n   |\n 1 | stage('a') {}\n   |       --- first used here\n 2 | stage('a') {}\n   |       ^^^ used again here\n   = help: stage names must be unique\n",
        );
    }

    #[test]
    fn empty_span_at_end_of_file_gets_one_caret() {
        check(
            "pipeline {",
            Diagnostic::error("unclosed", "unclosed `{`")
                .with_primary(Span::at(10), "expected `}`"),
            "error: unclosed `{`\n  --> Jenkinsfile:1:11\n   |\n 1 | pipeline {\n   |           ^ expected `}`\n",
        );
    }
}
