//! `/jobs/{job}/{n}`: the build's facts and actions, its stage graph (drawn by `graph.js`
//! from the stages the build's event stream sends), the failure at the top, an input's
//! form, the log (paged, ANSI colours, line links, follow) and the test results.

use super::layout::{Viewer, badge, json_data, took, utc};
use crate::api::control::may_submit;
use crate::api::dto;
use crate::api::extract::ApiPath;
use crate::api::jobs::find_build;
use crate::{ApiError, AppState, Caller};
use axum::Extension;
use axum::extract::State;
use axum::response::Html;
use kiln_store::{BuildRecord, BuildStatus, InputParameterKind, InputParameterRecord, InputRecord};
use maud::{Markup, html};

/// `/jobs/{job}/{n}`, or `/jobs/{parent}/{child}`: a multibranch job's child's page.
pub async fn page_or_child(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath((name, second)): ApiPath<(String, String)>,
) -> Result<Html<String>, ApiError> {
    match second.parse::<u64>() {
        Ok(number) => page(state, caller, name, number).await,
        Err(_) => super::job_page::render(state, caller, format!("{name}/{second}")).await,
    }
}

/// `/jobs/{parent}/{child}/{n}`: a build of a multibranch job's child.
pub async fn child_page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath((parent, child, number)): ApiPath<(String, String, u64)>,
) -> Result<Html<String>, ApiError> {
    page(state, caller, format!("{parent}/{child}"), number).await
}

async fn page(
    state: AppState,
    caller: Caller,
    name: String,
    number: u64,
) -> Result<Html<String>, ApiError> {
    let b = find_build(&state, &name, number)?;
    let viewer = Viewer {
        caller,
        with_tokens: !state.settings().open(),
    };
    let view = state.scheduler().job(&name);
    let data = serde_json::to_value(dto::build(&b, &state.settings(), view.as_ref()))
        .map_err(ApiError::internal)?;
    let finished = b.status == BuildStatus::Finished;
    let body = html! {
        script #build-data type="application/json" { (json_data(&data)) }
        h1 { a href={ "/jobs/" (name) } { (name) } " #" (number) " " span #state { (badge(&b)) } }
        (facts(&b))
        div #banner { (banner(&b)) }
        @if viewer.can_act() {
            div #actions.actions {
                button #cancel type="button" data-action="cancel" hidden[finished] { "Cancel" }
                button #rebuild type="button" data-action="rebuild" { "Rebuild" }
                a.button href="#replay" data-action="show-replay" { "Replay" }
            }
        }
        p.error #action-error role="alert" hidden {}
        section #input { (input_section(&b, &viewer)) }
        section.graph-panel {
            h2 { "Stages" }
            div #graph.graph aria-label="Stage graph" {}
        }
        section #log-panel {
            div.log-bar {
                h2 #log-title { "Log" }
                button #whole-log type="button" hidden { "Whole log" }
                button #earlier type="button" hidden { "Load earlier" }
                label { input #timestamps type="checkbox"; " Timestamps" }
                label { input #follow type="checkbox" checked; " Follow" }
                a #raw href={ "/api/v1/jobs/" (name) "/builds/" (number) "/log" } { "Raw" }
            }
            pre #log.log tabindex="0" {}
        }
        section #results { (super::reports::sections(&state, &b)) }
        @if viewer.can_act() { (replay_form()) }
    };
    let title = format!("{name} #{number}");
    Ok(Html(
        super::layout::page(
            &title,
            Some(&viewer),
            &["kiln.js", "ansi.js", "graph.js", "build.js"],
            body,
        )
        .into_string(),
    ))
}

fn facts(b: &BuildRecord) -> Markup {
    html! {
        dl #facts.facts {
            dt { "Cause" } dd { (b.cause) }
            @if let Some(r) = &b.replay {
                dt { "Replay of" } dd { a href={ "/jobs/" (b.id.job.as_str()) "/" (r.of) } { "#" (r.of) } }
            }
            @if let Some(branch) = &b.branch { dt { "Branch" } dd { (branch) } }
            @if let Some(commit) = &b.commit { dt { "Commit" } dd { code { (commit.get(..12).unwrap_or(commit)) } } }
            dt { "Queued" } dd { (utc(b.queued_at_ms)) }
            @if let Some(s) = b.started_at_ms { dt { "Started" } dd { (utc(s)) } }
            dt { "Took" } dd #took { (took(b)) }
        }
    }
}

