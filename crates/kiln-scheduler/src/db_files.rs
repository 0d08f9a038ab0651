//! Builds' files in a shared store: with several controllers on one database and no
//! `store.postgres.files_dir`, each controller's build directories are its own, so a
//! build's stashes, artifacts and HTML reports are also kept in the database (each set up
//! to [`STASH_MAX`]): a controller taking the build over finds its stashes, and every
//! controller serves its artifacts and reports. A stash is kept as it is made; artifacts
//! and reports once the build ends, by the controller that ends it. The build's owner writes
//! them under its claim, so an owner that lost the build cannot replace them. With
//! `files_dir` (a volume every controller mounts) or a store of one controller (sled),
//! nothing is copied.

use crate::fencing::BuildFence;
use crate::shared::Shared;
use kiln_store::{BuildFile, Coordination, Store};
use kiln_types::BuildRef;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// The largest set of files (a stash, a build's artifacts, one HTML report) kept in the
/// database: larger ones need `store.postgres.files_dir`.
pub(crate) const STASH_MAX: u64 = 16 * 1024 * 1024;

/// The store, when builds' files are to be kept in it.
fn keeping(shared: &Shared) -> Option<Arc<dyn Store>> {
    shared.store.coordination()?;
    if shared.config().store.files_dir().is_some() {
        return None;
    }
    Some(shared.store.clone())
}

fn coordination(store: &dyn Store) -> Result<&dyn Coordination, String> {
    store
        .coordination()
        .ok_or_else(|| "the store is not shared".to_owned())
}

/// Keeps a copy of stash `name` (the files under `dir`) in the shared store.
pub(crate) async fn stash_saved(
    shared: &Shared,
    build: &BuildRef,
    claim: Option<&BuildFence>,
    name: &str,
    dir: &Path,
) -> Result<(), String> {
    let Some(store) = keeping(shared) else {
        return Ok(());
    };
    let kept = Kept {
        store,
        claim: claim.cloned(),
        build: build.clone(),
    };
    let (what, set, dir) = (
        format!("stash '{name}'"),
        format!("stash/{name}"),
        dir.to_owned(),
    );
    run(move || {
        kept.keep(
            &what,
            &set,
            &dir,
            "another controller taking this build over will not find it",
        )
    })
    .await
}

/// Keeps the artifacts and HTML reports of a build that ended (in `build_dir`) in the shared
/// store, so every controller serves them; what could not be kept, each a sentence for the
/// build's log.
pub(crate) async fn build_files_saved(
    shared: &Shared,
    build: &BuildRef,
    claim: Option<&BuildFence>,
    build_dir: &Path,
) -> Vec<String> {
    let Some(store) = keeping(shared) else {
        return Vec::new();
    };
    let kept = Kept {
        store,
        claim: claim.cloned(),
        build: build.clone(),
    };
    let build_dir = build_dir.to_owned();
    run(move || {
        let mut sets = Vec::new();
        let artifacts = build_dir.join("artifacts");
        if artifacts.is_dir() {
            sets.push(("artifacts".to_owned(), "artifacts".to_owned(), artifacts));
        }
        if let Ok(reports) = std::fs::read_dir(build_dir.join("html")) {
            let mut dirs: Vec<PathBuf> = reports
                .filter_map(|e| Some(e.ok()?.path()))
                .filter(|p| p.is_dir())
                .collect();
            dirs.sort();
            for dir in dirs {
                let Some(name) = dir.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                sets.push((
                    format!("HTML report '{name}'"),
                    format!("html/{name}"),
                    dir.clone(),
                ));
            }
        }
        let failed: Vec<String> = sets
            .iter()
            .filter_map(|(what, set, dir)| {
                kept.keep(
                    what,
                    set,
                    dir,
                    "only the controller that ran the build serves it",
                )
                .err()
            })
            .collect();
        Ok(failed)
    })
    .await
    .unwrap_or_else(|e| vec![e])
}

/// A build's files on their way to the shared store.
struct Kept {
    store: Arc<dyn Store>,
    claim: Option<BuildFence>,
    build: BuildRef,
}

