//! Scanning a multibranch job's repository: every branch (and tag) that the job discovers and
//! whose Jenkinsfile exists has a child; a new branch, or one whose head moved since its last
//! build, is built (as Jenkins' branch indexing does); children of branches and tags that are
//! gone are orphaned. Open change requests are listed through the forge's API
//! (`requests.rs`) when the job has a forge; a request child missing from the list is
//! orphaned, so a request closed while kiln was down goes at the next scan. Webhooks find
//! and close requests too.

use super::child::{Child, ChildKind};
use super::prune;
use super::requests;
use crate::handle::SchedulerHandle;
use crate::matching::branch_matches;
use crate::request::TriggerRequest;
use kiln_config::{JobConfig, MultibranchConfig, Source};
use kiln_engine::BuildCause;
use kiln_types::JobName;
use std::collections::HashSet;

/// What went away, by the forge's name for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gone {
    Branch(String),
    Tag(String),
    /// A closed or merged request: `PR-42`, `MR-42`.
    Change(String),
}

impl Gone {
    fn name(&self) -> &str {
        match self {
            Gone::Branch(n) | Gone::Tag(n) | Gone::Change(n) => n,
        }
    }
}

/// Scans `parent` unless a scan of it runs already.
pub(crate) async fn scan(handle: SchedulerHandle, parent: String) {
    let registry = &handle.shared().children;
    if !registry.start_scan(&parent) {
        tracing::debug!(job = %parent, "scan skipped: the last one still runs");
        return;
    }
    tracing::info!(job = %parent, "scanning the repository of a multibranch job");
    if let Err(e) = scan_once(&handle, &parent).await {
        tracing::warn!(job = %parent, error = %e, "scanning a multibranch job failed");
    }
    handle.shared().children.end_scan(&parent);
}

async fn scan_once(handle: &SchedulerHandle, parent: &str) -> Result<(), String> {
    let shared = handle.shared();
    let Some(job) = shared.job(parent) else {
        return Ok(());
    };
    let (Some(mb), Source::Repo(url)) = (job.multibranch.clone(), &job.source) else {
        return Ok(());
    };
    shared.git.fetch(url).await?;
    let mut live = HashSet::new();
    let branches = shared.git.branches(url).await?;
    for (branch, commit) in branches {
        if !mb.branches.iter().any(|p| branch_matches(p, &branch)) {
            continue;
        }
        if let Some(name) = discovered(handle, &job, url, &branch, &commit).await {
            live.insert(name.clone());
            build_if_moved(handle, &job, name, branch, commit).await;
        }
    }
    if !mb.tags.is_empty() {
        let tags = shared
            .git
            .cache()
            .tags(url)
            .await
            .map_err(|e| e.to_string())?;
        for (tag, commit) in tags {
            if !mb.tags.iter().any(|p| branch_matches(p, &tag)) {
                continue;
            }
            if let Some(name) = discovered(handle, &job, url, &tag, &commit).await {
                live.insert(name.clone());
                keep_tag(handle, name, tag);
            }
        }
    }
    // Requests are listed through the forge's API; when that fails, their children stay.
    let open_changes = if mb.change_requests {
        match requests::list(handle, &job).await {
            Ok(Some((target, open))) => Some(requests::discover(handle, &job, &target, open).await),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(job = %parent, error = %e, "the open requests could not be listed: request jobs are kept as they are");
                None
            }
        }
    } else {
        None
    };
    let now = shared.clock.now_ms();
    let mut changed = false;
    for child in shared.children.of(parent) {
        if child.orphaned_at_ms.is_some() {
            continue;
        }
        let gone = match (&child.kind, &open_changes) {
            (ChildKind::Change { .. }, Some(open)) => !open.contains(&child.name),
            (ChildKind::Change { .. }, None) => false,
            _ => !live.contains(&child.name),
        };
        if gone {
            tracing::info!(job = %child.name, "its branch, tag or request is gone (or has no Jenkinsfile): orphaned");
            changed |= orphan(handle, child, now);
        }
    }
    changed |= prune::prune(handle, &job, &mb, now).await;
    if changed {
        handle.children_changed();
    }
    Ok(())
}

/// The child's name when `name` at `commit` has the job's Jenkinsfile (else it has no job).
async fn discovered(
    handle: &SchedulerHandle,
    job: &JobConfig,
    url: &str,
    name: &str,
    commit: &str,
) -> Option<JobName> {
    let child = match JobName::child(&job.name, name) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(job = %job.name, branch = name, error = %e, "a branch whose job cannot be named is skipped");
            return None;
        }
    };
    let cache = handle.shared().git.cache();
    match cache.read_file(url, commit, &job.jenkinsfile).await {
        Ok(_) => Some(child),
        Err(_) => {
            tracing::debug!(job = %job.name, branch = name, "no Jenkinsfile: no job");
            None
        }
    }
}

async fn build_if_moved(
    handle: &SchedulerHandle,
    job: &JobConfig,
    name: JobName,
    branch: String,
    commit: String,
) {
    let known = handle.shared().children.get(&name);
    if known.is_some_and(|c| c.orphaned_at_ms.is_none()) {
        let seen = crate::poll::last_seen(handle, &name, &branch).await;
        if seen.as_deref() == Some(commit.as_str()) {
            return;
        }
    }
    tracing::info!(job = %name, commit = %commit, "branch indexing found a change");
    let req = TriggerRequest::new(job.name.as_str(), BuildCause::Scm)
        .branch(branch)
        .commit(commit);
    if let Err(e) = handle.trigger(req).await {
        tracing::warn!(job = %name, error = %e, "the build of a scanned branch was refused");
    }
}

/// A discovered tag has a job, not built by the scan (as Jenkins, without a build strategy
/// for tags): a tag push's webhook or a build by hand builds it.
fn keep_tag(handle: &SchedulerHandle, name: JobName, tag: String) {
    let child = Child {
        name,
        kind: ChildKind::Tag { tag },
        orphaned_at_ms: None,
    };
    match handle.shared().children.put(child) {
        Ok(true) => handle.children_changed(),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "cannot keep a tag's job"),
    }
}

fn orphan(handle: &SchedulerHandle, mut child: Child, now: u64) -> bool {
    child.orphaned_at_ms = Some(now);
    match handle.shared().children.put(child) {
        Ok(changed) => changed,
        Err(e) => {
            tracing::warn!(error = %e, "cannot orphan a multibranch job's child");
            false
        }
    }
}

/// A webhook said `gone` went away: its child is orphaned, then removed per the job's
/// `orphaned_item_strategy`. Returns the child's name when there was one.
pub(crate) async fn forget(handle: &SchedulerHandle, parent: &str, gone: &Gone) -> Option<JobName> {
    let job = handle.shared().job(parent)?;
    let mb: MultibranchConfig = job.multibranch.clone()?;
    let name = JobName::child(&job.name, gone.name()).ok()?;
    let child = handle.shared().children.get(&name)?;
    let now = handle.shared().clock.now_ms();
    let mut changed = false;
    if child.orphaned_at_ms.is_none() {
        tracing::info!(job = %name, "its branch, tag or request is gone: orphaned");
        changed |= orphan(handle, child, now);
    }
    changed |= prune::prune(handle, &job, &mb, now).await;
    if changed {
        handle.children_changed();
    }
    Some(name)
}
