//! The web UI's pages: jobs, a job's builds, a build with its stages and live log.

use super::html::{duration, esc, page, url_segment, utc};
use crate::api::extract::ApiPath;
use crate::api::jobs::{find_build, known_job};
use crate::{ApiError, AppState};
use axum::extract::State;
use axum::response::Html;
use kiln_scheduler::JobSource;
use kiln_store::{BuildRecord, BuildStatus, Page, StageState};
use kiln_types::JobName;
use std::fmt::Write as _;

/// `/`: every job with its last build.
pub async fn jobs(State(state): State<AppState>) -> Result<Html<String>, ApiError> {
    let mut rows = String::new();
    for job in state.scheduler().jobs() {
        let source = match &job.source {
            JobSource::Repo(url) => url.clone(),
            JobSource::Dir(dir) => dir.display().to_string(),
        };
        let last = match JobName::new(job.name.as_str()) {
            Ok(name) => state
                .store()
                .list_builds(
                    &name,
                    Page {
                        before: None,
                        limit: 1,
                    },
                )?
                .into_iter()
                .next(),
            Err(_) => None,
        };
        let last = last.map_or_else(|| "never built".to_string(), |b| build_link(&b));
        let _ = write!(
            rows,
            "<tr><td><a href=\"/jobs/{0}\">{0}</a></td><td>{1}</td><td>{2}</td><td>{last}</td></tr>",
            esc(&job.name),
            esc(&source),
            esc(&job.branch)
        );
    }
    let body = format!(
        "<h1>Jobs</h1><table><tr><th>Job</th><th>Source</th><th>Branch</th><th>Last build</th></tr>{rows}</table>"
    );
    Ok(Html(page("Jobs", &body)))
}

/// `/jobs/{job}`: the job's latest builds (100 at most).
pub async fn job(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Html<String>, ApiError> {
    let job = known_job(&state, &name)?;
    let builds = state.store().list_builds(
        &job,
        Page {
            before: None,
            limit: 100,
        },
    )?;
    let mut rows = String::new();
    for b in &builds {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            build_link(b),
            esc(&b.cause),
            esc(b.commit.as_deref().map_or("", |c| c.get(..12).unwrap_or(c))),
            b.started_at_ms.map(utc).unwrap_or_default(),
            took(b)
        );
    }
    let body = format!(
        "<h1>{}</h1><table><tr><th>Build</th><th>Cause</th><th>Commit</th><th>Started</th><th>Took</th></tr>{rows}</table>",
        esc(&name)
    );
    Ok(Html(page(&name, &body)))
}

/// `/jobs/{job}/{n}`: the build's facts, stage table, tests, artifacts and live log.
pub async fn build(
    State(state): State<AppState>,
    ApiPath((name, number)): ApiPath<(String, u64)>,
) -> Result<Html<String>, ApiError> {
    let b = find_build(&state, &name, number)?;
    let mut body = format!(
        "<h1><a href=\"/jobs/{0}\">{0}</a> #{number}</h1><p>{1}</p><table>",
        esc(&name),
        build_state(&b)
    );
    let facts = [
        ("Cause", Some(b.cause.clone())),
        ("Branch", b.branch.clone()),
        ("Commit", b.commit.clone()),
        ("Queued", Some(utc(b.queued_at_ms))),
        ("Started", b.started_at_ms.map(utc)),
        ("Took", Some(took(&b))),
        ("Reason", b.reason.clone()),
    ];
    for (label, value) in facts {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            let _ = write!(body, "<tr><th>{label}</th><td>{}</td></tr>", esc(&v));
        }
    }
    for (k, v) in &b.params {
        let _ = write!(body, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
    }
    body.push_str("</table>");
    stages(&mut body, &b);
    extras(&mut body, &b);
    super::reports::sections(&mut body, &state, &b);
    let stream = format!("/api/v1/jobs/{name}/builds/{number}/log/stream");
    let _ = write!(
        body,
        "<h2>Log</h2><pre id=\"log\" data-stream=\"{}\" data-live=\"{}\"></pre><p id=\"end\"></p>{LOG_SCRIPT}",
        esc(&stream),
        b.status != BuildStatus::Finished
    );
    Ok(Html(page(&format!("{name} #{number}"), &body)))
}

