use crate::SecretSource;
use crate::cron::Schedule;
use kiln_types::JobName;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where a job's (or library's) files come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `repo:`: any git URL (`https://`, `ssh://`, `git@host:path`, `file://`) or a local
    /// path to a git repository.
    Repo(String),
    /// `dir:`: a plain local directory used as it is (no git), e.g. for a quick start.
    Dir(PathBuf),
}

/// One entry of `jobs:`.
#[derive(Clone, Debug, PartialEq)]
pub struct JobConfig {
    pub name: JobName,
    pub source: Source,
    /// `branch:`, default `main`; may be a glob pattern such as `release/*` (see
    /// [`JobConfig::branch_is_pattern`]). Ignored for `dir:` jobs.
    pub branch: String,
    /// `jenkinsfile:`, the pipeline's path inside the source, default `Jenkinsfile`.
    pub jenkinsfile: String,
    /// `parameters:`: values that override the pipeline's parameter defaults.
    pub parameters: BTreeMap<String, String>,
    pub triggers: TriggersConfig,
    /// `concurrency:`: builds of this job running at once, default 1.
    pub concurrency: usize,
    /// `quiet_period_secs:`: how long a triggered build waits in the queue (merging
    /// further triggers), default 0.
    pub quiet_period_secs: u64,
    pub retention: RetentionConfig,
    /// `webhook_secret:` / `webhook_secret_env:`: the GitHub HMAC secret or GitLab token.
    pub webhook_secret: Option<SecretSource>,
    /// `forge:`: where the job's commit statuses go (with the top-level `forges:`).
    pub forge: Option<crate::ForgeConfig>,
    /// `multibranch:` / `branches:`: the job keeps a child job per branch, tag and change
    /// request instead of building itself.
    pub multibranch: Option<crate::MultibranchConfig>,
    /// Of a multibranch job's child for a tag: the tag (`TAG_NAME`); `branch` then names it too.
    pub tag: Option<String>,
}

impl JobConfig {
    /// Whether `branch` is a glob (`*`, `?` or `[`) rather than one branch name.
    pub fn branch_is_pattern(&self) -> bool {
        self.branch.contains(['*', '?', '['])
    }
}

/// `triggers:` of a job.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TriggersConfig {
    /// `triggers.cron`: build on a Jenkins cron schedule.
    pub cron: Option<Schedule>,
    /// `triggers.poll`: fetch on a Jenkins cron schedule and build when the branch moved.
    pub poll: Option<Schedule>,
    /// `triggers.upstream`: build after any of these jobs finished successfully.
    pub upstream: Vec<JobName>,
}

/// `retention:` of a job: old builds are deleted past either limit.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RetentionConfig {
    /// `retention.builds`: keep at most this many builds.
    pub builds: Option<u64>,
    /// `retention.days`: delete builds older than this many days.
    pub days: Option<u64>,
}

/// One entry of `libraries:`: a shared library pipelines load with `@Library('name')`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibraryConfig {
    pub name: String,
    pub source: Source,
    /// `default_version:`: the branch, tag or commit used when none is asked for.
    pub default_version: Option<String>,
}
