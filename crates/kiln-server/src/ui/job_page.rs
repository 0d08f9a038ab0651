//! `/jobs/{job}`: the "Build with parameters" form generated from the pipeline's parameters
//! (with their defaults and descriptions), and the job's builds; a multibranch job's page
//! has its scan button and its children instead.

use super::layout::{Viewer, badge, took, utc};
use crate::api::extract::ApiPath;
use crate::api::jobs::known_job;
use crate::{ApiError, AppState, Caller};
use axum::Extension;
use axum::extract::State;
use axum::response::Html;
use kiln_scheduler::{JobSource, JobView, ParamView};
use kiln_store::Page;
use maud::{Markup, html};

pub async fn page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(name): ApiPath<String>,
) -> Result<Html<String>, ApiError> {
    render(state, caller, name).await
}

/// The page of job `name` (a multibranch job's child too).
pub(super) async fn render(
    state: AppState,
    caller: Caller,
    name: String,
) -> Result<Html<String>, ApiError> {
    let job = known_job(&state, &name)?;
    let viewer = Viewer {
        caller,
        with_tokens: !state.settings().open(),
    };
    let builds = state.store().list_builds(
        &job,
        Page {
            before: None,
            limit: 100,
        },
    )?;
    let view = state.scheduler().job(&name);
    if let Some(parent) = view.as_ref().filter(|v| v.multibranch) {
        return multibranch_page(&state, parent, &viewer);
    }
    let body = html! {
        h1 { (name) }
        @if let Some(v) = &view {
            p.facts {
                @match &v.source {
                    JobSource::Repo(url) => { span { "Repository " code { (url) } } }
                    JobSource::Dir(dir) => { span { "Directory " code { (dir.display().to_string()) } } }
                }
                " · branch " code { (v.branch) } " · " code { (v.jenkinsfile) }
            }
            @if let Some(err) = &v.pipeline_error { p.error role="alert" { "The pipeline cannot be read: " (err) } }
            @if viewer.can_act() { (build_form(v)) }
        }
        h2 { "Builds" }
        div.scroll {
            table #builds {
                thead { tr { th { "Build" } th { "Result" } th { "Cause" } th { "Commit" } th.wide { "Branch" } th.wide { "Started" } th { "Took" } } }
                tbody #live data-live="builds" data-job=(name) {
                    @for b in &builds {
                        tr data-number=(b.id.number) {
                            td.num { a href={ "/jobs/" (name) "/" (b.id.number) } { "#" (b.id.number) } }
                            td.status { (badge(b)) }
                            td.cause { (b.cause) }
                            td.commit { code { (b.commit.as_deref().map_or("", |c| c.get(..12).unwrap_or(c))) } }
                            td.wide.branch { (b.branch.as_deref().unwrap_or("")) }
                            td.wide.started { @if let Some(s) = b.started_at_ms { (utc(s)) } }
                            td.took { (took(b)) }
                        }
                    }
                }
            }
        }
        @if builds.is_empty() { p.muted #no-builds { "No builds yet." } }
    };
    Ok(Html(
        super::layout::page(&name, Some(&viewer), &["kiln.js"], body).into_string(),
    ))
}

/// The page of a multibranch job: its source, the button that scans its repository, and a
/// row per child (branch, tag, request) with its recent builds, following the event stream
/// (a child a scan or webhook adds appears when its first build is queued).
fn multibranch_page(
    state: &AppState,
    job: &JobView,
    viewer: &Viewer,
) -> Result<Html<String>, ApiError> {
    let prefix = format!("{}/", job.name);
    let children = state
        .scheduler()
        .jobs()
        .into_iter()
        .filter(|j| j.name.starts_with(&prefix));
    let rows = super::dashboard::rows(state, children, viewer)?;
    let body = html! {
        h1 { (job.name) }
        p.facts {
            @if let JobSource::Repo(url) = &job.source { span { "Repository " code { (url) } } " · " }
            "multibranch: a job per branch, tag and pull request"
        }
        @if viewer.can_act() { (build_form(job)) }
        h2 { "Branches and requests" }
        div.scroll {
            table #jobs {
                thead { tr { th { "Job" } th { "Status" } th { "Last build" } th.wide { "Started" } th { "Took" } th.wide { "Trend" } th {} } }
                tbody #live data-live="jobs" data-job=(job.name) {
                    @for r in &rows { (r) }
                    @if rows.is_empty() {
                        tr #no-children { td.muted colspan="7" { "No branch or request has a job yet: a scan finds them." } }
                    }
                }
            }
        }
    };
    Ok(Html(
        super::layout::page(&job.name, Some(viewer), &["kiln.js"], body).into_string(),
    ))
}

/// The form that triggers a build: one field per parameter, or just the button; for a
/// multibranch job, the button that scans its repository (Jenkins' "Scan Multibranch
/// Pipeline Now").
fn build_form(job: &JobView) -> Markup {
    let (title, button) = if job.multibranch {
        ("Scan the repository", "Scan now")
    } else if job.parameters.is_empty() {
        ("Build", "Build")
    } else {
        ("Build with parameters", "Build")
    };
    html! {
        section #build {
            h2 { (title) }
            @if job.multibranch {
                p.help { "New branches, tags and requests get a job; new and moved ones are built; gone ones are removed." }
            }
            form #build-form data-job=(job.name) {
                @for p in &job.parameters { (field(p)) }
                p.error #form-error role="alert" hidden {}
                p.notice #form-notice role="status" hidden {}
                button type="submit" { (button) }
            }
        }
    }
}

fn field(p: &ParamView) -> Markup {
    let id = format!("param-{}", p.name);
    html! {
        div.field {
            @match p.kind {
                "booleanParam" => {
                    label for=(id) {
                        input #(id) type="checkbox" data-param=(p.name) data-kind="boolean" checked[p.default == "true"];
                        " " (p.name)
                    }
                }
                _ => {
                    label for=(id) { (p.name) }
                    @match p.kind {
                        "text" => { textarea #(id) data-param=(p.name) rows="4" { (p.default) } }
                        "choice" => {
                            select #(id) data-param=(p.name) {
                                @for c in &p.choices { option value=(c) selected[*c == p.default] { (c) } }
                            }
                        }
                        "password" => {
                            // The default is a secret: it is not sent to the browser; left
                            // empty, the build gets it.
                            input #(id) type="password" data-param=(p.name) data-kind="password" placeholder="(default)" autocomplete="off";
                        }
                        _ => { input #(id) type="text" data-param=(p.name) value=(p.default); }
                    }
                }
            }
            @if let Some(d) = &p.description { small.help { (d) } }
        }
    }
}