/// The failure at the top: the reason, the step that failed and its stage (the script adds
/// the failed stage's last log lines).
fn banner(b: &BuildRecord) -> Markup {
    let failed = b.result.is_some_and(|r| r.as_str() != "SUCCESS");
    html! {
        @if failed {
            div.banner.FAILURE role="alert" {
                strong { (b.result.map_or("", |r| r.as_str())) }
                @if let Some(reason) = &b.reason { " · " (reason) }
                @if let Some((stage, step)) = crate::api::dto::failed_step(b) {
                    div #failed-step data-node=(stage.node) {
                        "Failed at stage "
                        a href={ "#stage-" (stage.node) } { (stage.path.join(" / ")) }
                        ", step "
                        code {
                            (step.step)
                            @if let Some(label) = &step.label { " '" (label) "'" }
                        }
                        ": " (step.message)
                    }
                }
                div #failed-stage {}
            }
        }
    }
}

fn input_section(b: &BuildRecord, viewer: &Viewer) -> Markup {
    let Some(input) = &b.pending_input else {
        return html! {};
    };
    let allowed = viewer.can_act() && may_submit(&viewer.caller, input.submitter.as_deref());
    html! {
        div.input-box {
            h2 { "Waiting for input" }
            p #input-message { (input.message) }
            @if allowed {
                (input_form(input))
            } @else if let Some(who) = &input.submitter {
                p.muted { "Waiting for an answer from " (who) "." }
            } @else {
                p.muted { "Your role cannot answer it." }
            }
        }
    }
}

fn input_form(input: &InputRecord) -> Markup {
    html! {
        form #input-form {
            @for p in &input.parameters { (input_field(p)) }
            @if let Some(name) = &input.submitter_parameter {
                p.muted { "Your name is given to the build as " code { (name) } "." }
            }
            button #proceed type="submit" data-answer="approve" { (input.ok) }
            " "
            button #abort type="button" data-answer="abort" { "Abort" }
        }
    }
}

/// One parameter of an input as a control of its kind, with its default and description.
fn input_field(p: &InputParameterRecord) -> Markup {
    let id = format!("input-{}", p.name);
    html! {
        div.field {
            @if p.kind == InputParameterKind::Boolean {
                label for=(id) {
                    input #(id) type="checkbox" data-param=(p.name) data-kind="boolean" checked[p.default == "true"];
                    " " (p.name)
                }
            } @else {
                label for=(id) { (p.name) }
                @match p.kind {
                    InputParameterKind::Text => { textarea #(id) data-param=(p.name) rows="4" { (p.default) } }
                    InputParameterKind::Choice => {
                        select #(id) data-param=(p.name) {
                            @for c in &p.choices { option value=(c) selected[*c == p.default] { (c) } }
                        }
                    }
                    InputParameterKind::Password => {
                        // Left empty, the build gets the default, which is never sent here.
                        input #(id) type="password" data-param=(p.name) data-kind="password" placeholder="(default)" autocomplete="off";
                    }
                    _ => { input #(id) type="text" data-param=(p.name) value=(p.default); }
                }
            }
            @if let Some(d) = &p.description { small.help { (d) } }
        }
    }
}

/// The replay form; its text area is filled with the Jenkinsfile the build ran when opened
/// (reading it may fetch the repository, so not on every page view).
fn replay_form() -> Markup {
    html! {
        details #replay {
            summary { "Replay with an edited Jenkinsfile" }
            form #replay-form {
                textarea #jenkinsfile rows="16" spellcheck="false" disabled placeholder="Loading the Jenkinsfile…" {}
                p.error #replay-error role="alert" hidden {}
                button type="submit" { "Run" }
            }
        }
    }
}
