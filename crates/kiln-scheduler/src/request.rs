//! What a trigger asks for.

use kiln_engine::BuildCause;
use std::collections::BTreeMap;

/// A request to build a job, from the API, the CLI, a webhook or a timer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriggerRequest {
    pub job: String,
    /// Parameter values; the pipeline's defaults (and the job's configured ones) fill the rest.
    pub params: BTreeMap<String, String>,
    pub cause: BuildCause,
    /// The branch to build (needed when the job's branch is a pattern); the job's branch
    /// otherwise.
    pub branch: Option<String>,
    /// The tag to build (a tag push to a multibranch job that discovers tags).
    pub tag: Option<String>,
    /// The exact commit to build (e.g. from a push webhook); the branch's head otherwise.
    pub commit: Option<String>,
    /// A replay: this Jenkinsfile text runs instead of the one at the commit, and is
    /// recorded on the build.
    pub replay: Option<kiln_store::ReplayRecord>,
    /// A pull or merge request (`branch` is then its target, `commit` its head).
    pub change: Option<ChangeTrigger>,
}

/// A pull or merge request to build, from a webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeTrigger {
    /// Jenkins' `CHANGE_ID`, `CHANGE_TARGET`, `CHANGE_BRANCH`, `CHANGE_AUTHOR`, ...
    pub vars: BTreeMap<String, String>,
    /// The build's `BRANCH_NAME`: `PR-42` (GitHub), `MR-42` (GitLab), as Jenkins names them.
    pub branch_name: String,
    /// The request comes from another repository (a fork).
    pub fork: bool,
    /// Whom the forge is asked about for write access: GitHub's login, GitLab's user id.
    pub author_key: Option<String>,
    /// The judgement of an earlier build of the same request at the same head (a rebuild or
    /// replay of it), kept instead of asking the forge again.
    pub judged: Option<kiln_store::ChangeRecord>,
}

impl TriggerRequest {
    /// A request with no parameters, branch or commit.
    pub fn new(job: impl Into<String>, cause: BuildCause) -> Self {
        TriggerRequest {
            job: job.into(),
            params: BTreeMap::new(),
            cause,
            branch: None,
            tag: None,
            commit: None,
            replay: None,
            change: None,
        }
    }

    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.insert(name.into(), value.into());
        self
    }

    pub fn branch(mut self, branch: impl Into<String>) -> Self {
        self.branch = Some(branch.into());
        self
    }

    pub fn commit(mut self, commit: impl Into<String>) -> Self {
        self.commit = Some(commit.into());
        self
    }
}