/// Follows the log with EventSource; reloads the page at the end of a build that was live.
const LOG_SCRIPT: &str = "<script>\
const log=document.getElementById('log');\
const es=new EventSource(log.dataset.stream);\
es.addEventListener('log',e=>{log.textContent+=JSON.parse(e.data);log.scrollTop=log.scrollHeight;});\
es.addEventListener('end',e=>{es.close();const d=JSON.parse(e.data);\
document.getElementById('end').textContent='Finished: '+(d.result||d.status);\
if(log.dataset.live==='true'){location.reload();}});\
</script>";

fn stages(body: &mut String, b: &BuildRecord) {
    if b.stages.is_empty() {
        return;
    }
    body.push_str("<h2>Stages</h2><table><tr><th>Stage</th><th>State</th><th>Took</th></tr>");
    for s in &b.stages {
        let (class, label) = match s.state {
            StageState::Pending => ("", "pending".to_string()),
            StageState::Running => ("", "running".to_string()),
            StageState::Done(o) => match o {
                kiln_types::StageOutcome::Ran(r) => (r.as_str(), r.as_str().to_string()),
                other => ("NOT_BUILT", other.label().to_string()),
            },
        };
        let _ = write!(
            body,
            "<tr><td>{}</td><td class=\"{class}\">{}</td><td>{}</td></tr>",
            esc(&s.path.join(" / ")),
            esc(&label),
            s.duration_ms.map(duration).unwrap_or_default()
        );
    }
    body.push_str("</table>");
}

fn extras(body: &mut String, b: &BuildRecord) {
    if let Some(t) = &b.tests {
        let _ = write!(
            body,
            "<h2>Tests</h2><p>{} tests, {} failed, {} skipped</p>",
            t.total, t.failed, t.skipped
        );
    }
    if let Some(input) = &b.pending_input {
        let _ = write!(
            body,
            "<h2>Waiting for input</h2><p>{}</p><p>Answer with <code>kiln approve {}</code> or <code>kiln approve --abort {}</code>.</p>",
            esc(&input.message),
            esc(&b.id.to_string()),
            esc(&b.id.to_string())
        );
    }
    if !b.artifacts.is_empty() {
        body.push_str("<h2>Artifacts</h2><ul>");
        for a in &b.artifacts {
            let href = format!(
                "/api/v1/jobs/{}/builds/{}/artifacts/{}",
                b.id.job,
                b.id.number,
                url_segment(&a.path)
            );
            let _ = write!(
                body,
                "<li><a href=\"{}\">{}</a> ({} bytes)</li>",
                esc(&href),
                esc(&a.path),
                a.size
            );
        }
        body.push_str("</ul>");
    }
}

fn build_link(b: &BuildRecord) -> String {
    format!(
        "<a href=\"/jobs/{}/{}\">#{}</a> {}",
        esc(b.id.job.as_str()),
        b.id.number,
        b.id.number,
        build_state(b)
    )
}

fn build_state(b: &BuildRecord) -> String {
    match (b.status, b.result) {
        (_, Some(r)) => format!("<span class=\"{0}\">{0}</span>", r.as_str()),
        (BuildStatus::Queued, None) => "queued".into(),
        (BuildStatus::Running, None) => "running".into(),
        (BuildStatus::WaitingForInput, None) => "waiting for input".into(),
        (BuildStatus::Finished, None) => "finished".into(),
    }
}

fn took(b: &BuildRecord) -> String {
    match (b.started_at_ms, b.finished_at_ms) {
        (Some(s), Some(f)) => duration(f.saturating_sub(s)),
        _ => String::new(),
    }
}
