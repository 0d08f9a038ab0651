//! `/`: every job with its last build's state, when it ran, how long it took, the trend of
//! its recent builds, a Build button, and a filter box.

use super::layout::{Viewer, badge, build_state, took, utc};
use crate::{ApiError, AppState, Caller};
use axum::Extension;
use axum::extract::State;
use axum::response::Html;
use kiln_scheduler::JobView;
use kiln_store::{BuildRecord, Page};
use kiln_types::JobName;
use maud::{Markup, html};

/// How many recent builds the trend shows.
const TREND: usize = 10;

pub async fn page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Html<String>, ApiError> {
    let viewer = Viewer {
        caller,
        with_tokens: !state.settings().open(),
    };
    let rows = rows(&state, state.scheduler().jobs(), &viewer)?;
    let body = html! {
        h1 { "Jobs" }
        input #filter type="search" placeholder="Filter jobs" aria-label="Filter jobs" autocomplete="off";
        div.scroll {
            table #jobs {
                thead { tr { th { "Job" } th { "Status" } th { "Last build" } th.wide { "Started" } th { "Took" } th.wide { "Trend" } th {} } }
                tbody #live data-live="jobs" { @for r in &rows { (r) } }
            }
        }
        @if rows.is_empty() { p { "No jobs are configured." } }
    };
    Ok(Html(
        super::layout::page("Jobs", Some(&viewer), &["kiln.js"], body).into_string(),
    ))
}

/// A row per job of `jobs`, with its recent builds: the dashboard's, and a multibranch job's
/// page's for its children.
pub(super) fn rows(
    state: &AppState,
    jobs: impl IntoIterator<Item = JobView>,
    viewer: &Viewer,
) -> Result<Vec<Markup>, ApiError> {
    let mut rows = Vec::new();
    for job in jobs {
        let recent = match JobName::new(job.name.as_str()) {
            Ok(name) => state.store().list_builds(
                &name,
                Page {
                    before: None,
                    limit: TREND,
                },
            )?,
            Err(_) => Vec::new(),
        };
        rows.push(row(&job, &recent, viewer));
    }
    Ok(rows)
}

fn row(job: &JobView, recent: &[BuildRecord], viewer: &Viewer) -> Markup {
    let last = recent.first();
    html! {
        tr data-job=(job.name) data-last=(last.map_or(0, |b| b.id.number)) {
            td { a href={ "/jobs/" (job.name) } { (job.name) } }
            td.status { @if let Some(b) = last { (badge(b)) } @else { span.muted { "never built" } } }
            td.last { @if let Some(b) = last { a href={ "/jobs/" (job.name) "/" (b.id.number) } { "#" (b.id.number) } } }
            td.wide.started { @if let Some(s) = last.and_then(|b| b.started_at_ms) { (utc(s)) } }
            td.took { @if let Some(b) = last { (took(b)) } }
            td.wide.trend {
                @for b in recent.iter().rev() {
                    @let (class, label) = build_state(b);
                    a class={ "dot " (class) } data-number=(b.id.number) href={ "/jobs/" (job.name) "/" (b.id.number) } title={ "#" (b.id.number) " " (label) } {}
                }
            }
            td {
                @if viewer.can_act() {
                    button.build type="button" data-job=(job.name) data-params=(!job.parameters.is_empty()) { "Build" }
                }
            }
        }
    }
}
