//! The build page's report sections: failed tests with their messages and stack traces,
//! issue counts, and links to the HTML reports the build kept.

use super::html::esc;
use crate::AppState;
use crate::api::reports::{kept, report_url};
use kiln_store::{BuildRecord, TestFailureKind};
use std::fmt::Write as _;

/// Appends the failed tests and the HTML report links of `b` to `body`.
pub fn sections(body: &mut String, state: &AppState, b: &BuildRecord) {
    if !b.failed_tests.is_empty() {
        body.push_str("<h2>Failed tests</h2>");
        for t in &b.failed_tests {
            let name = if t.class_name.is_empty() {
                t.name.clone()
            } else {
                format!("{}.{}", t.class_name, t.name)
            };
            let kind = match t.kind {
                TestFailureKind::Failure => "failed",
                TestFailureKind::Error => "error",
            };
            let _ = write!(
                body,
                "<details><summary class=\"FAILURE\">{} ({kind}){}</summary>",
                esc(&name),
                t.message
                    .as_deref()
                    .map(|m| format!(": {}", esc(m)))
                    .unwrap_or_default()
            );
            if let Some(trace) = &t.stack_trace {
                let _ = write!(body, "<pre>{}</pre>", esc(trace));
            }
            body.push_str("</details>");
        }
    }
    if !b.issues.is_empty() {
        body.push_str("<h2>Issues</h2><table><tr><th>Tool</th><th>Total</th><th>Error</th><th>High</th><th>Normal</th><th>Low</th></tr>");
        for i in &b.issues {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&i.name),
                i.total,
                i.error,
                i.high,
                i.normal,
                i.low
            );
        }
        body.push_str("</table>");
    }
    let reports: Vec<_> = kept(state, b).collect();
    if !reports.is_empty() {
        body.push_str("<h2>Reports</h2><ul>");
        for r in reports {
            let _ = write!(
                body,
                "<li><a href=\"{}\">{}</a></li>",
                esc(&report_url("", b, r)),
                esc(&r.name)
            );
        }
        body.push_str("</ul>");
    }
}
