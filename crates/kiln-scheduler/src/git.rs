//! The mirror cache of kiln-scm, with errors turned into the messages builds and triggers
//! report.

use crate::source::Parsed;
use kiln_scm::GitCache;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Access to the bare mirrors under `DATA_DIR/git/`, and the Jenkinsfiles last read from
/// the jobs' sources.
#[derive(Clone)]
pub(crate) struct Git {
    cache: Arc<GitCache>,
    parsed: Arc<Parsed>,
}

impl Git {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Git {
            cache: Arc::new(GitCache::new(dir)),
            parsed: Arc::default(),
        }
    }

    /// The Jenkinsfile each job read last, parsed (see [`Parsed`]).
    pub(crate) fn parsed(&self) -> &Parsed {
        &self.parsed
    }

    /// The cache itself (shared libraries are checked out through it).
    pub(crate) fn cache(&self) -> &Arc<GitCache> {
        &self.cache
    }

    pub(crate) async fn fetch(&self, url: &str) -> Result<(), String> {
        self.cache.fetch(url).await.map_err(|e| e.to_string())
    }

    pub(crate) async fn resolve(&self, url: &str, branch: &str) -> Result<String, String> {
        self.cache
            .resolve(url, branch)
            .await
            .map_err(|e| e.to_string())
    }

    pub(crate) async fn branches(&self, url: &str) -> Result<Vec<(String, String)>, String> {
        self.cache.branches(url).await.map_err(|e| e.to_string())
    }

    /// Merges `commit` into the checkout in `dest`; the merge commit.
    pub(crate) async fn merge(
        &self,
        url: &str,
        dest: &Path,
        commit: &str,
        message: &str,
    ) -> Result<String, String> {
        self.cache
            .merge(url, dest, commit, message)
            .await
            .map_err(|e| e.to_string())
    }

    /// Writes the checkout's `HEAD` in `dest`, without what `base` has, as a git bundle.
    pub(crate) async fn bundle_head(
        &self,
        url: &str,
        dest: &Path,
        base: &str,
        bundle: &Path,
    ) -> Result<(), String> {
        self.cache
            .bundle_head(url, dest, base, bundle)
            .await
            .map_err(|e| e.to_string())
    }

    /// Checks `commit` out into `dest`, keeping untracked files (as Jenkins keeps a
    /// workspace between builds).
    pub(crate) async fn checkout(
        &self,
        url: &str,
        commit: &str,
        dest: &Path,
    ) -> Result<(), String> {
        self.cache
            .checkout(url, commit, dest, false)
            .await
            .map_err(|e| e.to_string())
    }
}
