//! A trigger made ready to queue: the job found, the branch chosen, the source read and the
//! parameters type-checked against the pipeline read from it.

use crate::cause;
use crate::command::{Command, Enqueue};
use crate::error::SourceError;
use crate::error::{JobSourceError, TriggerError};
use crate::handle::SchedulerHandle;
use crate::job_properties::with_step_parameters;
use crate::matching::branch_matches;
use crate::multibranch;
use crate::pipeline_info::PipelineInfo;
use crate::request::TriggerRequest;
use crate::shared::Shared;
use crate::source::{self, Resolved};
use kiln_config::{JobConfig, Source};
use kiln_model::{Document, Pipeline};
use kiln_store::{ChangeRecord, NewBuild};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Reads the job's source and checks the request against its pipeline. A multibranch job's
/// trigger goes to the child of its branch, tag or change request, which is kept from then
/// on if its Jenkinsfile was found.
pub(crate) async fn prepare(
    shared: &Shared,
    req: &TriggerRequest,
) -> Result<Enqueue, TriggerError> {
    let job = shared
        .job(&req.job)
        .ok_or_else(|| TriggerError::UnknownJob(req.job.clone()))?;
    let Some(mb) = &job.multibranch else {
        let stored = shared
            .children
            .get(&job.name)
            .and_then(|child| multibranch::stored_change(&child, req));
        return prepare_job(shared, &job, stored.as_ref().unwrap_or(req)).await;
    };
    let routed = multibranch::route(shared, &job, mb, req)?;
    let enqueue = prepare_job(shared, &routed.config, &routed.request).await;
    match enqueue {
        Ok(enqueue) => {
            let name = routed.child.name.to_string();
            let changed = shared
                .children
                .put(routed.child)
                .map_err(|source| TriggerError::Child { job: name, source })?;
            if changed {
                shared.refresh_children();
            }
            Ok(enqueue)
        }
        Err(TriggerError::Source(e))
            if routed.new && matches!(e.source, SourceError::ReadAtCommit { .. }) =>
        {
            Err(TriggerError::NoJenkinsfile {
                job: job.name.to_string(),
                name: routed.child.source_name().to_owned(),
                path: routed.config.jenkinsfile.clone(),
            })
        }
        Err(e) => Err(e),
    }
}

/// [`prepare`] of a job that builds itself.
async fn prepare_job(
    shared: &Shared,
    job: &JobConfig,
    req: &TriggerRequest,
) -> Result<Enqueue, TriggerError> {
    let branch = branch_for(job, req.branch.as_deref())?;
    let (resolved, change) = read_source(shared, job, branch.as_deref(), req)
        .await
        .map_err(|source| {
            shared.set_pipeline(job.name.as_str(), Err(source.to_string()));
            TriggerError::Source(Box::new(JobSourceError {
                job: job.name.to_string(),
                source,
            }))
        })?;
    let resolved = match &req.replay {
        Some(replay) => resolved.replayed(replay.clone()),
        None => resolved,
    };
    let given = match &req.replay {
        Some(_) => declared_only(&resolved, &req.params),
        None => req.params.clone(),
    };
    let params = check_params(shared, job, &resolved, &given)?;
    let branch = match &req.change {
        Some(c) => Some(c.branch_name.clone()),
        None => resolved.branch.clone(),
    };
    let mut new = NewBuild {
        params,
        commit: resolved.commit.clone(),
        branch,
        queued_at_ms: shared.clock.now_ms(),
        change,
        ..NewBuild::default()
    };
    cause::store(&req.cause, &mut new);
    Ok(Enqueue {
        job: job.name.clone(),
        new,
        resolved: Arc::new(resolved),
        polled: None,
        quiet_secs: None,
        once: None,
    })
}

/// The job's pipeline for the request; a pull request's judged first (see [`crate::change`]).
async fn read_source(
    shared: &Shared,
    job: &JobConfig,
    branch: Option<&str>,
    req: &TriggerRequest,
) -> Result<(Resolved, Option<ChangeRecord>), SourceError> {
    let (Some(change), Some(target), Some(head)) = (&req.change, branch, &req.commit) else {
        let resolved = source::resolve(&shared.git, job, branch, req.commit.as_deref()).await?;
        return Ok((resolved, None));
    };
    let mut record = match &change.judged {
        Some(judged) => judged.clone(),
        None => crate::change::judge(shared, job, change).await,
    };
    let (resolved, line) = crate::change::resolve(&shared.git, job, target, head, &record).await?;
    record.note = line;
    Ok((resolved, Some(record)))
}

