//! JUnit XML reports (`testsuite` or `testsuites` roots, as Surefire, pytest, Jest and Go's
//! converters write them): totals, and each failed case's name, class, message, stack trace
//! and output.

use crate::{FailedTest, FailureKind, TestSummary};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// How much of a failed case's `system-out`/`system-err` is kept without `keepLongStdio`:
/// this many characters from each end, as Jenkins' JUnit plugin does.
const HALF_STDIO: usize = 500;

/// One report's totals and its failed tests.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Report {
    pub(crate) totals: TestSummary,
    pub(crate) failed: Vec<FailedTest>,
}

/// The case being read and which of its elements' text is being collected.
struct Case {
    test: FailedTest,
    outcome: Outcome,
    text: Option<TextOf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Passed,
    Failed,
    Skipped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TextOf {
    Trace,
    Stdout,
    Stderr,
}

/// Reads a report: a `failure` or `error` inside a `testcase` makes it failed, `skipped`
/// makes it skipped. `keep_long_stdio` keeps failed cases' whole output.
pub(crate) fn parse(bytes: &[u8], keep_long_stdio: bool) -> Result<Report, String> {
    let text = String::from_utf8_lossy(bytes);
    let mut reader = Reader::from_str(&text);
    let mut report = Report::default();
    let mut current: Option<Case> = None;
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) if e.local_name().as_ref() == b"testcase" => {
                current = Some(Case {
                    test: case(&e),
                    outcome: Outcome::Passed,
                    text: None,
                });
            }
            Event::Empty(e) if e.local_name().as_ref() == b"testcase" => {
                report.totals.total += 1;
            }
            Event::Start(e) => {
                if let Some(case) = current.as_mut() {
                    case.text = case.enter(&e);
                }
            }
            Event::Empty(e) => {
                if let Some(case) = current.as_mut() {
                    case.enter(&e);
                }
            }
            Event::Text(t) => {
                let s = t.decode().map_err(|e| e.to_string())?;
                push_text(&mut current, &s);
            }
            Event::CData(t) => {
                let s = t.decode().map_err(|e| e.to_string())?;
                push_text(&mut current, &s);
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| e.to_string())?;
                let s = quick_xml::escape::unescape(&format!("&{name};"))
                    .map_err(|e| e.to_string())?
                    .into_owned();
                push_text(&mut current, &s);
            }
            Event::End(e) if e.local_name().as_ref() == b"testcase" => {
                if let Some(case) = current.take() {
                    report.totals.total += 1;
                    match case.outcome {
                        Outcome::Failed => {
                            report.totals.failed += 1;
                            report.failed.push(case.finish(keep_long_stdio));
                        }
                        Outcome::Skipped => report.totals.skipped += 1,
                        Outcome::Passed => {}
                    }
                }
            }
            Event::End(_) => {
                if let Some(case) = current.as_mut() {
                    case.text = None;
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(report)
}

impl Case {
    /// An element inside the case: what it says of the outcome, and whose text follows.
    fn enter(&mut self, e: &BytesStart<'_>) -> Option<TextOf> {
        match e.local_name().as_ref() {
            kind @ (b"failure" | b"error") => {
                if self.outcome != Outcome::Failed {
                    self.outcome = Outcome::Failed;
                    self.test.kind = if kind == b"error" {
                        FailureKind::Error
                    } else {
                        FailureKind::Failure
                    };
                    self.test.message = attr(e, "message");
                    return Some(TextOf::Trace);
                }
                None
            }
            b"skipped" => {
                if self.outcome == Outcome::Passed {
                    self.outcome = Outcome::Skipped;
                }
                None
            }
            b"system-out" => Some(TextOf::Stdout),
            b"system-err" => Some(TextOf::Stderr),
            _ => None,
        }
    }

    fn finish(mut self, keep_long_stdio: bool) -> FailedTest {
        let clean = |s: Option<String>| s.filter(|t| !t.trim().is_empty());
        self.test.stack_trace = clean(self.test.stack_trace.map(|t| t.trim().to_owned()));
        self.test.stdout = clean(self.test.stdout).map(|s| trim_stdio(s, keep_long_stdio));
        self.test.stderr = clean(self.test.stderr).map(|s| trim_stdio(s, keep_long_stdio));
        self.test
    }
}

fn push_text(current: &mut Option<Case>, s: &str) {
    let Some(case) = current.as_mut() else {
        return;
    };
    let target = match case.text {
        Some(TextOf::Trace) => &mut case.test.stack_trace,
        Some(TextOf::Stdout) => &mut case.test.stdout,
        Some(TextOf::Stderr) => &mut case.test.stderr,
        None => return,
    };
    target.get_or_insert_with(String::new).push_str(s);
}

/// Long output cut to its start and end, saying how much was left out.
fn trim_stdio(s: String, keep_long_stdio: bool) -> String {
    let chars = s.chars().count();
    if keep_long_stdio || chars <= 2 * HALF_STDIO + 100 {
        return s;
    }
    let head: String = s.chars().take(HALF_STDIO).collect();
    let tail: String = s.chars().skip(chars - HALF_STDIO).collect();
    format!(
        "{head}\n...[truncated {} chars]...\n{tail}",
        chars - 2 * HALF_STDIO
    )
}

fn attr(e: &BytesStart<'_>, key: &str) -> Option<String> {
    e.try_get_attribute(key)
        .ok()
        .flatten()
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// A case's class and name from its attributes.
fn case(e: &BytesStart<'_>) -> FailedTest {
    let class_name = attr(e, "classname").unwrap_or_default();
    let name = attr(e, "name").unwrap_or_else(|| "(unnamed test)".to_owned());
    FailedTest {
        class_name,
        name,
        ..FailedTest::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(xml: &str, total: u64, failed: u64, skipped: u64, names: &[&str]) {
        let r = parse(xml.as_bytes(), false).expect("parses");
        assert_eq!(
            r.totals,
            TestSummary {
                total,
                failed,
                skipped
            }
        );
        let got: Vec<String> = r.failed.iter().map(FailedTest::full_name).collect();
        assert_eq!(got, names);
    }

    #[test]
    fn counts_test_cases() {
        check(
            r#"<testsuite><testcase name="a"/><testcase name="b"></testcase></testsuite>"#,
            2,
            0,
            0,
            &[],
        );
        check(
            r#"<testsuites><testsuite><testcase classname="C" name="x"><failure message="m">trace</failure></testcase>
               <testcase name="y"><error/></testcase><testcase name="z"><skipped/></testcase></testsuite></testsuites>"#,
            3,
            2,
            1,
            &["C.x", "y"],
        );
        check("<testsuite/>", 0, 0, 0, &[]);
    }

    #[test]
    fn keeps_each_failure_with_message_trace_and_output() {
        let xml = r#"<testsuite name="s">
          <system-out>suite output is not a case's</system-out>
          <testcase classname="com.acme.CartTest" name="addsItems" time="0.1">
            <failure message="expected:&lt;2&gt; but was:&lt;3&gt;" type="AssertionError"><![CDATA[java.lang.AssertionError: expected:<2>
	at com.acme.CartTest.addsItems(CartTest.java:42)]]></failure>
            <system-out>adding &amp; checking</system-out>
          </testcase>
          <testcase classname="com.acme.DbTest" name="connects"><error message="refused">java.net.ConnectException: refused</error></testcase>
        </testsuite>"#;
        let r = parse(xml.as_bytes(), false).unwrap();
        assert_eq!(
            r.failed,
            [
                FailedTest {
                    class_name: "com.acme.CartTest".into(),
                    name: "addsItems".into(),
                    message: Some("expected:<2> but was:<3>".into()),
                    stack_trace: Some(
                        "java.lang.AssertionError: expected:<2>\n\tat com.acme.CartTest.addsItems(CartTest.java:42)".into()
                    ),
                    kind: FailureKind::Failure,
                    stdout: Some("adding & checking".into()),
                    stderr: None,
                },
                FailedTest {
                    class_name: "com.acme.DbTest".into(),
                    name: "connects".into(),
                    message: Some("refused".into()),
                    stack_trace: Some("java.net.ConnectException: refused".into()),
                    kind: FailureKind::Error,
                    stdout: None,
                    stderr: None,
                },
            ]
        );
    }

    #[test]
    fn long_output_is_cut_unless_kept() {
        let long = "x".repeat(5000);
        let xml = format!(
            "<testsuite><testcase name=\"t\"><failure/><system-err>{long}</system-err></testcase></testsuite>"
        );
        let cut = parse(xml.as_bytes(), false).unwrap().failed[0]
            .stderr
            .clone()
            .unwrap();
        assert!(cut.contains("...[truncated 4000 chars]..."), "{cut}");
        assert_eq!(cut.len(), 1000 + "\n...[truncated 4000 chars]...\n".len());
        let kept = parse(xml.as_bytes(), true).unwrap().failed[0]
            .stderr
            .clone()
            .unwrap();
        assert_eq!(kept, long);
    }

    #[test]
    fn rejects_broken_xml() {
        assert!(parse(b"<testsuite><testcase></testsuite>", false).is_err());
    }
}
