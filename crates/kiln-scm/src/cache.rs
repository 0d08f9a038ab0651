use crate::ScmError;
use crate::git::Git;
use crate::url::{fnv1a64, normalize_url};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long one git command may run before it is killed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A directory of bare mirrors, `DIR/NAME-HASH.git`, one per repository (spellings of the
/// same URL share one, see [`normalize_url`]). Share it behind an `Arc`; all methods take
/// `&self`. Operations on one repository are serialised by a per-repository async lock.
pub struct GitCache {
    dir: PathBuf,
    timeout: Duration,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for GitCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitCache").field("dir", &self.dir).finish()
    }
}

impl GitCache {
    /// A cache under `dir` (created on first use), e.g. `DATA_DIR/git`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        GitCache {
            dir: dir.into(),
            timeout: DEFAULT_TIMEOUT,
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// Sets how long one git command may run.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the mirror of `url` lives: a readable name plus a hash of the normalised URL.
    pub fn mirror_path(&self, url: &str) -> PathBuf {
        let key = normalize_url(url);
        let name: String = key
            .rsplit('/')
            .next()
            .unwrap_or("repo")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        self.dir.join(format!("{name}-{:016x}.git", fnv1a64(&key)))
    }

    pub(crate) fn git<'a>(&self, url: &'a str) -> Git<'a> {
        Git {
            url,
            timeout: self.timeout,
            env: Vec::new(),
        }
    }

    /// The lock serialising work on one repository.
    pub(crate) fn lock_for(&self, url: &str) -> Arc<tokio::sync::Mutex<()>> {
        let key = normalize_url(url);
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(key).or_default().clone()
    }

    /// Brings the mirror of `url` up to date: `git clone --mirror` the first time, then
    /// `git fetch --prune`. Concurrent fetches of one repository run one after the other.
    pub async fn fetch(&self, url: &str) -> Result<(), ScmError> {
        let lock = self.lock_for(url);
        let _guard = lock.lock().await;
        self.fetch_locked(url).await
    }

    async fn fetch_locked(&self, url: &str) -> Result<(), ScmError> {
        let mirror = self.mirror_path(url);
        let source = clone_source(url);
        if mirror.join("HEAD").is_file() {
            let git_dir = git_dir_arg(&mirror);
            let git = self.git(url);
            git.run(
                None,
                [git_dir.as_str(), "remote", "set-url", "origin", &source],
            )
            .await?;
            git.run(
                None,
                [git_dir.as_str(), "fetch", "--prune", "--quiet", "origin"],
            )
            .await?;
            tracing::debug!(url, "mirror fetched");
            return Ok(());
        }
        self.clone_mirror(url, &source, &mirror).await
    }

    /// Clones into a temporary directory and renames it into place, so a failed or
    /// interrupted clone never leaves a half mirror behind.
    async fn clone_mirror(&self, url: &str, source: &str, mirror: &Path) -> Result<(), ScmError> {
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| io_error(url, &self.dir, e))?;
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = mirror.with_extension(format!("tmp-{}-{n}", std::process::id()));
        let tmp_arg = tmp.display().to_string();
        let result = self
            .git(url)
            .run(
                None,
                ["clone", "--mirror", "--quiet", "--", source, &tmp_arg],
            )
            .await;
        if let Err(e) = result {
            let _ = tokio::fs::remove_dir_all(&tmp).await;
            return Err(e);
        }
        tokio::fs::rename(&tmp, mirror)
            .await
            .map_err(|e| io_error(url, mirror, e))?;
        tracing::info!(url, mirror = %mirror.display(), "repository mirrored");
        Ok(())
    }

    /// Clones the mirror if there is none yet (without fetching an existing one).
    async fn ensure(&self, url: &str) -> Result<PathBuf, ScmError> {
        let mirror = self.mirror_path(url);
        if !mirror.join("HEAD").is_file() {
            self.fetch(url).await?;
        }
        Ok(mirror)
    }

    /// The commit (full hex id) a branch, tag or commit id names in the mirror. The mirror
    /// is cloned if missing but not fetched: call [`GitCache::fetch`] first (or use
    /// [`GitCache::update`]) for the newest commit.
    pub async fn resolve(&self, url: &str, branch: &str) -> Result<String, ScmError> {
        check_ref(url, "branch", branch)?;
        let mirror = self.ensure(url).await?;
        let git_dir = git_dir_arg(&mirror);
        let mut candidates = vec![
            format!("refs/heads/{branch}^{{commit}}"),
            format!("refs/tags/{branch}^{{commit}}"),
        ];
        if branch.len() >= 7 && branch.chars().all(|c| c.is_ascii_hexdigit()) {
            candidates.push(format!("{branch}^{{commit}}"));
        }
        for rev in candidates {
            let args = [
                git_dir.as_str(),
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &rev,
            ];
            if let Ok(commit) = self.git(url).text(None, args).await
                && !commit.is_empty()
            {
                return Ok(commit);
            }
        }
        Err(ScmError::UnknownRef {
            url: url.to_owned(),
            name: branch.to_owned(),
        })
    }

    /// Fetches, then resolves `branch`: the newest commit of a branch.
    pub async fn update(&self, url: &str, branch: &str) -> Result<String, ScmError> {
        self.fetch(url).await?;
        self.resolve(url, branch).await
    }

    /// Every branch of the mirror with its commit, sorted by name (for branch patterns
    /// and polling). Clones a missing mirror; does not fetch.
    pub async fn branches(&self, url: &str) -> Result<Vec<(String, String)>, ScmError> {
        self.refs(url, "refs/heads").await
    }

    /// Every tag with the commit it points at (annotated tags peeled), sorted by name.
    pub async fn tags(&self, url: &str) -> Result<Vec<(String, String)>, ScmError> {
        self.refs(url, "refs/tags").await
    }

    async fn refs(&self, url: &str, prefix: &str) -> Result<Vec<(String, String)>, ScmError> {
        let mirror = self.ensure(url).await?;
        let format = "--format=%(refname:strip=2) %(objectname) %(*objectname)";
        let out = self
            .git(url)
            .text(
                None,
                [
                    git_dir_arg(&mirror).as_str(),
                    "for-each-ref",
                    format,
                    prefix,
                ],
            )
            .await?;
        let mut refs: Vec<(String, String)> = out
            .lines()
            .filter_map(|line| {
                let mut parts = line.split(' ');
                let name = parts.next()?.to_owned();
                let object = parts.next()?;
                let peeled = parts.next().filter(|p| !p.is_empty()).unwrap_or(object);
                Some((name, peeled.to_owned()))
            })
            .collect();
        refs.sort();
        Ok(refs)
    }

    /// The content of `path` at `commit` (`git cat-file blob COMMIT:PATH`).
    pub async fn read_file(
        &self,
        url: &str,
        commit: &str,
        path: &str,
    ) -> Result<Vec<u8>, ScmError> {
        check_ref(url, "commit", commit)?;
        let mirror = self.ensure(url).await?;
        let git_dir = git_dir_arg(&mirror);
        let path = path.trim_start_matches("./");
        let object = format!("{commit}:{path}");
        match self
            .git(url)
            .run(None, [git_dir.as_str(), "cat-file", "blob", &object])
            .await
        {
            Ok(bytes) => Ok(bytes),
            Err(err) => {
                let commit_ref = format!("{commit}^{{commit}}");
                let commit_exists = self
                    .git(url)
                    .run(None, [git_dir.as_str(), "cat-file", "-e", &commit_ref])
                    .await
                    .is_ok();
                if commit_exists {
                    Err(ScmError::NoSuchFile {
                        url: url.to_owned(),
                        commit: commit.to_owned(),
                        path: path.to_owned(),
                    })
                } else {
                    Err(err)
                }
            }
        }
    }
}

/// `--git-dir=PATH` as one argument.
pub(crate) fn git_dir_arg(dir: &Path) -> String {
    format!("--git-dir={}", dir.display())
}

/// What git clones from: local paths become absolute, so a mirror never depends on the
/// working directory of the process that first cloned it.
fn clone_source(url: &str) -> String {
    let looks_local = !url.contains("://") && !url.contains(':');
    if looks_local {
        std::path::absolute(url).map_or_else(|_| url.to_owned(), |p| p.display().to_string())
    } else {
        url.to_owned()
    }
}

/// Refuses names git would take as options or that are not names at all.
pub(crate) fn check_ref(url: &str, what: &'static str, value: &str) -> Result<(), ScmError> {
    let bad = value.is_empty()
        || value.starts_with('-')
        || value.contains(['\0', '\n', ' ', ':', '~', '^', '\\'])
        || value.contains("..");
    if bad {
        Err(ScmError::InvalidArgument {
            url: url.to_owned(),
            what,
            value: value.to_owned(),
        })
    } else {
        Ok(())
    }
}

pub(crate) fn io_error(url: &str, path: &Path, source: std::io::Error) -> ScmError {
    ScmError::Io {
        url: url.to_owned(),
        path: path.to_owned(),
        source,
    }
}