impl Kept {
    /// Keeps the files under `dir` as the set `set` (`what` in messages, `otherwise` what
    /// not keeping it means), under the build's claim.
    fn keep(&self, what: &str, set: &str, dir: &Path, otherwise: &str) -> Result<(), String> {
        let files = read_tree(dir).map_err(|e| {
            format!("{what} could not be read back to keep it in the database: {e}")
        })?;
        let size: u64 = files.iter().map(|f| f.bytes.len() as u64).sum();
        if size > STASH_MAX {
            return Err(format!(
                "{what} ({size} bytes) is larger than the {} MiB kiln keeps in PostgreSQL: \
                 {otherwise} (store.postgres.files_dir keeps files of any size on a shared volume)",
                STASH_MAX / (1024 * 1024)
            ));
        }
        let shared = coordination(self.store.as_ref())?;
        let written = match &self.claim {
            Some(claim) => claim.put_files(shared, set, &files),
            None => shared.put_files(&self.build, set, &files),
        };
        written.map_err(|e| format!("{what} could not be kept in the database ({e}): {otherwise}"))
    }
}

/// Puts the shared store's copy of stash `name` into `dir`; whether there was one.
pub(crate) async fn stash_wanted(
    shared: &Shared,
    build: &BuildRef,
    name: &str,
    dir: &Path,
) -> Result<bool, String> {
    let Some(store) = keeping(shared) else {
        return Ok(false);
    };
    let (build, name, dir) = (build.clone(), name.to_owned(), dir.to_owned());
    run(move || {
        let kept = coordination(store.as_ref())?
            .get_files(&build, &format!("stash/{name}"))
            .map_err(|e| format!("stash '{name}' could not be read from the database: {e}"))?;
        let Some(files) = kept else {
            return Ok(false);
        };
        write_tree(&dir, &files)
            .map_err(|e| format!("stash '{name}' could not be written to {}: {e}", dir.display()))?;
        tracing::info!(build = %build, stash = %name, files = files.len(), "stash read from the database");
        Ok(true)
    })
    .await
}

async fn run<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(e.to_string()))
}

/// Every file under `root`, by its path relative to it (`/`-separated).
fn read_tree(root: &Path) -> std::io::Result<Vec<BuildFile>> {
    let mut files = Vec::new();
    let mut dirs = vec![PathBuf::new()];
    while let Some(rel) = dirs.pop() {
        for entry in std::fs::read_dir(root.join(&rel))? {
            let entry = entry?;
            let path = rel.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                dirs.push(path);
            } else {
                files.push(BuildFile {
                    path: path.to_string_lossy().replace('\\', "/"),
                    bytes: std::fs::read(root.join(&path))?,
                });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// Writes `files` under `root`, which it creates; a path leaving `root` is refused.
fn write_tree(root: &Path, files: &[BuildFile]) -> std::io::Result<()> {
    let partial = root.with_extension("partial");
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial)?;
    for f in files {
        let rel = Path::new(&f.path);
        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(std::io::Error::other(format!(
                "a stored path leaves the stash: {}",
                f.path
            )));
        }
        let path = partial.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, &f.bytes)?;
    }
    // Whole or not at all: a stash half written is never found.
    std::fs::rename(&partial, root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_read_is_written_back_the_same_and_paths_cannot_leave_it() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        std::fs::create_dir_all(from.join("a/b")).unwrap();
        std::fs::write(from.join("a/b/c.txt"), "deep").unwrap();
        std::fs::write(from.join("top"), [0u8, 1, 2]).unwrap();
        let files = read_tree(&from).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a/b/c.txt", "top"]);
        let to = dir.path().join("stashes/x");
        std::fs::create_dir_all(dir.path().join("stashes")).unwrap();
        write_tree(&to, &files).unwrap();
        assert_eq!(read_tree(&to).unwrap(), files);
        let evil = [BuildFile {
            path: "../escape".into(),
            bytes: vec![],
        }];
        let other = dir.path().join("stashes/y");
        assert!(write_tree(&other, &evil).is_err());
        assert!(!dir.path().join("stashes/escape").exists());
        assert!(!other.exists());
    }
}
