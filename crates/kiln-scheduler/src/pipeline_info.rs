//! What a job's pipeline declares that acts on the job itself: parameters, triggers,
//! `disableConcurrentBuilds`, `buildDiscarder`, `quietPeriod`.

use crate::view::ParamView;
use kiln_model::{OptionKind, ParameterKind, Pipeline, Retention, TriggerKind};
use kiln_types::BuildResult;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The job-level directives of the last pipeline read for a job.
#[derive(Clone, Debug)]
pub(crate) struct PipelineInfo {
    pub pipeline: Arc<Pipeline>,
    /// `triggers { cron('...') }` specs.
    pub cron: Vec<String>,
    /// `triggers { pollSCM('...') }` specs.
    pub poll: Vec<String>,
    /// `triggers { parameterizedCron('...') }` texts.
    pub param_cron: Vec<String>,
    /// `triggers { upstream(upstreamProjects: 'a,b', threshold: ...) }`.
    pub upstream: Vec<(String, BuildResult)>,
    /// `triggers { issueCommentTrigger('...') }` patterns.
    pub comment: Vec<String>,
    /// `disableConcurrentBuilds()`: `Some(abort_previous)`.
    pub disable_concurrent: Option<bool>,
    pub retention: Option<Retention>,
    pub quiet_period_secs: Option<u64>,
}

impl PipelineInfo {
    pub(crate) fn of(pipeline: Arc<Pipeline>) -> Self {
        let mut info = PipelineInfo {
            pipeline: pipeline.clone(),
            cron: Vec::new(),
            poll: Vec::new(),
            param_cron: Vec::new(),
            upstream: Vec::new(),
            comment: Vec::new(),
            disable_concurrent: None,
            retention: None,
            quiet_period_secs: None,
        };
        for t in &pipeline.triggers {
            match &t.kind {
                // A schedule computed from an expression is known once a build ran the
                // pipeline: its record (`Shared::job_properties`) has it.
                TriggerKind::Cron(spec) => info.cron.extend(spec.literal().cloned()),
                TriggerKind::PollScm(spec) => info.poll.extend(spec.literal().cloned()),
                TriggerKind::ParameterizedCron(spec) => {
                    info.param_cron.extend(spec.literal().cloned());
                }
                TriggerKind::Upstream {
                    projects,
                    threshold,
                } => {
                    let threshold = threshold_of(threshold);
                    info.upstream.extend(
                        projects
                            .iter()
                            .flat_map(|p| p.split(','))
                            .map(str::trim)
                            .filter(|p| !p.is_empty())
                            .map(|p| (p.to_owned(), threshold)),
                    );
                }
                // Push webhooks reach every job whose repository matches; nothing to schedule.
                TriggerKind::GithubPush => {}
                TriggerKind::IssueComment(pattern) => info.comment.push(pattern.clone()),
                // Triggers of plugins kiln does not provide: the build log says so.
                TriggerKind::Plugin(_) => {}
            }
        }
        for o in pipeline.options.iter() {
            match o {
                OptionKind::DisableConcurrentBuilds { abort_previous } => {
                    info.disable_concurrent = Some(*abort_previous);
                }
                OptionKind::BuildDiscarder(r) => info.retention = Some(r.clone()),
                OptionKind::QuietPeriod(s) => info.quiet_period_secs = Some(u64::from(*s)),
                _ => {}
            }
        }
        info
    }

    /// The pipeline's parameters with the job's configured values as defaults.
    pub(crate) fn parameters(&self, overrides: &BTreeMap<String, String>) -> Vec<ParamView> {
        self.pipeline
            .parameters
            .iter()
            .map(|p| {
                let name = p.name.value.clone();
                let (default, choices) = match &p.kind {
                    ParameterKind::Password { .. } => (String::new(), Vec::new()),
                    ParameterKind::Choice { choices } => (
                        overrides
                            .get(&name)
                            .cloned()
                            .unwrap_or_else(|| p.kind.default_value()),
                        choices.clone(),
                    ),
                    kind => (
                        overrides
                            .get(&name)
                            .cloned()
                            .unwrap_or_else(|| kind.default_value()),
                        Vec::new(),
                    ),
                };
                ParamView {
                    name,
                    kind: p.kind.keyword(),
                    default,
                    choices,
                    description: p.description.clone(),
                }
            })
            .collect()
    }
}

/// Jenkins writes thresholds as `hudson.model.Result.SUCCESS` or `'SUCCESS'`.
fn threshold_of(text: &str) -> BuildResult {
    let last = text.rsplit('.').next().unwrap_or(text).trim();
    BuildResult::parse(&last.to_ascii_uppercase()).unwrap_or(BuildResult::Success)
}

#[cfg(test)]
mod tests {
    use super::threshold_of;
    use kiln_types::BuildResult;

    #[test]
    fn thresholds_in_jenkins_spellings() {
        assert_eq!(
            threshold_of("hudson.model.Result.UNSTABLE"),
            BuildResult::Unstable
        );
        assert_eq!(threshold_of("FAILURE"), BuildResult::Failure);
        assert_eq!(threshold_of("nonsense"), BuildResult::Success);
    }
}
