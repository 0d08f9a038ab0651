//! `junit`: reads JUnit XML reports, summarises them, and marks the build UNSTABLE when
//! tests failed.

use super::StepCall;
use super::junit_xml::{Report, parse};
use crate::BuildResult;
use crate::error::StepError;
use kiln_executor::FileEntry;
use kiln_script::Value;

pub(crate) async fn junit(call: &StepCall<'_>) -> Result<Value, StepError> {
    let patterns = call.req_string("testResults")?;
    let allow_empty = call.bool("allowEmptyResults", false)?;
    let skip_unstable = call.bool("skipMarkingBuildUnstable", false)?;
    let keep_long_stdio = call.bool("keepLongStdio", false)?;
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
    record(call, &files, keep_long_stdio, allow_empty, skip_unstable).await?;
    Ok(Value::Null)
}

/// Reads report `files` (relative to the step's directory), logs and records their results,
/// and marks the stage and build UNSTABLE when tests failed (unless `skip_unstable`).
pub(crate) async fn record(
    call: &StepCall<'_>,
    files: &[FileEntry],
    keep_long_stdio: bool,
    allow_empty: bool,
    skip_unstable: bool,
) -> Result<(), StepError> {
    let mut all = Report::default();
    for f in files {
        let bytes = call
            .executor()?
            .read_file(&call.scope.cwd.join(&f.path))
            .await?;
        let report = parse(&bytes, keep_long_stdio).map_err(|e| {
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
    for test in &all.failed {
        call.log(&format!("FAILED: {}", test.full_name()));
    }
    call.build.add_tests(t);
    call.build
        .add_reports(|r| r.failed_tests.extend(all.failed));
    if t.failed > 0 && !skip_unstable {
        call.scope.stage.worsen(BuildResult::Unstable);
        call.build.worsen(BuildResult::Unstable);
    }
    Ok(())
}
