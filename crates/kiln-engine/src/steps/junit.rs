//! `junit`: reads JUnit XML reports, summarises them, and marks the build UNSTABLE when
//! tests failed.

use super::StepCall;
use crate::error::StepError;
use crate::{BuildResult, TestSummary};
use kiln_script::Value;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// One report's totals and the names of its failed tests.
#[derive(Debug, Default, PartialEq)]
struct Report {
    totals: TestSummary,
    failed: Vec<String>,
}

pub(crate) async fn junit(call: &StepCall<'_>) -> Result<Value, StepError> {
    let patterns = call.req_string("testResults")?;
    let allow_empty = call.bool("allowEmptyResults", false)?;
    let skip_unstable = call.bool("skipMarkingBuildUnstable", false)?;
    let files = call
        .executor()?
        .list_files(&call.scope.cwd, std::slice::from_ref(&patterns), &[])
        .await?;
    if files.is_empty() {
        if allow_empty {
            call.log(&format!(
                "No test report files were found matching \"{patterns}\""
            ));
            return Ok(Value::Null);
        }
        return Err(StepError::failed(format!(
            "no test report files were found matching \"{patterns}\"; configuration error?"
        )));
    }
    let mut all = Report::default();
    for f in &files {
        let bytes = call
            .executor()?
            .read_file(&call.scope.cwd.join(&f.path))
            .await?;
        let report = parse(&bytes).map_err(|e| {
            StepError::failed(format!(
                "cannot read test report `{}`: {e}",
                f.path.display()
            ))
        })?;
        all.totals.add(report.totals);
        all.failed.extend(report.failed);
    }
    if all.totals.total == 0 && !allow_empty {
        return Err(StepError::failed(
            "none of the test reports contained any result",
        ));
    }
    let t = all.totals;
    call.log(&format!(
        "Tests: {}, failed: {}, skipped: {}",
        t.total, t.failed, t.skipped
    ));
    for name in &all.failed {
        call.log(&format!("FAILED: {name}"));
    }
    call.build.add_tests(t);
    if t.failed > 0 && !skip_unstable {
        call.scope.stage.worsen(BuildResult::Unstable);
        call.build.worsen(BuildResult::Unstable);
    }
    Ok(Value::Null)
}

/// Counts the `testcase`s of a report (`testsuite` or `testsuites` root): a `failure` or
/// `error` inside one makes it failed, `skipped` makes it skipped.
fn parse(bytes: &[u8]) -> Result<Report, String> {
    let text = String::from_utf8_lossy(bytes);
    let mut reader = Reader::from_str(&text);
    let mut report = Report::default();
    let mut current: Option<(String, Outcome)> = None;
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) if e.local_name().as_ref() == b"testcase" => {
                current = Some((case_name(&e), Outcome::Passed));
            }
            Event::Empty(e) if e.local_name().as_ref() == b"testcase" => {
                report.totals.total += 1;
            }
            Event::Start(e) | Event::Empty(e) => {
                if let Some((_, outcome)) = current.as_mut() {
                    match e.local_name().as_ref() {
                        b"failure" | b"error" => *outcome = Outcome::Failed,
                        b"skipped" if *outcome == Outcome::Passed => *outcome = Outcome::Skipped,
                        _ => {}
                    }
                }
            }
            Event::End(e) if e.local_name().as_ref() == b"testcase" => {
                if let Some((name, outcome)) = current.take() {
                    report.totals.total += 1;
                    match outcome {
                        Outcome::Failed => {
                            report.totals.failed += 1;
                            report.failed.push(name);
                        }
                        Outcome::Skipped => report.totals.skipped += 1,
                        Outcome::Passed => {}
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(report)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Passed,
    Failed,
    Skipped,
}

/// `classname.name` of a test case.
fn case_name(e: &BytesStart<'_>) -> String {
    let attr = |key: &str| {
        e.try_get_attribute(key)
            .ok()
            .flatten()
            .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
    };
    match (attr("classname"), attr("name")) {
        (Some(c), Some(n)) if !c.is_empty() => format!("{c}.{n}"),
        (_, Some(n)) => n,
        (Some(c), None) => c,
        (None, None) => "(unnamed test)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(xml: &str, total: u64, failed: u64, skipped: u64, names: &[&str]) {
        let r = parse(xml.as_bytes()).expect("parses");
        assert_eq!(
            r.totals,
            TestSummary {
                total,
                failed,
                skipped
            }
        );
        assert_eq!(r.failed, names);
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
    fn rejects_broken_xml() {
        assert!(parse(b"<testsuite><testcase></testsuite>").is_err());
    }
}
