//! Retention: a job's old finished builds are deleted from the store with their files, past
//! the number of builds or days to keep (the job's `retention:` in the configuration, else
//! the pipeline's `buildDiscarder`).

use kiln_store::{BuildPages, BuildStatus, Store, StoreError};
use kiln_types::JobName;
use std::path::Path;

/// How many builds and days to keep; `None` means no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Keep {
    pub builds: Option<u64>,
    pub days: Option<u64>,
}

impl Keep {
    pub(crate) fn is_unlimited(&self) -> bool {
        self.builds.is_none() && self.days.is_none()
    }
}

const PAGE: usize = 500;

/// Deletes `job`'s finished builds beyond `keep` (queued and running ones are never
/// touched, nor counted); returns how many were deleted.
pub(crate) fn apply(
    store: &dyn Store,
    builds_dir: &Path,
    job: &JobName,
    keep: Keep,
    now_ms: u64,
) -> Result<usize, StoreError> {
    if keep.is_unlimited() {
        return Ok(0);
    }
    let oldest_kept_ms = keep
        .days
        .map(|d| now_ms.saturating_sub(d.saturating_mul(86_400_000)));
    let mut kept = 0u64;
    let mut deleted = 0;
    for page in BuildPages::new(store, job, PAGE) {
        for b in page? {
            if b.status != BuildStatus::Finished {
                continue;
            }
            let too_many = keep.builds.is_some_and(|n| kept >= n);
            let when = b.finished_at_ms.unwrap_or(b.queued_at_ms);
            let too_old = oldest_kept_ms.is_some_and(|t| when < t);
            if too_many || too_old {
                store.delete_build(&b.id)?;
                let dir = builds_dir.join(job.as_str()).join(b.id.number.to_string());
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!(build = %b.id, dir = %dir.display(), error = %e, "cannot delete a build's files");
                    }
                }
                deleted += 1;
            } else {
                kept += 1;
            }
        }
    }
    if deleted > 0 {
        tracing::info!(job = %job, deleted, "deleted old builds");
    }
    Ok(deleted)
}
