//! Git repositories made by a test: [`git`] runs the real git command line with a fixed
//! identity and no user or system configuration; [`GitRepo`] writes files and commits them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The author and committer of every commit a test makes.
const NAME: &str = "kiln test";
const EMAIL: &str = "test@kiln.invalid";

/// Runs `git ARGS` in `dir` and returns its trimmed stdout.
///
/// The identity is fixed, signing is off and neither the system's nor the user's git
/// configuration is read, so a test behaves the same on every machine. Panics, naming the
/// command and git's stderr, when git is missing or fails: a test needing git must fail
/// loudly without it, never pass.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", NAME)
        .env("GIT_AUTHOR_EMAIL", EMAIL)
        .env("GIT_COMMITTER_NAME", NAME)
        .env("GIT_COMMITTER_EMAIL", EMAIL)
        .output()
        .unwrap_or_else(|e| panic!("cannot run git {args:?} (is git installed?): {e}"));
    assert!(
        out.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A git repository in a directory the test owns, on branch `main`.
///
/// ```no_run
/// # let dir = std::path::Path::new("/tmp/repo");
/// let repo = kiln_testkit::GitRepo::init(dir);
/// let first = repo.commit(&[("Jenkinsfile", "pipeline { }")], "first");
/// repo.tag("v1");
/// ```
#[derive(Clone, Debug)]
pub struct GitRepo {
    dir: PathBuf,
}

impl GitRepo {
    /// Creates `dir` (and its parents) and a repository in it whose branch is `main`.
    pub fn init(dir: impl Into<PathBuf>) -> GitRepo {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        git(&dir, &["init", "--quiet", "--initial-branch=main"]);
        GitRepo { dir }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The repository's URL for a clone (`file://...`).
    pub fn url(&self) -> String {
        format!("file://{}", self.dir.display())
    }

    /// Runs `git ARGS` in the repository (see [`git`]).
    pub fn git(&self, args: &[&str]) -> String {
        git(&self.dir, args)
    }

    /// Writes `files` (path relative to the repository, text), creating directories, and
    /// commits everything with `message`; returns the new commit's id.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        for (path, text) in files {
            let path = self.dir.join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
            }
            std::fs::write(&path, text)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        }
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
        self.head()
    }

    /// The commit `HEAD` points at.
    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// Creates a lightweight tag at `HEAD`.
    pub fn tag(&self, name: &str) {
        self.git(&["tag", name]);
    }

    /// Creates branch `name` at `HEAD` and switches to it.
    pub fn branch(&self, name: &str) {
        self.git(&["checkout", "--quiet", "-b", name]);
    }

    /// Switches to an existing branch, tag or commit.
    pub fn checkout(&self, name: &str) {
        self.git(&["checkout", "--quiet", name]);
    }
}
