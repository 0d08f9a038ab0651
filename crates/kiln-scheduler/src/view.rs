//! Read-only views of jobs and of the scheduler's counters, for the API and metrics.

use kiln_types::BuildResult;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where a job's pipeline comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobSource {
    /// A git repository URL (any URL git understands, `file://` included).
    Repo(String),
    /// A local directory.
    Dir(PathBuf),
}

/// A job as the scheduler knows it: its configuration plus what its pipeline declared the
/// last time it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobView {
    pub name: String,
    pub source: JobSource,
    /// The branch or branch pattern (`release/*`).
    pub branch: String,
    /// The Jenkinsfile's path in the source.
    pub jenkinsfile: String,
    /// The pipeline's `parameters`, with the job's configured defaults applied; empty until
    /// the pipeline was read once.
    pub parameters: Vec<ParamView>,
    pub triggers: TriggerView,
    /// Builds of this job that may run at once.
    pub concurrency: usize,
    /// Why the pipeline could not be read the last time, if it could not.
    pub pipeline_error: Option<String>,
    /// A multibranch job: it builds nothing itself, its children (`name/child`) do, and
    /// triggering it scans its repository.
    pub multibranch: bool,
}

/// One build parameter, for a trigger form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamView {
    pub name: String,
    /// Jenkins' keyword: `string`, `text`, `booleanParam`, `choice`, `password`.
    pub kind: &'static str,
    /// The default (empty for passwords: their values are never shown).
    pub default: String,
    /// The choices of a `choice` parameter.
    pub choices: Vec<String>,
    pub description: Option<String>,
}

/// What starts a job besides people and webhooks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TriggerView {
    /// Cron specs, from the configuration and the pipeline's `triggers { cron() }`.
    pub cron: Vec<String>,
    /// Polling specs (cron syntax), from the configuration and `pollSCM`.
    pub poll: Vec<String>,
    /// Jobs whose builds finishing start this one, with the worst result that still does.
    pub upstream: Vec<(String, BuildResult)>,
}

/// Counters for metrics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SchedulerStats {
    pub queued: usize,
    /// Builds running, including those waiting for input.
    pub running: usize,
    pub waiting_for_input: usize,
    /// Builds finished since the scheduler started.
    pub finished_total: u64,
    pub finished_by_result: BTreeMap<BuildResult, u64>,
    /// Sum and count of finished builds' durations (queue time excluded).
    pub duration_seconds_sum: f64,
    pub duration_count: u64,
    /// Sum of the time finished builds waited in the queue.
    pub queue_seconds_sum: f64,
    /// The global number of builds that may run at once.
    pub capacity: usize,
    /// Polls (`poll`, `pollSCM`) completed since the scheduler started.
    pub polls_completed: u64,
}
