//! The forge steps: commit statuses to the job's GitHub or GitLab through whoever runs the
//! build ([`crate::Coordinator::commit_status`]). `githubNotify` (pipeline-githubnotify-step),
//! `updateGitlabCommitStatus` and the block `gitlabCommitStatus` (GitLab plugin),
//! `setGitHubPullRequestStatus` (GitHub Integration plugin), with the plugins' parameters.
//! A status the forge does not take is said in the log and never fails the build, as the
//! plugins do; parameters naming another repository or connection are said to be ignored.

use super::StepCall;
use crate::StatusPost;
use crate::error::StepError;
use kiln_script::Value;

/// `githubNotify`'s context when none is given.
const GITHUB_NOTIFY_CONTEXT: &str = "jenkins/githubnotify";
/// The GitLab plugin's name when none is given.
const GITLAB_NAME: &str = "jenkins";

pub(crate) async fn github_notify(call: &StepCall<'_>) -> Result<Value, StepError> {
    let state = one_of(call, "githubNotify", "status", GITHUB_STATES)?;
    ignored(
        call,
        "githubNotify",
        &["account", "repo", "credentialsId", "gitApiUrl"],
    );
    let post = StatusPost {
        state,
        context: call
            .string("context")?
            .unwrap_or_else(|| GITHUB_NOTIFY_CONTEXT.to_owned()),
        description: Some(call.req_string("description")?),
        target_url: call.string("targetUrl")?,
        sha: call.string("sha")?,
    };
    send(call, "githubNotify", post).await
}

/// `setGitHubPullRequestStatus`: without `context`, the job's full name is the context (as the
/// GitHub Integration plugin falls back to when its project has no display name).
pub(crate) async fn set_github_pr_status(call: &StepCall<'_>) -> Result<Value, StepError> {
    let state = one_of(call, "setGitHubPullRequestStatus", "state", GITHUB_STATES)?;
    let post = StatusPost {
        state,
        context: call
            .string("context")?
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| call.build.spec.job_name.clone()),
        description: call.string("message")?,
        target_url: None,
        sha: None,
    };
    send(call, "setGitHubPullRequestStatus", post).await
}

pub(crate) async fn update_gitlab_status(call: &StepCall<'_>) -> Result<Value, StepError> {
    let state = one_of(call, "updateGitlabCommitStatus", "state", GITLAB_STATES)?;
    let post = gitlab_post(gitlab_name(call)?, state);
    send(call, "updateGitlabCommitStatus", post).await
}

/// `gitlabCommitStatus(name) { }`'s start: `running` under `name`; the name for the end.
pub(crate) async fn gitlab_block_start(call: &StepCall<'_>) -> Result<String, StepError> {
    ignored(call, "gitlabCommitStatus", &["builds", "connection"]);
    let name = gitlab_name(call)?;
    send(
        call,
        "gitlabCommitStatus",
        gitlab_post(name.clone(), "running".into()),
    )
    .await?;
    Ok(name)
}

/// `gitlabCommitStatus`'s end: `success`, `failed`, or `canceled` when the block was
/// aborted.
pub(crate) async fn gitlab_block_end(call: &StepCall<'_>, name: String, state: &str) {
    let _ = send(
        call,
        "gitlabCommitStatus",
        gitlab_post(name, state.to_owned()),
    )
    .await;
}

const GITHUB_STATES: &[&str] = &["pending", "success", "failure", "error"];
const GITLAB_STATES: &[&str] = &[
    "pending", "running", "canceled", "success", "failed", "skipped",
];

fn gitlab_name(call: &StepCall<'_>) -> Result<String, StepError> {
    Ok(call
        .string("name")?
        .unwrap_or_else(|| GITLAB_NAME.to_owned()))
}

fn gitlab_post(name: String, state: String) -> StatusPost {
    StatusPost {
        state,
        context: name,
        description: None,
        target_url: None,
        sha: None,
    }
}

/// The state parameter, one of `allowed` in any case (as the plugins' enums).
fn one_of(
    call: &StepCall<'_>,
    step: &str,
    param: &str,
    allowed: &[&str],
) -> Result<String, StepError> {
    let value = call.req_string(param)?;
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(&value)) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(StepError::failed(format!(
            "{step}: `{param}` must be one of {}, not `{value}`",
            allowed.join(", ")
        )))
    }
}

fn ignored(call: &StepCall<'_>, step: &str, params: &[&str]) {
    for param in params.iter().filter(|p| call.has(p)) {
        call.log(&format!(
            "{step}: `{param}` is ignored: kiln posts to the forge of the job's `forge:` in kiln.yaml"
        ));
    }
}

/// Posts and logs what became of it; never an error (a forge failure does not fail the build).
async fn send(call: &StepCall<'_>, step: &str, post: StatusPost) -> Result<Value, StepError> {
    match call.build.spec.coordinator.commit_status(post).await {
        Ok(posted) => call.log(&format!("{step}: posted the {posted}")),
        Err(e) => call.log(&format!("{step}: could not post the commit status: {e}")),
    }
    Ok(Value::Null)
}