/// The branch to build: the job's, or the one asked for when it fits the job.
fn branch_for(job: &JobConfig, asked: Option<&str>) -> Result<Option<String>, TriggerError> {
    if matches!(job.source, Source::Dir(_)) {
        return Ok(None);
    }
    let pattern = &job.branch;
    match asked {
        Some(b) if branch_matches(pattern, b) => Ok(Some(b.to_owned())),
        Some(b) => Err(TriggerError::BranchNotMatched {
            job: job.name.to_string(),
            branch: b.to_owned(),
            pattern: pattern.clone(),
        }),
        None if job.branch_is_pattern() => Err(TriggerError::BranchRequired {
            job: job.name.to_string(),
            pattern: pattern.clone(),
        }),
        None => Ok(Some(pattern.clone())),
    }
}

/// Takes the pipeline read with the source (remembering what it declares for the job; the
/// build prepares the same document) and type-checks the
/// parameters: the job's configured values, then the request's. An invalid pipeline is
/// queued all the same: its build fails with the diagnostics in its log. A scripted
/// pipeline's parameters (a pipeline a library builds may declare some) are checked by the
/// engine when the build runs.
fn check_params(
    shared: &Shared,
    job: &JobConfig,
    resolved: &Resolved,
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, TriggerError> {
    let loaded = &resolved.loaded;
    let errors = loaded.errors();
    let pipeline = match &loaded.document {
        Some(Document::Declarative(p)) if errors == 0 => Arc::new(Pipeline::clone(p)),
        Some(Document::Scripted(s)) if errors == 0 => {
            // What a scripted pipeline declares (or the pipeline a library builds from
            // it) is known when a build runs it: a pipeline its last build ran is kept.
            let scripted = kiln_engine::scripted_pipeline(s);
            if !matches!(shared.pipeline(job.name.as_str()), Some(Ok(_))) {
                let info = Arc::new(PipelineInfo::of(Arc::new(scripted.clone())));
                shared.set_pipeline(job.name.as_str(), Ok(info));
            }
            // The parameters a `properties` step set are checked and filled here.
            let Some(with) = with_step_parameters(shared, job.name.as_str(), &scripted) else {
                return Ok(given.clone());
            };
            return fill_params(&with, job, given);
        }
        _ => {
            let why = if errors > 0 {
                format!("`{}` has {errors} error(s)", loaded.source.name())
            } else {
                format!("`{}` holds no pipeline", loaded.source.name())
            };
            shared.set_pipeline(job.name.as_str(), Err(why));
            return Ok(given.clone());
        }
    };
    let info = Arc::new(PipelineInfo::of(pipeline.clone()));
    shared.set_pipeline(job.name.as_str(), Ok(info));
    match with_step_parameters(shared, job.name.as_str(), &pipeline) {
        Some(with) => fill_params(&with, job, given),
        None => fill_params(&pipeline, job, given),
    }
}

/// The parameters a build of `pipeline` runs with: the job's configured values, then the
/// request's, then the defaults, type-checked.
fn fill_params(
    pipeline: &Pipeline,
    job: &JobConfig,
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, TriggerError> {
    let declared = |name: &String| pipeline.parameters.iter().any(|p| p.name.value == *name);
    let mut params: BTreeMap<String, String> = job
        .parameters
        .iter()
        .filter(|(k, _)| declared(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    params.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
    // Every parameter the build runs with is recorded, defaults included (a rebuild then
    // runs with the same values even if the defaults change).
    let resolved =
        kiln_engine::resolve_params(pipeline, &params).map_err(TriggerError::InvalidParams)?;
    for (name, value) in resolved {
        params.entry(name).or_insert_with(|| value.as_env());
    }
    Ok(params)
}

/// A replay's parameters, as Jenkins takes them from the edited text: the values of those it
/// still declares (the others are dropped; new ones get their defaults). A text that is not a
/// valid declarative pipeline keeps them all.
fn declared_only(
    resolved: &Resolved,
    given: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let loaded = &resolved.loaded;
    match &loaded.document {
        Some(Document::Declarative(p)) if loaded.errors() == 0 => given
            .iter()
            .filter(|(k, _)| p.parameters.iter().any(|d| d.name.value == **k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        _ => given.clone(),
    }
}

/// Reads every job's pipeline in the background (at start and after a reload), so jobs
/// show their parameters and the pipelines' own triggers are scheduled before a first build.
pub(crate) fn refresh_all(handle: SchedulerHandle) {
    tokio::spawn(async move {
        let config = handle.shared().config();
        for job in config.jobs.iter().filter(|j| !j.branch_is_pattern()) {
            let shared = handle.shared();
            if job.multibranch.is_some() {
                handle.send(Command::Scan(job.name.to_string()));
                continue;
            }
            match source::resolve(&shared.git, job, None, None).await {
                Ok(resolved) => {
                    // Only the pipeline is wanted here; parameters are not checked.
                    let _ = check_params(shared, job, &resolved, &BTreeMap::new());
                }
                Err(e) => {
                    tracing::warn!(job = %job.name, error = %e, "cannot read the job's pipeline");
                    shared.set_pipeline(job.name.as_str(), Err(e.to_string()));
                }
            }
            handle.send(Command::PipelineRead(job.name.to_string()));
        }
    });
}
