//! The JSON shapes of the API, built from store records and scheduler views.

use crate::Settings;
use kiln_scheduler::{JobSource, JobView};
use kiln_store::{BuildRecord, BuildStatus, FailedStepRecord, StageRecord, StageState};
use kiln_types::BuildResult;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A build as the API answers it.
#[derive(Serialize)]
pub struct BuildDto<'a> {
    pub id: String,
    pub job: &'a str,
    pub number: u64,
    pub url: String,
    pub status: BuildStatus,
    pub result: Option<BuildResult>,
    pub cause: &'a str,
    pub params: BTreeMap<&'a str, &'a str>,
    pub commit: Option<&'a str>,
    pub branch: Option<&'a str>,
    pub queued_at_ms: u64,
    pub started_at_ms: Option<u64>,
    pub finished_at_ms: Option<u64>,
    pub duration_ms: Option<u64>,
    pub reason: Option<&'a str>,
    pub stages: Vec<Value>,
    pub tests: Option<kiln_store::TestSummary>,
    pub artifacts: &'a [kiln_store::ArtifactRecord],
    /// The HTML reports the build published, with the URLs of their index pages.
    pub html_reports: Vec<Value>,
    /// `recordIssues` counts by tool and severity.
    pub issues: &'a [kiln_store::IssuesRecord],
    pub pending_input: Option<&'a kiln_store::InputRecord>,
    /// The `env` variables the build's scripts set (`buildVariables` of a `build` step).
    pub variables: &'a BTreeMap<String, String>,
    /// A replay's origin and the Jenkinsfile it ran.
    pub replay: Option<&'a kiln_store::ReplayRecord>,
    pub failed_tests: &'a [kiln_store::FailedTestRecord],
    /// The step that failed the build (see [`failed_step`]), with its stage.
    pub failed_step: Option<Value>,
}

/// Renders a build; the values of password parameters (as the job declares them) are hidden.
pub fn build<'a>(r: &'a BuildRecord, settings: &Settings, job: Option<&JobView>) -> BuildDto<'a> {
    let secret = |name: &str| {
        job.is_some_and(|j| {
            j.parameters
                .iter()
                .any(|p| p.name == name && p.kind == "password")
        })
    };
    let params = r
        .params
        .iter()
        .map(|(k, v)| (k.as_str(), if secret(k) { "****" } else { v.as_str() }))
        .collect();
    BuildDto {
        id: r.id.to_string(),
        job: r.id.job.as_str(),
        number: r.id.number,
        url: settings.build_url(r.id.job.as_str(), r.id.number),
        status: r.status,
        result: r.result,
        cause: &r.cause,
        params,
        commit: r.commit.as_deref(),
        branch: r.branch.as_deref(),
        queued_at_ms: r.queued_at_ms,
        started_at_ms: r.started_at_ms,
        finished_at_ms: r.finished_at_ms,
        duration_ms: r
            .started_at_ms
            .zip(r.finished_at_ms)
            .map(|(s, f)| f.saturating_sub(s)),
        reason: r.reason.as_deref(),
        stages: r.stages.iter().map(stage).collect(),
        tests: r.tests,
        artifacts: &r.artifacts,
        html_reports: r
            .html_reports
            .iter()
            .map(|h| {
                json!({
                    "name": h.name,
                    "url": super::reports::report_url(&settings.external_url, r, h),
                })
            })
            .collect(),
        issues: &r.issues,
        pending_input: r.pending_input.as_ref(),
        variables: &r.variables,
        replay: r.replay.as_ref(),
        failed_tests: &r.failed_tests,
        failed_step: failed_step(r).map(|(s, f)| {
            json!({
                "node": s.node,
                "stage": s.path,
                "step": f.step,
                "label": f.label,
                "message": f.message,
            })
        }),
    }
}

/// The step that failed the build and its stage: of the stages a step's error failed, the
/// one that ended first (the others may have failed because of it).
pub fn failed_step(r: &BuildRecord) -> Option<(&StageRecord, &FailedStepRecord)> {
    r.stages
        .iter()
        .filter_map(|s| s.failed_step.as_ref().map(|f| (s, f)))
        .min_by_key(|(s, _)| {
            s.started_at_ms
                .zip(s.duration_ms)
                .map_or(u64::MAX, |(t, d)| t.saturating_add(d))
        })
}

fn stage(s: &StageRecord) -> Value {
    let (state, outcome) = match s.state {
        StageState::Pending => ("pending", None),
        StageState::Running => ("running", None),
        StageState::Done(o) => ("done", Some(o.label())),
    };
    json!({
        "node": s.node,
        "parent": s.parent,
        "kind": s.kind,
        "path": s.path,
        "name": s.path.last(),
        "state": state,
        "outcome": outcome,
        "started_at_ms": s.started_at_ms,
        "duration_ms": s.duration_ms,
        "failed_step": s.failed_step,
    })
}

/// A job, with its last build if it has one.
pub fn job(j: &JobView, last: Option<&BuildRecord>, settings: &Settings) -> Value {
    let source = match &j.source {
        JobSource::Repo(url) => json!({ "repo": url }),
        JobSource::Dir(dir) => json!({ "dir": dir.display().to_string() }),
    };
    let parameters: Vec<Value> = j
        .parameters
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "type": p.kind,
                "default": p.default,
                "choices": p.choices,
                "description": p.description,
            })
        })
        .collect();
    let upstream: Vec<Value> = j
        .triggers
        .upstream
        .iter()
        .map(|(job, threshold)| json!({ "job": job, "threshold": threshold }))
        .collect();
    json!({
        "name": j.name,
        "source": source,
        "branch": j.branch,
        "jenkinsfile": j.jenkinsfile,
        "parameters": parameters,
        "triggers": { "cron": j.triggers.cron, "poll": j.triggers.poll, "upstream": upstream },
        "concurrency": j.concurrency,
        "pipeline_error": j.pipeline_error,
        "last_build": last.map(|b| json!({
            "id": b.id.to_string(),
            "number": b.id.number,
            "status": b.status,
            "result": b.result,
            "url": settings.build_url(b.id.job.as_str(), b.id.number),
        })),
    })
}
