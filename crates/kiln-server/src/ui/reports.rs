//! The build page's results: parameters, test counts and failed tests (name, message, stack
//! trace), issue counts, artifacts, the HTML reports the build kept, a replay's Jenkinsfile.

use super::layout::url_segment;
use crate::AppState;
use crate::api::reports::{kept, report_url};
use kiln_store::{BuildRecord, TestFailureKind};
use maud::{Markup, html};

pub fn sections(state: &AppState, b: &BuildRecord) -> Markup {
    let secret = secret_params(state, b);
    let reports: Vec<_> = kept(state, b).collect();
    html! {
        @if !b.params.is_empty() {
            h2 { "Parameters" }
            table.params #params {
                @for (k, v) in &b.params {
                    tr { th { (k) } td { @if secret.contains(k) { "****" } @else { (v) } } }
                }
            }
        }
        @if let Some(t) = &b.tests {
            h2 { "Tests" }
            p #test-summary { (t.total) " tests, " (t.failed) " failed, " (t.skipped) " skipped" }
        }
        @if !b.failed_tests.is_empty() {
            h2 { "Failed tests" }
            div #failed-tests {
                @for t in &b.failed_tests {
                    @let name = if t.class_name.is_empty() { t.name.clone() } else { format!("{}.{}", t.class_name, t.name) };
                    @let kind = match t.kind { TestFailureKind::Failure => "failed", TestFailureKind::Error => "error" };
                    details.failed-test {
                        summary {
                            span.FAILURE { (name) } " (" (kind) ")"
                            @if let Some(m) = &t.message { ": " span.message { (m) } }
                        }
                        @if let Some(trace) = &t.stack_trace { pre.trace { (trace) } }
                    }
                }
            }
        }
        @if !b.issues.is_empty() {
            h2 { "Issues" }
            table {
                tr { th { "Tool" } th { "Total" } th { "Error" } th { "High" } th { "Normal" } th { "Low" } }
                @for i in &b.issues {
                    tr { td { (i.name) } td { (i.total) } td { (i.error) } td { (i.high) } td { (i.normal) } td { (i.low) } }
                }
            }
        }
        @if !b.artifacts.is_empty() {
            h2 { "Artifacts" }
            ul {
                @for a in &b.artifacts {
                    li {
                        a href={ "/api/v1/jobs/" (b.id.job.as_str()) "/builds/" (b.id.number) "/artifacts/" (url_segment(&a.path)) } { (a.path) }
                        " (" (a.size) " bytes)"
                    }
                }
            }
        }
        @if !reports.is_empty() {
            h2 { "Reports" }
            ul { @for r in &reports { li { a href=(report_url("", b, r)) { (r.name) } } } }
        }
        @if let Some(r) = &b.replay {
            details #replayed {
                summary { "The replayed Jenkinsfile" }
                pre.jenkinsfile { (r.jenkinsfile) }
            }
        }
    }
}

/// The names of the job's password parameters, whose values are never shown.
fn secret_params(state: &AppState, b: &BuildRecord) -> Vec<String> {
    state
        .scheduler()
        .job(b.id.job.as_str())
        .map(|j| {
            j.parameters
                .iter()
                .filter(|p| p.kind == "password")
                .map(|p| p.name.clone())
                .collect()
        })
        .unwrap_or_default()
}
