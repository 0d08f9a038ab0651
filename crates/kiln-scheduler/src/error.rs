//! The scheduler's error types: one per kind of request.

use kiln_scm::ScmError;
use kiln_store::StoreError;
use std::path::PathBuf;

/// Starting the scheduler failed.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("cannot recover the builds left by the previous run")]
    Recovery(#[source] StoreError),
    #[error("cannot create the data directory `{path}`")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid job name in the configuration")]
    JobName(#[source] StoreError),
    /// `executors.kubernetes` is configured, but the scheduler was given no backend for it.
    #[error(
        "`executors.kubernetes` is configured but the scheduler was started without a Kubernetes backend"
    )]
    NoBackend,
}

/// A trigger was refused; nothing was queued.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("no job named `{0}`")]
    UnknownJob(String),
    /// Parameters that do not fit the pipeline's `parameters`: one message per problem.
    #[error("invalid parameters: {}", .0.join("; "))]
    InvalidParams(Vec<String>),
    /// The job's source could not be read (git failed, the Jenkinsfile is missing).
    #[error(transparent)]
    Source(Box<JobSourceError>),
    /// The job's branch is a pattern (e.g. `release/*`) and no branch was given.
    #[error("job `{job}` builds branches matching `{pattern}`: say which branch to build")]
    BranchRequired { job: String, pattern: String },
    /// The branch asked for does not match the job's branch pattern.
    #[error("branch `{branch}` does not match the branches of job `{job}` (`{pattern}`)")]
    BranchNotMatched {
        job: String,
        branch: String,
        pattern: String,
    },
    /// A multibranch job builds its children: it was triggered without a branch (a scan of
    /// its repository was started instead).
    #[error(
        "job `{0}` is multibranch: build one of its branch jobs (`{0}/BRANCH`); a scan of its repository was started"
    )]
    Multibranch(String),
    /// A multibranch job does not discover this branch, tag or change request.
    #[error("job `{job}` does not discover {what}")]
    NotDiscovered { job: String, what: String },
    /// A branch without the job's Jenkinsfile has no job.
    #[error("job `{job}`: `{name}` has no `{path}`, so it has no job")]
    NoJenkinsfile {
        job: String,
        name: String,
        path: String,
    },
    /// A multibranch job's child could not be kept.
    #[error("job `{job}`: cannot keep its child")]
    Child {
        job: String,
        #[source]
        source: crate::multibranch::RegistryError,
    },
    #[error("the build could not be stored")]
    Store(#[source] StoreError),
    /// The scheduler is shutting down or has stopped.
    #[error("the scheduler is shutting down")]
    ShuttingDown,
    /// What the trigger builds once (a webhook delivery, a timer's due time) was built
    /// before, by this controller or another sharing the store.
    #[error("{0} was already built: not built again")]
    AlreadyBuilt(kiln_store::Once),
}

/// A job's pipeline could not be read for a trigger.
#[derive(Debug, thiserror::Error)]
#[error("job `{job}`: {source}")]
pub struct JobSourceError {
    pub job: String,
    #[source]
    pub source: SourceError,
}

/// Why a job's pipeline could not be read. The messages name the cause: triggers and
/// build logs show them as they are.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The repository could not be fetched, or the branch resolved.
    #[error("{0}")]
    Git(#[source] Box<ScmError>),
    #[error("cannot read `{path}` at {commit}: {source}")]
    ReadAtCommit {
        path: String,
        commit: String,
        #[source]
        source: Box<ScmError>,
    },
    #[error("cannot read `{}`: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{name}` is not valid UTF-8")]
    NotUtf8 { name: String },
}

/// Cancelling a build or answering its input failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("no build {0}")]
    NotFound(String),
    #[error("build {0} has already finished")]
    Finished(String),
    #[error("build {0} is not waiting for input")]
    NoPendingInput(String),
    #[error("the input of build {build} has no parameter `{name}` (its parameters: {known})")]
    UnknownInputParameter {
        build: String,
        name: String,
        known: String,
    },
    #[error("the input of build {build} cannot take that value for `{name}`: {why}")]
    BadInputValue {
        build: String,
        name: String,
        why: String,
    },
    #[error("the build's state could not be read or written")]
    Store(#[source] StoreError),
    #[error("the scheduler is shutting down")]
    ShuttingDown,
    /// Sent to the controller driving the build, which did not answer in time.
    #[error(
        "the controller driving build {build} did not answer within {secs} s; the request \
         stays pending: that controller, or one that takes the build over, acts on it"
    )]
    NoAnswer { build: String, secs: u64 },
    /// The controller driving the build could not act on the request.
    #[error("the controller driving build {build} could not act on the request: {message}")]
    Owner { build: String, message: String },
}
