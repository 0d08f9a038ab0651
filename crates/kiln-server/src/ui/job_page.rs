//! `/jobs/{job}`: the "Build with parameters" form generated from the pipeline's parameters
//! (with their defaults and descriptions), and the job's builds.

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

/// The form that triggers a build: one field per parameter, or just the button.
fn build_form(job: &JobView) -> Markup {
    let title = if job.parameters.is_empty() {
        "Build"
    } else {
        "Build with parameters"
    };
    html! {
        section #build {
            h2 { (title) }
            form #build-form data-job=(job.name) {
                @for p in &job.parameters { (field(p)) }
                p.error #form-error role="alert" hidden {}
                button type="submit" { "Build" }
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
