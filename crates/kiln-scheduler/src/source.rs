//! Reading a job's pipeline from its source: a branch resolved to a commit and the
//! Jenkinsfile at that commit (repositories, through the mirror cache), or the Jenkinsfile
//! of a local directory and its git `HEAD` when it is a repository. The Jenkinsfile is
//! parsed and validated once, when read: the trigger checks parameters against it and the
//! build prepares the same document.

use crate::error::SourceError;
use crate::git::Git;
use kiln_config::{JobConfig, Source};
use kiln_engine::Loaded;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A job's pipeline, read and validated, and where the build's files come from.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    /// The Jenkinsfile (named as diagnostics show it), its document and diagnostics; shared
    /// by every build read from the same text (see [`Parsed`]).
    pub loaded: Arc<Loaded>,
    pub commit: Option<String>,
    pub branch: Option<String>,
    pub files: Files,
    /// A replay's Jenkinsfile, which `loaded` holds instead of the source's.
    pub replay: Option<kiln_store::ReplayRecord>,
}

impl Resolved {
    /// The source with `replay`'s Jenkinsfile in place of its own.
    pub(crate) fn replayed(mut self, replay: kiln_store::ReplayRecord) -> Resolved {
        let name = self.loaded.source.name().to_owned();
        self.loaded = Arc::new(Loaded::parse(name, replay.jenkinsfile.clone()));
        self.replay = Some(replay);
        self
    }
}

/// Where the build's workspace gets its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Files {
    /// A repository job: the workspace is checked out at the commit from the mirror cache;
    /// `checkout scm` then finds it at that commit. `url` is the job's repository URL.
    Repo { url: String },
    /// A directory that is the top of a git work tree: `checkout scm` clones it at the
    /// commit into the job's workspace.
    DirRepo { path: PathBuf },
    /// A plain directory: its files are copied into the job's workspace for each build.
    Copy { path: PathBuf },
}

/// Reads `job`'s pipeline: at `commit` when given, else at the head of `branch` (or the
/// job's branch).
pub(crate) async fn resolve(
    git: &Git,
    job: &JobConfig,
    branch: Option<&str>,
    commit: Option<&str>,
) -> Result<Resolved, SourceError> {
    match &job.source {
        Source::Repo(url) => {
            let branch = branch.unwrap_or(&job.branch).to_owned();
            let cache = git.cache();
            cache
                .fetch(url)
                .await
                .map_err(|e| SourceError::Git(Box::new(e)))?;
            let commit = match commit {
                Some(c) => c.to_owned(),
                None => cache
                    .resolve(url, &branch)
                    .await
                    .map_err(|e| SourceError::Git(Box::new(e)))?,
            };
            let bytes = cache
                .read_file(url, &commit, &job.jenkinsfile)
                .await
                .map_err(|source| SourceError::ReadAtCommit {
                    path: job.jenkinsfile.clone(),
                    commit: commit.clone(),
                    source: Box::new(source),
                })?;
            let text = text_of(bytes, &job.jenkinsfile)?;
            Ok(Resolved {
                loaded: git
                    .parsed()
                    .parse(job.name.as_str(), &job.jenkinsfile, text),
                commit: Some(commit),
                branch: Some(branch),
                files: Files::Repo { url: url.clone() },
                replay: None,
            })
        }
        Source::Dir(dir) => {
            resolve_dir(git.parsed(), job.name.as_str(), dir, &job.jenkinsfile).await
        }
    }
}

async fn resolve_dir(
    parsed: &Parsed,
    job: &str,
    dir: &Path,
    jenkinsfile: &str,
) -> Result<Resolved, SourceError> {
    let path = dir.join(jenkinsfile);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|source| SourceError::ReadFile {
            path: path.clone(),
            source,
        })?;
    let text = text_of(bytes, &path.display().to_string())?;
    let head = dir_head(dir).await;
    let (commit, branch, files) = match head {
        Some((commit, branch)) => (
            Some(commit),
            branch,
            Files::DirRepo {
                path: dir.to_path_buf(),
            },
        ),
        None => (
            None,
            None,
            Files::Copy {
                path: dir.to_path_buf(),
            },
        ),
    };
    Ok(Resolved {
        loaded: parsed.parse(job, &path.display().to_string(), text),
        commit,
        branch,
        files,
        replay: None,
    })
}

/// The commit and branch checked out in `dir`, when `dir` is the top of a git work tree
/// with at least one commit (a subdirectory of a repository is used as a plain directory).
pub(crate) async fn dir_head(dir: &Path) -> Option<(String, Option<String>)> {
    if !tokio::fs::try_exists(dir.join(".git"))
        .await
        .unwrap_or(false)
    {
        return None;
    }
    let out = tokio::process::Command::new("git")
        .args(["rev-parse", "HEAD", "--abbrev-ref", "HEAD"])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .await
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let commit = lines.next()?.trim().to_owned();
    // Without a commit yet, git echoes `HEAD` back.
    if commit.len() < 40 || !commit.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let branch = lines
        .next()
        .map(str::trim)
        .filter(|b| !b.is_empty() && *b != "HEAD")
        .map(str::to_owned);
    Some((commit, branch))
}

fn text_of(bytes: Vec<u8>, name: &str) -> Result<String, SourceError> {
    String::from_utf8(bytes).map_err(|_| SourceError::NotUtf8 {
        name: name.to_owned(),
    })
}

/// The Jenkinsfile each job read last, parsed: a trigger that reads the same text again (most
/// do) shares its document instead of parsing and keeping one more copy, so a thousand
/// queued builds of a job hold one document, not a thousand.
#[derive(Default)]
pub(crate) struct Parsed {
    last: Mutex<HashMap<String, Arc<Loaded>>>,
}

/// Jobs whose last document is kept; past this (multibranch children come and go) the
/// oldest entries are not worth tracking: the map starts again.
const PARSED_JOBS: usize = 4096;

impl Parsed {
    /// `text` (shown in diagnostics as `name`) parsed and validated, or the document `job`
    /// read last when it came from the same name and text.
    pub(crate) fn parse(&self, job: &str, name: &str, text: String) -> Arc<Loaded> {
        let same = |l: &Loaded| l.source.name() == name && l.source.text() == text;
        if let Some(loaded) = self.locked().get(job).filter(|l| same(l)) {
            return loaded.clone();
        }
        let loaded = Arc::new(Loaded::parse(name, text));
        let mut last = self.locked();
        if last.len() >= PARSED_JOBS && !last.contains_key(job) {
            last.clear();
        }
        last.insert(job.to_owned(), loaded.clone());
        loaded
    }

    /// Every update is one insert or clear, so a panicked holder leaves it consistent.
    fn locked(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Loaded>>> {
        self.last.lock().unwrap_or_else(|p| p.into_inner())
    }
}
