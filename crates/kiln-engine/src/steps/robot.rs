//! `robot outputPath: 'results', passThreshold: 90.0, unstableThreshold: 70.0` and
//! `step([$class: 'RobotPublisher', ...])` (the Robot Framework plugin): reads the totals of
//! Robot's `output.xml` (`<statistics><total><stat pass= fail= skip=>All Tests</stat>`),
//! and sets the build's result from the pass percentage as the plugin does: below
//! `unstableThreshold` a failure, below `passThreshold` unstable. Skipped tests do not count
//! unless `countSkippedTests`. Files that cannot be read mark the build failed (the plugin
//! logs and sets FAILURE too); the step itself does not fail. Robot's log and report are not
//! archived (said in the log: `archiveArtifacts` keeps them).

use super::StepCall;
use crate::BuildResult;
use crate::error::StepError;
use kiln_script::Value;
use quick_xml::Reader;
use quick_xml::events::Event;

/// The plugin's settings about archiving and its pages, which kiln does not act on.
const UNUSED: &[&str] = &[
    "reportFileName",
    "logFileName",
    "archiveDirName",
    "disableArchiveOutput",
    "otherFiles",
    "enableCache",
    "onlyCritical",
    "overwriteXAxisLabel",
    "useArtifactManager",
];

/// Totals of one or more `output.xml` files.
#[derive(Debug, Default, PartialEq, Eq)]
struct Totals {
    passed: u64,
    failed: u64,
    skipped: u64,
}

impl Totals {
    /// The plugin's pass percentage: rounded down to one decimal, 100 with no tests.
    fn pass_percentage(&self, count_skipped: bool) -> f64 {
        let mut total = self.passed + self.failed + self.skipped;
        if !count_skipped {
            total -= self.skipped;
        }
        if total == 0 {
            return 100.0;
        }
        (self.passed as f64 / total as f64 * 1000.0).floor() / 10.0
    }
}

/// The `All Tests` totals of an `output.xml`.
fn totals(xml: &str) -> Result<Totals, String> {
    let mut reader = Reader::from_str(xml);
    let mut in_total = false;
    let mut pending: Option<Totals> = None;
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) if e.name().as_ref() == b"total" => in_total = true,
            Event::End(e) if e.name().as_ref() == b"total" => in_total = false,
            Event::Start(e) if in_total && e.name().as_ref() == b"stat" => {
                let count = |key: &[u8]| -> u64 {
                    e.try_get_attribute(key)
                        .ok()
                        .flatten()
                        .and_then(|a| String::from_utf8_lossy(&a.value).parse().ok())
                        .unwrap_or(0)
                };
                pending = Some(Totals {
                    passed: count(b"pass"),
                    failed: count(b"fail"),
                    skipped: count(b"skip"),
                });
            }
            Event::Text(t) if pending.is_some() => {
                let text = String::from_utf8_lossy(t.as_ref()).trim().to_owned();
                if text == "All Tests" {
                    return pending.ok_or_else(|| "no totals".to_owned());
                }
                pending = None;
            }
            Event::Eof => return Err("no `All Tests` totals in <statistics>".to_owned()),
            _ => {}
        }
    }
}

fn threshold(call: &StepCall<'_>, name: &str) -> Result<f64, StepError> {
    Ok(match call.value(name)? {
        None | Some(Value::Null) => 0.0,
        Some(Value::Int(i)) => i as f64,
        Some(Value::Float(f)) => f,
        Some(Value::Str(s)) => s
            .trim()
            .parse()
            .map_err(|_| StepError::failed(format!("robot: `{name}` is not a number: `{s}`")))?,
        Some(other) => {
            return Err(StepError::failed(format!(
                "robot: `{name}` is not a number: {}",
                other.kind()
            )));
        }
    })
}

pub(crate) async fn robot(call: &StepCall<'_>) -> Result<Value, StepError> {
    let dir = call.string("outputPath")?.unwrap_or_default();
    let name = call
        .string("outputFileName")?
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "output.xml".to_owned());
    let pass = threshold(call, "passThreshold")?;
    let unstable = threshold(call, "unstableThreshold")?;
    let count_skipped = call.bool("countSkippedTests", false)?;
    let root = call.scope.cwd.join(dir.trim());
    let patterns: Vec<String> = name.split(',').map(|p| p.trim().to_owned()).collect();
    let executor = call.executor()?;
    let files = executor.list_files(&root, &patterns, &[]).await?;
    let mut sum = Totals::default();
    let mut problem = None;
    if files.is_empty() {
        problem = Some(format!(
            "no Robot output matches `{name}` in `{}`",
            dir.trim()
        ));
    }
    for f in &files {
        let bytes = executor.read_file(&root.join(&f.path)).await?;
        match totals(&String::from_utf8_lossy(&bytes)) {
            Ok(t) => {
                sum.passed += t.passed;
                sum.failed += t.failed;
                sum.skipped += t.skipped;
            }
            Err(why) => problem = Some(format!("{}: {why}", f.path.display())),
        }
    }
    if let Some(why) = problem {
        call.log(&format!("robot: {why}; the build is marked failed"));
        call.scope.stage.worsen(BuildResult::Failure);
        call.build.worsen(BuildResult::Failure);
        return Ok(Value::Null);
    }
    let percentage = sum.pass_percentage(count_skipped);
    call.log(&format!(
        "Robot results: {} passed, {} failed, {} skipped; pass percentage {percentage}%",
        sum.passed, sum.failed, sum.skipped
    ));
    call.log(
        "robot: kiln does not archive Robot's log and report: use `archiveArtifacts` to keep them",
    );
    let unused: Vec<String> = UNUSED
        .iter()
        .filter(|n| call.has(n))
        .map(|n| format!("`{n}`"))
        .collect();
    if !unused.is_empty() {
        call.log(&format!(
            "robot: {} have no effect in kiln",
            unused.join(", ")
        ));
    }
    let result = if percentage < unstable {
        BuildResult::Failure
    } else if percentage < pass {
        BuildResult::Unstable
    } else {
        BuildResult::Success
    };
    if result > BuildResult::Success {
        call.log(&format!(
            "robot: pass percentage {percentage}% is below the {} threshold; the build is {}",
            if result == BuildResult::Failure {
                "unstable"
            } else {
                "pass"
            },
            if result == BuildResult::Failure {
                "failed"
            } else {
                "unstable"
            }
        ));
        call.scope.stage.worsen(result);
        call.build.worsen(result);
    }
    Ok(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_all_tests_and_the_percentage_rounds_down() {
        let xml = r#"<robot><suite name="S"/><statistics><total>
<stat pass="2" fail="1" skip="0">Critical Tests</stat>
<stat pass="5" fail="1" skip="2">All Tests</stat>
</total><tag/></statistics></robot>"#;
        let t = totals(xml).unwrap();
        assert_eq!(
            t,
            Totals {
                passed: 5,
                failed: 1,
                skipped: 2
            }
        );
        assert_eq!(t.pass_percentage(false), 83.3);
        assert_eq!(t.pass_percentage(true), 62.5);
        assert_eq!(Totals::default().pass_percentage(false), 100.0);
        assert!(totals("<robot/>").is_err());
    }
}
