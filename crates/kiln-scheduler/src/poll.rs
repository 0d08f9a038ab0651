//! Polling (`triggers.poll`, `pollSCM`): fetch, and build every branch whose head moved
//! since it was last seen.

use crate::command::Command;
use crate::handle::SchedulerHandle;
use crate::matching::branch_matches;
use crate::request::TriggerRequest;
use crate::source::dir_head;
use kiln_config::{JobConfig, Source};
use kiln_engine::BuildCause;
use kiln_store::Page;
use kiln_types::JobName;

/// The job-record key under which a branch's last polled commit is kept.
pub(crate) fn meta_key(branch: &str) -> String {
    format!("poll:{branch}")
}

/// One poll of one job; tells the actor when it is done (polls of a job never overlap).
pub(crate) async fn poll(handle: SchedulerHandle, job: String) {
    let unchanged = poll_job(&handle, &job).await;
    handle.send(Command::Polled(job, unchanged));
}

/// Triggers a build for every branch that moved; returns the branches that did not.
async fn poll_job(handle: &SchedulerHandle, job: &str) -> Vec<(String, String)> {
    let Some(cfg) = handle.shared().job(job) else {
        return Vec::new();
    };
    let heads = match heads(handle, &cfg).await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(job, error = %e, "polling failed");
            return Vec::new();
        }
    };
    let mut unchanged = Vec::new();
    for (branch, commit) in heads {
        let last = last_seen(handle, &cfg.name, &branch).await;
        if last.as_deref() == Some(commit.as_str()) {
            unchanged.push((branch, commit));
            continue;
        }
        tracing::info!(job, branch = %branch, commit = %commit, "polling found a change");
        let mut req = TriggerRequest::new(job, BuildCause::Scm).commit(commit.clone());
        if matches!(cfg.source, Source::Repo(_)) {
            req = req.branch(branch.clone());
        }
        if let Err(e) = handle.trigger_polled(req, Some((branch, commit))).await {
            tracing::warn!(job, error = %e, "the build for a polled change was refused");
        }
    }
    unchanged
}

/// The job's branches (those matching its pattern) and their heads.
async fn heads(handle: &SchedulerHandle, job: &JobConfig) -> Result<Vec<(String, String)>, String> {
    let git = &handle.shared().git;
    match &job.source {
        Source::Repo(url) => {
            git.fetch(url).await?;
            if job.branch_is_pattern() {
                let all = git.branches(url).await?;
                Ok(all
                    .into_iter()
                    .filter(|(b, _)| branch_matches(&job.branch, b))
                    .collect())
            } else {
                Ok(vec![(
                    job.branch.clone(),
                    git.resolve(url, &job.branch).await?,
                )])
            }
        }
        Source::Dir(dir) => match dir_head(dir).await {
            Some((commit, branch)) => {
                Ok(vec![(branch.unwrap_or_else(|| "HEAD".to_owned()), commit)])
            }
            None => Err(format!(
                "`{}` is not a git repository: polling a plain directory sees no changes",
                dir.display()
            )),
        },
    }
}

/// The commit last seen on `branch`: remembered by polling, else the newest build's.
pub(crate) async fn last_seen(
    handle: &SchedulerHandle,
    job: &JobName,
    branch: &str,
) -> Option<String> {
    let store = handle.shared().store.clone();
    let (job, branch) = (job.clone(), branch.to_owned());
    tokio::task::spawn_blocking(move || {
        let rec = store.get_job(&job).ok().flatten();
        if let Some(c) = rec.and_then(|r| r.meta.get(&meta_key(&branch)).cloned()) {
            return Some(c);
        }
        let page = Page {
            before: None,
            limit: 50,
        };
        store
            .list_builds(&job, page)
            .ok()?
            .into_iter()
            .find(|b| b.branch.as_deref().is_none_or(|b| b == branch) && b.commit.is_some())
            .and_then(|b| b.commit)
    })
    .await
    .ok()
    .flatten()
}
