//! Pull and merge request builds: whether the request is trusted, and the pipeline it runs.
//!
//! A request from a branch of the repository itself is trusted. One from a fork is trusted
//! when the job's `forge.trust` says so: `everyone`, `nobody`, or (the default, as Jenkins'
//! GitHub Branch Source) `write`: its author has write access, asked through the forge API.
//! An untrusted request builds its own head with the target branch's Jenkinsfile, without
//! credentials unless `forge.untrusted_credentials` is set; the log's second line says which
//! Jenkinsfile ran and why.

use crate::error::SourceError;
use crate::git::Git;
use crate::request::ChangeTrigger;
use crate::shared::Shared;
use crate::source::{self, Resolved};
use kiln_config::{ForkTrust, JobConfig};
use kiln_engine::MergeBundle;
use kiln_forge::{ForgeTarget, Permission};
use kiln_store::ChangeRecord;

/// Decides whether `change` is trusted; the record to store with the build.
pub(crate) async fn judge(
    shared: &Shared,
    job: &JobConfig,
    change: &ChangeTrigger,
) -> ChangeRecord {
    let (trusted, why) = trusted(shared, job, change).await;
    ChangeRecord {
        vars: change.vars.clone(),
        trusted,
        note: why,
    }
}

async fn trusted(shared: &Shared, job: &JobConfig, change: &ChangeTrigger) -> (bool, String) {
    if !change.fork {
        return (true, "it comes from a branch of the repository".into());
    }
    let trust = job.forge.as_ref().map(|f| f.trust).unwrap_or_default();
    match trust {
        ForkTrust::Everyone => return (true, "the job trusts everyone (`forge.trust`)".into()),
        ForkTrust::Nobody => {
            return (
                false,
                "it comes from a fork and the job trusts no fork (`forge.trust`)".into(),
            );
        }
        ForkTrust::Write => {}
    }
    let Some(author) = change.author_key.clone() else {
        return (
            false,
            "it comes from a fork whose author is not known".into(),
        );
    };
    match permission(shared, job, &author).await {
        Ok(Permission::Write) => (
            true,
            format!("its author `{author}` has write access to the repository"),
        ),
        Ok(Permission::ReadOnly) => (
            false,
            format!(
                "it comes from a fork and its author `{author}` has no write access to the repository"
            ),
        ),
        Err(e) => (
            false,
            format!(
                "it comes from a fork and the write access of its author `{author}` could not be checked: {e}"
            ),
        ),
    }
}

/// Whether `user` may push to `job`'s repository, asked through its forge.
pub(crate) async fn permission(
    shared: &Shared,
    job: &JobConfig,
    user: &str,
) -> Result<Permission, String> {
    let config = shared.config();
    let target = ForgeTarget::resolve(job, &config.forges)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the job has no `forge:`".to_owned())?;
    let user = user.to_owned();
    crate::forge_status::with_client(shared.forge.tokens(), &config, target, move |c| {
        c.permission(&user)
    })
    .await
}

/// A change request's build that builds merges (`change_build: merge`, the default): the
/// target branch's head checked out in `dest` with the request's `head` merged into it, and
/// the merge as a bundle in `dest`'s `.git` (what `checkout scm` elsewhere, e.g. in a pod,
/// fetches it from). The merge commit, its bundle, and the log line saying which commits were
/// merged; an error line when the merge failed (a conflict).
pub(crate) async fn checkout_merge(
    git: &Git,
    url: &str,
    target: &str,
    head: &str,
    dest: &std::path::Path,
) -> Result<(String, MergeBundle, String), String> {
    let base = git
        .resolve(url, target)
        .await
        .map_err(|e| format!("ERROR: cannot find the target branch `{target}`: {e}"))?;
    git.checkout(url, &base, dest)
        .await
        .map_err(|e| format!("ERROR: checkout of the target `{target}` at {base} failed: {e}"))?;
    let message = format!("Merge {head} into {target}");
    let merged = git.merge(url, dest, head, &message).await.map_err(|e| {
        format!(
            "ERROR: the pull request's head {head} does not merge into `{target}` at {base}: {e}"
        )
    })?;
    let bundle = MergeBundle {
        path: dest.join(".git").join("kiln-merge.bundle"),
        base: base.clone(),
    };
    git.bundle_head(url, dest, &base, &bundle.path)
        .await
        .map_err(|e| format!("ERROR: cannot bundle the merge commit {merged}: {e}"))?;
    let line = format!(
        "Merged the pull request's head {head} into the target branch `{target}` at {base}: building merge commit {merged}"
    );
    Ok((merged, bundle, line))
}

/// The pipeline of a request's build at `head`: its own Jenkinsfile when `record` trusts it,
/// else the one of `target`'s head; with the log line saying which and why (`record.note`).
pub(crate) async fn resolve(
    git: &Git,
    job: &JobConfig,
    target: &str,
    head: &str,
    record: &ChangeRecord,
) -> Result<(Resolved, String), SourceError> {
    if record.trusted {
        let resolved = source::resolve(git, job, Some(target), Some(head)).await?;
        let line = format!(
            "Running {} of the pull request's head {head}: {}",
            job.jenkinsfile, record.note
        );
        return Ok((resolved, line));
    }
    let mut resolved = source::resolve(git, job, Some(target), None).await?;
    let at = resolved.commit.clone().unwrap_or_default();
    let line = format!(
        "Running {} of the target branch `{target}` (at {at}), not the pull request's: {}",
        job.jenkinsfile, record.note
    );
    resolved.commit = Some(head.to_owned());
    Ok((resolved, line))
}
