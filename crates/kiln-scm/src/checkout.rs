//! Checking a commit out of the mirror into a workspace directory.

use crate::cache::{check_ref, git_dir_arg, io_error};
use crate::{GitCache, ScmError};
use std::path::Path;

/// Where the workspace's `origin` branches are kept, as a clone would.
const REFSPECS: [&str; 2] = [
    "+refs/heads/*:refs/remotes/origin/*",
    "+refs/tags/*:refs/tags/*",
];

impl GitCache {
    /// Checks `commit` out into `dest` (detached HEAD, no worktrees). An existing checkout
    /// in `dest` is reused: it fetches from the mirror and switches with `checkout
    /// --detach --force`, so tracked files match the commit; untracked and ignored files
    /// (build outputs, caches) stay unless `clean` is set, which runs `git clean -ffdx`
    /// (as Jenkins keeps a workspace between builds unless asked to wipe it). A directory
    /// that is not a git checkout yet is turned into one in place. `origin` points at
    /// `url`, so `git remote -v` in a build shows the real repository.
    pub async fn checkout(
        &self,
        url: &str,
        commit: &str,
        dest: &Path,
        clean: bool,
    ) -> Result<(), ScmError> {
        check_ref(url, "commit", commit)?;
        let mirror = self.mirror_path(url);
        if !mirror.join("HEAD").is_file() {
            self.fetch(url).await?;
        }
        tokio::fs::create_dir_all(dest)
            .await
            .map_err(|e| io_error(url, dest, e))?;
        let git = self.git(url);
        if !dest.join(".git").exists() {
            git.run(Some(dest), ["init", "--quiet"]).await?;
        }
        let origin_set = git
            .run(Some(dest), ["remote", "set-url", "origin", url])
            .await;
        if origin_set.is_err() {
            git.run(Some(dest), ["remote", "add", "origin", url])
                .await?;
        }
        let mirror_arg = mirror.display().to_string();
        let lock = self.lock_for(url);
        {
            let _guard = lock.lock().await;
            let mut fetch = vec!["fetch", "--quiet", "--prune", "--no-tags", &mirror_arg];
            fetch.extend(REFSPECS);
            git.run(Some(dest), fetch).await?;
            if !self.has_commit(url, dest, commit).await {
                // A commit only reachable from other refs (a pull request's head).
                git.run(Some(dest), ["fetch", "--quiet", &mirror_arg, commit])
                    .await?;
            }
        }
        git.run(
            Some(dest),
            ["checkout", "--quiet", "--detach", "--force", commit],
        )
        .await?;
        if clean {
            git.run(Some(dest), ["clean", "-ffdxq"]).await?;
        }
        tracing::debug!(url, commit, dest = %dest.display(), "checked out");
        Ok(())
    }

    /// Merges `commit` into the checkout in `dest` (made by [`GitCache::checkout`]) as a new
    /// merge commit by `kiln <kiln@localhost>`, as Jenkins merges a pull request into its
    /// target; returns the merge commit. A merge that conflicts is undone and fails. The
    /// merge is dated as the newer of its two parents (by their committer dates), so merging
    /// the same commit into the same head again, anywhere, makes the same merge commit.
    pub async fn merge(
        &self,
        url: &str,
        dest: &Path,
        commit: &str,
        message: &str,
    ) -> Result<String, ScmError> {
        check_ref(url, "commit", commit)?;
        let git = self.git(url);
        if !self.has_commit(url, dest, commit).await {
            let mirror_arg = self.mirror_path(url).display().to_string();
            let lock = self.lock_for(url);
            let _guard = lock.lock().await;
            git.run(Some(dest), ["fetch", "--quiet", &mirror_arg, commit])
                .await?;
        }
        // `show` prints the committer dates of HEAD and `commit`, one a line.
        let dates = git
            .text(
                Some(dest),
                ["show", "--no-patch", "--format=%ct", "HEAD", commit],
            )
            .await?;
        let newest = dates
            .lines()
            .filter_map(|l| l.trim().parse::<i64>().ok())
            .max()
            .unwrap_or_default();
        let date = format!("@{newest} +0000");
        let mut git = self.git(url);
        // The identity too, whatever the server's environment says.
        git.env = vec![
            ("GIT_AUTHOR_NAME", "kiln".to_owned()),
            ("GIT_AUTHOR_EMAIL", "kiln@localhost".to_owned()),
            ("GIT_COMMITTER_NAME", "kiln".to_owned()),
            ("GIT_COMMITTER_EMAIL", "kiln@localhost".to_owned()),
            ("GIT_AUTHOR_DATE", date.clone()),
            ("GIT_COMMITTER_DATE", date),
        ];
        let merged = git
            .run(
                Some(dest),
                [
                    "-c",
                    "user.name=kiln",
                    "-c",
                    "user.email=kiln@localhost",
                    "-c",
                    "commit.gpgsign=false",
                    "merge",
                    "--quiet",
                    "--no-ff",
                    "--no-edit",
                    "-m",
                    message,
                    commit,
                ],
            )
            .await;
        if let Err(e) = merged {
            let _ = git.run(Some(dest), ["merge", "--abort"]).await;
            return Err(e);
        }
        git.text(Some(dest), ["rev-parse", "HEAD"]).await
    }

    /// Writes to `bundle` a git bundle of the checkout's `HEAD` (in `dest`) without what
    /// `base` has: the merge [`GitCache::merge`] made and the commits it brought in, which a
    /// repository holding `base` fetches from the bundle (`git fetch BUNDLE HEAD`) to have
    /// the merge commit without reaching this machine.
    pub async fn bundle_head(
        &self,
        url: &str,
        dest: &Path,
        base: &str,
        bundle: &Path,
    ) -> Result<(), ScmError> {
        check_ref(url, "commit", base)?;
        let not_base = format!("^{base}");
        let path = bundle.display().to_string();
        self.git(url)
            .run(
                Some(dest),
                ["bundle", "create", "--quiet", &path, "HEAD", &not_base],
            )
            .await
            .map(|_| ())
    }

    async fn has_commit(&self, url: &str, dest: &Path, commit: &str) -> bool {
        let rev = format!("{commit}^{{commit}}");
        let git_dir = git_dir_arg(&dest.join(".git"));
        self.git(url)
            .run(None, [git_dir.as_str(), "cat-file", "-e", &rev])
            .await
            .is_ok()
    }
}
