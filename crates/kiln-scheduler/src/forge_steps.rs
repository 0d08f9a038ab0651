//! The forge steps' commit statuses (`githubNotify`, `gitlabCommitStatus`,
//! `updateGitlabCommitStatus`, `setGitHubPullRequestStatus`): posted at once to the forge of
//! the build's job, on the build's commit (a change request's head) unless the step names one.

use crate::forge_status::{build_url, post_with_retries};
use crate::shared::Shared;
use kiln_engine::StatusPost;
use kiln_forge::{CommitStatus, ForgeTarget, StatusState};
use kiln_store::BuildRecord;
use kiln_types::BuildRef;

/// Posts `post` for build `id`; what was posted, or why nothing was.
pub(crate) async fn post(
    shared: &Shared,
    id: &BuildRef,
    post: StatusPost,
) -> Result<String, String> {
    let config = shared.config();
    let job = config
        .job(id.job.as_str())
        .ok_or_else(|| format!("job `{}` is no longer configured", id.job))?;
    let target = ForgeTarget::resolve(job, &config.forges)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            "the job has no `forge:` (and no `forges:` entry names its host)".to_owned()
        })?;
    let state = StatusState::parse(&post.state).ok_or_else(|| {
        format!(
            "`{}` is not a status state (pending, running, success, failure, failed, error, canceled)",
            post.state
        )
    })?;
    let record = build_record(shared, id).await?;
    let git_ref = record.as_ref().and_then(|r| {
        CommitStatus::ref_of(r.branch.as_deref(), r.change.as_ref().map(|c| &c.vars))
    });
    let sha = match post.sha {
        Some(sha) => sha,
        None => record
            .and_then(|r| r.commit)
            .ok_or_else(|| "the build has no commit: give `sha`".to_owned())?,
    };
    let kind = target.kind;
    let status = CommitStatus {
        sha: sha.clone(),
        state,
        context: post.context.clone(),
        description: post
            .description
            .unwrap_or_else(|| state.default_description().to_owned()),
        target_url: Some(post.target_url.unwrap_or_else(|| build_url(&config, id))),
        git_ref,
    };
    post_with_retries(shared.forge.tokens(), &config, target, status).await?;
    Ok(format!(
        "{} status `{}` ({}) of commit {sha}",
        kind.as_str(),
        post.context,
        state.api_name(kind)
    ))
}

async fn build_record(shared: &Shared, id: &BuildRef) -> Result<Option<BuildRecord>, String> {
    let store = shared.store.clone();
    let key = id.clone();
    tokio::task::spawn_blocking(move || store.get_build(&key))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}
