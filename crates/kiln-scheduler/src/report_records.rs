//! A finished build's report details (failed tests, HTML reports, issue counts) as store
//! records; an HTML
//! report published without `keepAll` replaces the copies older builds of the job kept.

use kiln_engine::{FailureKind, Reports};
use kiln_store::{BuildRecord, FailedTestRecord, HtmlReportRecord, IssuesRecord, TestFailureKind};
use std::path::Path;

/// Sets the record's report fields from what the build's steps recorded; `build_dir` is
/// `DATA_DIR/builds/JOB/N`.
pub(crate) fn store_reports(rec: &mut BuildRecord, reports: &Reports, build_dir: &Path) {
    rec.failed_tests = reports
        .failed_tests
        .iter()
        .map(|t| FailedTestRecord {
            class_name: t.class_name.clone(),
            name: t.name.clone(),
            kind: match t.kind {
                FailureKind::Failure => TestFailureKind::Failure,
                FailureKind::Error => TestFailureKind::Error,
            },
            message: t.message.clone(),
            stack_trace: t.stack_trace.clone(),
            stdout: t.stdout.clone(),
            stderr: t.stderr.clone(),
        })
        .collect();
    rec.html_reports = reports
        .html
        .iter()
        .map(|h| HtmlReportRecord {
            name: h.name.clone(),
            dir: h.dir.clone(),
            files: h.files.clone(),
            titles: h.titles.clone(),
            keep_all: h.keep_all,
            always_link_to_last_build: h.always_link_to_last_build,
        })
        .collect();
    rec.issues = reports
        .issues
        .iter()
        .map(|i| IssuesRecord {
            id: i.id.clone(),
            name: i.name.clone(),
            total: i.total(),
            error: i.error,
            high: i.high,
            normal: i.normal,
            low: i.low,
        })
        .collect();
    for h in reports.html.iter().filter(|h| !h.keep_all) {
        drop_older_copies(build_dir, rec.id.number, &h.dir);
    }
}

/// Deletes `html/DIR` of the job's builds numbered below `number`, as Jenkins keeps only the
/// newest copy of a report published without `keepAll`.
fn drop_older_copies(build_dir: &Path, number: u64, dir: &str) {
    let Some(job_dir) = build_dir.parent() else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(job_dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let older = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| n < number);
        let copy = entry.path().join("html").join(dir);
        if older && copy.is_dir() {
            if let Err(e) = std::fs::remove_dir_all(&copy) {
                tracing::warn!(path = %copy.display(), error = %e, "cannot delete an older copy of an HTML report");
            }
        }
    }
}
