//! The report formats `recordIssues` reads: Checkstyle XML (also ESLint's `checkstyle`
//! formatter), PMD XML, SpotBugs XML, and compiler output of javac/Maven and GCC/Clang.
//! Severities map as the Warnings Next Generation plugin maps them.

use crate::IssueSeverity as Severity;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use regex::Regex;
use std::sync::LazyLock;

/// One issue: where, how bad, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Issue {
    pub(crate) file: String,
    pub(crate) line: u32,
    pub(crate) severity: Severity,
    pub(crate) message: String,
}

/// The format of a tool's reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    CheckStyle,
    Pmd,
    SpotBugs,
    Javac,
    Gcc,
}

pub(crate) fn parse(format: Format, bytes: &[u8]) -> Result<Vec<Issue>, String> {
    let text = String::from_utf8_lossy(bytes);
    match format {
        Format::CheckStyle | Format::Pmd | Format::SpotBugs => xml(format, &text),
        Format::Javac => Ok(text.lines().filter_map(javac_line).collect()),
        Format::Gcc => Ok(text.lines().filter_map(gcc_line).collect()),
    }
}

/// The XML formats: issues are elements (`error`, `violation`, `BugInstance`) inside a file
/// element or carrying their own source line.
fn xml(format: Format, text: &str) -> Result<Vec<Issue>, String> {
    let mut reader = Reader::from_str(text);
    let mut out = Vec::new();
    let mut file = String::new();
    // A PMD violation's message is its text; a SpotBugs bug's is its LongMessage.
    let mut open: Option<Issue> = None;
    let mut in_message = false;
    loop {
        let event = reader.read_event().map_err(|e| e.to_string())?;
        match (&event, format) {
            (Event::Start(e) | Event::Empty(e), Format::CheckStyle | Format::Pmd)
                if e.local_name().as_ref() == b"file" =>
            {
                file = attr(e, "name").unwrap_or_default();
            }
            (Event::Start(e) | Event::Empty(e), Format::CheckStyle)
                if e.local_name().as_ref() == b"error" =>
            {
                out.push(Issue {
                    file: file.clone(),
                    line: num(e, "line"),
                    severity: match attr(e, "severity").as_deref() {
                        Some("error") => Severity::Error,
                        Some("info" | "ignore") => Severity::Low,
                        _ => Severity::Normal,
                    },
                    message: attr(e, "message").unwrap_or_default(),
                });
            }
            (Event::Start(e), Format::Pmd) if e.local_name().as_ref() == b"violation" => {
                open = Some(Issue {
                    file: file.clone(),
                    line: num(e, "beginline"),
                    severity: match num(e, "priority") {
                        1 | 2 => Severity::High,
                        3 | 4 => Severity::Normal,
                        _ => Severity::Low,
                    },
                    message: String::new(),
                });
                in_message = true;
            }
            (Event::Start(e), Format::SpotBugs) if e.local_name().as_ref() == b"BugInstance" => {
                open = Some(Issue {
                    file: String::new(),
                    line: 0,
                    severity: match num(e, "priority") {
                        1 => Severity::High,
                        2 => Severity::Normal,
                        _ => Severity::Low,
                    },
                    message: attr(e, "type").unwrap_or_default(),
                });
            }
            (Event::Start(e), Format::SpotBugs) if e.local_name().as_ref() == b"LongMessage" => {
                in_message = open.is_some();
                if let Some(issue) = open.as_mut() {
                    issue.message.clear();
                }
            }
            (Event::Start(e) | Event::Empty(e), Format::SpotBugs)
                if e.local_name().as_ref() == b"SourceLine" =>
            {
                if let Some(issue) = open.as_mut().filter(|i| i.file.is_empty()) {
                    issue.file = attr(e, "sourcepath").unwrap_or_default();
                    issue.line = num(e, "start");
                }
            }
            (Event::Text(t), _) if in_message => {
                if let Some(issue) = open.as_mut() {
                    issue
                        .message
                        .push_str(&t.decode().map_err(|e| e.to_string())?);
                }
            }
            (Event::GeneralRef(r), _) if in_message => {
                let name = r.decode().map_err(|e| e.to_string())?;
                let s = quick_xml::escape::unescape(&format!("&{name};"))
                    .map_err(|e| e.to_string())?
                    .into_owned();
                if let Some(issue) = open.as_mut() {
                    issue.message.push_str(&s);
                }
            }
            (Event::End(e), _) => match e.local_name().as_ref() {
                b"violation" | b"BugInstance" => {
                    if let Some(mut issue) = open.take() {
                        issue.message = issue.message.trim().to_owned();
                        out.push(issue);
                    }
                    in_message = false;
                }
                b"LongMessage" => in_message = false,
                _ => {}
            },
            (Event::Eof, _) => break,
            _ => {}
        }
    }
    Ok(out)
}

