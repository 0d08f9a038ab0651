//! Removing orphaned children past the job's `orphaned_item_strategy`: with neither limit at
//! once (Jenkins' default), else those orphaned more than `days_to_keep` days ago and those
//! beyond the newest `num_to_keep`. A removed child's finished builds, files, workspaces and
//! job record are deleted unless `keep_builds`; its queued builds are aborted (the job is
//! gone). The limits are applied by scans and webhooks that orphan a child, and on the
//! scheduler's timer when the oldest orphan's `days_to_keep` run out ([`expires_at`]).

use super::child::Child;
use crate::handle::SchedulerHandle;
use crate::retention::{self, Keep};
use crate::shared::Shared;
use kiln_config::{JobConfig, MultibranchConfig};

const DAY_MS: u64 = 86_400_000;

/// When the oldest orphaned child of multibranch job `parent` has been kept `days_to_keep`
/// days (ms since the epoch); `None` without orphans or without that limit.
pub(crate) fn expires_at(shared: &Shared, parent: &JobConfig) -> Option<u64> {
    let days = parent.multibranch.as_ref()?.orphaned.days_to_keep?;
    let oldest = shared.children.oldest_orphan(parent.name.as_str())?;
    Some(oldest.saturating_add(days.saturating_mul(DAY_MS)))
}

/// The timer of `parent`'s oldest orphan fired: the strategy is applied now.
pub(crate) async fn prune_expired(handle: SchedulerHandle, parent: String) {
    let shared = handle.shared().clone();
    let Some(job) = shared.job(&parent) else {
        return;
    };
    let Some(mb) = job.multibranch.clone() else {
        return;
    };
    tracing::info!(job = %parent, "an orphaned child's days to keep ran out");
    if prune(&handle, &job, &mb, shared.clock.now_ms()).await {
        handle.children_changed();
    }
}

/// Removes what the strategy says; returns whether a child was removed.
pub(crate) async fn prune(
    handle: &SchedulerHandle,
    parent: &JobConfig,
    mb: &MultibranchConfig,
    now: u64,
) -> bool {
    let strategy = &mb.orphaned;
    let mut orphans: Vec<(u64, Child)> = handle
        .shared()
        .children
        .of(parent.name.as_str())
        .into_iter()
        .filter_map(|c| c.orphaned_at_ms.map(|t| (t, c)))
        .collect();
    orphans.sort_by_key(|o| std::cmp::Reverse(o.0));
    let mut removed = false;
    for (i, (at, child)) in orphans.into_iter().enumerate() {
        let unlimited = strategy.days_to_keep.is_none() && strategy.num_to_keep.is_none();
        let too_many = strategy
            .num_to_keep
            .is_some_and(|n| u64::try_from(i).unwrap_or(u64::MAX) >= n);
        let too_old = strategy
            .days_to_keep
            .is_some_and(|d| now.saturating_sub(at) >= d.saturating_mul(DAY_MS));
        if unlimited || too_many || too_old {
            removed |= remove(handle, child, strategy.keep_builds).await;
        }
    }
    removed
}

async fn remove(handle: &SchedulerHandle, child: Child, keep_builds: bool) -> bool {
    let shared = handle.shared().clone();
    match shared.children.remove_orphan(&child.name) {
        Ok(Some(_)) => {}
        Ok(None) => return false,
        Err(e) => {
            tracing::warn!(job = %child.name, error = %e, "cannot remove an orphaned child");
            return false;
        }
    }
    tracing::info!(job = %child.name, keep_builds, "orphaned child removed");
    if keep_builds {
        return true;
    }
    let name = child.name.clone();
    let deleted = tokio::task::spawn_blocking(move || {
        let builds_dir = shared.builds_root();
        let all = Keep {
            builds: Some(0),
            days: None,
        };
        let res = retention::apply(shared.store.as_ref(), &builds_dir, &name, all, 0);
        // The job's record goes with its last build, so a branch that comes back starts at
        // build 1 again (as Jenkins' new branch project); a queued or running build keeps it.
        match shared.store.delete_job(&name) {
            Ok(true) => tracing::info!(job = %name, "an orphaned child's job record deleted"),
            Ok(false) => {
                tracing::info!(job = %name, "an orphaned child's job record is kept: builds of it remain")
            }
            Err(e) => {
                tracing::warn!(job = %name, error = %e, "cannot delete an orphaned child's job record")
            }
        }
        for dir in [builds_dir.join(name.as_str()), shared.workspace(name.as_str(), 0)] {
            if let Err(e) = std::fs::remove_dir_all(&dir)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot delete an orphaned child's files");
            }
        }
        res
    })
    .await;
    match deleted {
        Ok(Ok(n)) => {
            tracing::info!(job = %child.name, builds = n, "an orphaned child's builds deleted")
        }
        Ok(Err(e)) => {
            tracing::warn!(job = %child.name, error = %e, "cannot delete an orphaned child's builds")
        }
        Err(e) => {
            tracing::warn!(job = %child.name, error = %e, "deleting an orphaned child's builds failed")
        }
    }
    true
}
