//! The children of every multibranch job, kept in `DATA_DIR/multibranch/PARENT.json` (one
//! file per parent, replaced whole) so a restart keeps the jobs of change requests, which a
//! scan of the repository cannot find again.

use super::child::Child;
use kiln_types::JobName;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Writing a parent's children failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write `{}`", path.display())]
pub struct RegistryError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

pub(crate) struct Registry {
    dir: PathBuf,
    /// Parent name -> its children by name.
    children: Mutex<BTreeMap<String, BTreeMap<JobName, Child>>>,
    /// Parents being scanned now (scans of one parent never overlap).
    scanning: Mutex<HashSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Registry {
    /// Reads the children kept in `dir`; a file that cannot be read is said in the log and
    /// skipped (its jobs come back with the next scan or webhook).
    pub(crate) fn load(dir: PathBuf) -> Registry {
        let mut children = BTreeMap::new();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                match read(&path) {
                    Ok(list) => {
                        for child in list {
                            children
                                .entry(child.parent().to_owned())
                                .or_insert_with(BTreeMap::new)
                                .insert(child.name.clone(), child);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "cannot read a multibranch job's children");
                    }
                }
            }
        }
        Registry {
            dir,
            children: Mutex::new(children),
            scanning: Mutex::new(HashSet::new()),
        }
    }

    pub(crate) fn get(&self, name: &JobName) -> Option<Child> {
        let parent = name.parent()?;
        lock(&self.children).get(parent)?.get(name).cloned()
    }

    /// Every child of `parent`.
    pub(crate) fn of(&self, parent: &str) -> Vec<Child> {
        lock(&self.children)
            .get(parent)
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default()
    }

    /// When the longest-orphaned child of `parent` was orphaned (ms since the epoch).
    pub(crate) fn oldest_orphan(&self, parent: &str) -> Option<u64> {
        lock(&self.children)
            .get(parent)?
            .values()
            .filter_map(|c| c.orphaned_at_ms)
            .min()
    }

    /// Every child of every parent.
    pub(crate) fn all(&self) -> Vec<Child> {
        lock(&self.children)
            .values()
            .flat_map(|c| c.values().cloned())
            .collect()
    }

    /// Adds or replaces a child; returns whether anything changed.
    pub(crate) fn put(&self, child: Child) -> Result<bool, RegistryError> {
        let mut all = lock(&self.children);
        let parent = child.parent().to_owned();
        let children = all.entry(parent.clone()).or_default();
        if children.get(&child.name) == Some(&child) {
            return Ok(false);
        }
        children.insert(child.name.clone(), child);
        self.write(&parent, children)?;
        Ok(true)
    }

    /// Removes a child that is still orphaned (one whose branch came back meanwhile stays).
    pub(crate) fn remove_orphan(&self, name: &JobName) -> Result<Option<Child>, RegistryError> {
        let Some(parent) = name.parent() else {
            return Ok(None);
        };
        let mut all = lock(&self.children);
        let Some(children) = all.get_mut(parent) else {
            return Ok(None);
        };
        if children
            .get(name)
            .is_none_or(|c| c.orphaned_at_ms.is_none())
        {
            return Ok(None);
        }
        let removed = children.remove(name);
        if removed.is_some() {
            self.write(parent, children)?;
        }
        Ok(removed)
    }

    /// Marks `parent` as being scanned; false when a scan of it runs already.
    pub(crate) fn start_scan(&self, parent: &str) -> bool {
        lock(&self.scanning).insert(parent.to_owned())
    }

    pub(crate) fn end_scan(&self, parent: &str) {
        lock(&self.scanning).remove(parent);
    }

    fn write(
        &self,
        parent: &str,
        children: &BTreeMap<JobName, Child>,
    ) -> Result<(), RegistryError> {
        let path = self.dir.join(format!("{parent}.json"));
        let err = |source| RegistryError {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(err)?;
        let list: Vec<&Child> = children.values().collect();
        let text = serde_json::to_vec_pretty(&list).map_err(|e| err(e.into()))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)
    }
}

fn read(path: &Path) -> Result<Vec<Child>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}