fn attr(e: &BytesStart<'_>, key: &str) -> Option<String> {
    e.try_get_attribute(key)
        .ok()
        .flatten()
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

fn num(e: &BytesStart<'_>, key: &str) -> u32 {
    attr(e, key)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// `[WARNING] /src/A.java:[12,5] msg` (Maven) or `A.java:12: warning: msg` (javac).
fn javac_line(line: &str) -> Option<Issue> {
    static MAVEN: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"^\[(WARNING|ERROR)\]\s+(\S+\.java):\[(\d+)(?:,\d+)?\]\s*(.*)$").ok()
    });
    static JAVAC: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"^(\S+\.java):(\d+):\s*(warning|error):\s*(.*)$").ok());
    if let Some(c) = MAVEN.as_ref().and_then(|r| r.captures(line)) {
        return Some(Issue {
            file: c[2].to_owned(),
            line: c[3].parse().unwrap_or(0),
            severity: level(&c[1]),
            message: c[4].to_owned(),
        });
    }
    let c = JAVAC.as_ref()?.captures(line)?;
    Some(Issue {
        file: c[1].to_owned(),
        line: c[2].parse().unwrap_or(0),
        severity: level(&c[3]),
        message: c[4].to_owned(),
    })
}

/// `src/a.c:10:5: warning: msg [-Wflag]` (GCC and Clang); notes are not issues.
fn gcc_line(line: &str) -> Option<Issue> {
    static GCC: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"^([^:\s][^:]*):(\d+):(?:\d+:)?\s*(warning|error|fatal error):\s*(.*)$").ok()
    });
    let c = GCC.as_ref()?.captures(line)?;
    Some(Issue {
        file: c[1].to_owned(),
        line: c[2].parse().unwrap_or(0),
        severity: level(&c[3]),
        message: c[4].to_owned(),
    })
}

fn level(word: &str) -> Severity {
    if word.eq_ignore_ascii_case("warning") {
        Severity::Normal
    } else {
        Severity::Error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn severities(format: Format, text: &str) -> Vec<(String, u32, Severity)> {
        parse(format, text.as_bytes())
            .unwrap()
            .into_iter()
            .map(|i| (i.file, i.line, i.severity))
            .collect()
    }

    #[test]
    fn checkstyle_and_eslint_reports() {
        let xml = r#"<?xml version="1.0"?><checkstyle version="10">
          <file name="src/A.java"><error line="3" column="1" severity="error" message="Missing &apos;javadoc&apos;" source="x"/>
          <error line="9" severity="warning" message="w"/></file>
          <file name="web/app.js"><error line="1" severity="info" message="i"/></file></checkstyle>"#;
        assert_eq!(
            severities(Format::CheckStyle, xml),
            [
                ("src/A.java".into(), 3, Severity::Error),
                ("src/A.java".into(), 9, Severity::Normal),
                ("web/app.js".into(), 1, Severity::Low),
            ]
        );
        assert_eq!(
            parse(Format::CheckStyle, xml.as_bytes()).unwrap()[0].message,
            "Missing 'javadoc'"
        );
    }

    #[test]
    fn pmd_and_spotbugs_priorities() {
        let pmd = r#"<pmd><file name="A.java"><violation beginline="4" priority="1" rule="R">
          Avoid unused &lt;imports&gt;
        </violation><violation beginline="7" priority="3">x</violation><violation beginline="8" priority="5">y</violation></file></pmd>"#;
        assert_eq!(
            severities(Format::Pmd, pmd),
            [
                ("A.java".into(), 4, Severity::High),
                ("A.java".into(), 7, Severity::Normal),
                ("A.java".into(), 8, Severity::Low),
            ]
        );
        assert_eq!(
            parse(Format::Pmd, pmd.as_bytes()).unwrap()[0].message,
            "Avoid unused <imports>"
        );
        let bugs = r#"<BugCollection><BugInstance type="NP_NULL" priority="1" category="CORRECTNESS">
          <ShortMessage>s</ShortMessage><LongMessage>Null pointer in A.run()</LongMessage>
          <Class classname="A"><SourceLine classname="A" sourcepath="com/acme/A.java" start="10" end="20"/></Class>
          <SourceLine classname="A" sourcepath="com/acme/A.java" start="12" end="12"/></BugInstance>
          <BugInstance type="X" priority="3"><LongMessage>low</LongMessage></BugInstance></BugCollection>"#;
        let issues = parse(Format::SpotBugs, bugs.as_bytes()).unwrap();
        assert_eq!(issues[0].message, "Null pointer in A.run()");
        assert_eq!(
            (issues[0].file.as_str(), issues[0].line),
            ("com/acme/A.java", 10)
        );
        assert_eq!(issues[0].severity, Severity::High);
        assert_eq!(issues[1].severity, Severity::Low);
    }

    #[test]
    fn compiler_output() {
        let javac = "[INFO] compiling\n[WARNING] /w/src/A.java:[12,5] unchecked call\n[ERROR] /w/src/B.java:[3] cannot find symbol\nsrc/C.java:7: warning: [deprecation] old\n";
        assert_eq!(
            severities(Format::Javac, javac),
            [
                ("/w/src/A.java".into(), 12, Severity::Normal),
                ("/w/src/B.java".into(), 3, Severity::Error),
                ("src/C.java".into(), 7, Severity::Normal),
            ]
        );
        let gcc = "src/a.c:10:5: warning: unused variable 'x' [-Wunused-variable]\nsrc/a.c:12:1: error: expected ';'\nsrc/a.c:3:2: note: declared here\nmake: *** [all] Error 1\n";
        assert_eq!(
            severities(Format::Gcc, gcc),
            [
                ("src/a.c".into(), 10, Severity::Normal),
                ("src/a.c".into(), 12, Severity::Error),
            ]
        );
    }
}
