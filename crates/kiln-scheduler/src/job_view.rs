//! A configured job and its last-read pipeline, as a [`JobView`].

use crate::job_properties::JobPropertiesRecord;
use crate::shared::PipelineRead;
use crate::view::{JobSource, JobView, TriggerView};
use kiln_config::{JobConfig, Source};
use kiln_types::BuildResult;

/// `set`: what the job's last build set from values its pipeline computes.
pub(crate) fn view(
    job: &JobConfig,
    read: Option<PipelineRead>,
    set: Option<JobPropertiesRecord>,
) -> JobView {
    let mut triggers = TriggerView {
        cron: job
            .triggers
            .cron
            .iter()
            .map(|s| s.spec().to_owned())
            .collect(),
        poll: job
            .triggers
            .poll
            .iter()
            .map(|s| s.spec().to_owned())
            .collect(),
        upstream: job
            .triggers
            .upstream
            .iter()
            .map(|u| (u.to_string(), BuildResult::Success))
            .collect(),
    };
    let mut concurrency = job.concurrency.max(1);
    // What a `properties` step in a stage took over from the pipeline.
    let replaced = set.as_ref().map(|s| s.replaces).unwrap_or_default();
    let (mut parameters, pipeline_error) = match read {
        Some(Ok(info)) => {
            if !replaced.triggers {
                triggers.cron.extend(info.cron.iter().cloned());
                triggers.poll.extend(info.poll.iter().cloned());
                triggers.cron.extend(info.param_cron.iter().cloned());
                triggers.upstream.extend(info.upstream.iter().cloned());
            }
            if info.disable_concurrent.is_some() && !replaced.concurrency {
                concurrency = 1;
            }
            let mut parameters = info.parameters(&job.parameters);
            if replaced.parameters {
                let declared = &info.pipeline.parameters;
                parameters.retain(|p| !declared.iter().any(|d| d.name.value == p.name));
            }
            (parameters, None)
        }
        Some(Err(e)) => (Vec::new(), Some(e)),
        None => (Vec::new(), None),
    };
    if let Some(set) = set {
        triggers.cron.extend(set.cron);
        triggers.poll.extend(set.poll);
        triggers.cron.extend(set.param_cron);
        if set.disable_concurrent.is_some() {
            concurrency = 1;
        }
        let span = kiln_diagnostics::Span::default();
        for p in set.parameters {
            if !parameters.iter().any(|v| v.name == p.name) {
                let param = p.to_parameter(span);
                let (kind, default) = (param.kind.keyword(), param.kind.default_value());
                parameters.push(crate::view::ParamView {
                    name: p.name,
                    kind,
                    default: if kind == "password" {
                        String::new()
                    } else {
                        default
                    },
                    choices: p.choices,
                    description: p.description,
                });
            }
        }
    }
    JobView {
        name: job.name.to_string(),
        source: match &job.source {
            Source::Repo(url) => JobSource::Repo(url.clone()),
            Source::Dir(dir) => JobSource::Dir(dir.clone()),
        },
        branch: job.branch.clone(),
        jenkinsfile: job.jenkinsfile.clone(),
        parameters,
        triggers,
        concurrency,
        pipeline_error,
        multibranch: job.multibranch.is_some(),
    }
}
