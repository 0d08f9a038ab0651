//! Where a local build's file operations may go: its workspace, the workspace's `@tmp`
//! directory and the directories configured besides. Paths are checked after `..` and
//! symbolic links are resolved, so a link in the workspace cannot lead out of it.

use crate::ExecError;
use std::io;
use std::path::{Component, Path, PathBuf};

/// The directories a build's file steps may read and write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confinement {
    roots: Vec<PathBuf>,
}

/// `<workspace>@tmp`, Jenkins' `WORKSPACE_TMP`: scripts and secret files of the build.
pub fn workspace_tmp(workspace: &Path) -> PathBuf {
    let mut name = workspace.file_name().unwrap_or_default().to_os_string();
    name.push("@tmp");
    workspace.with_file_name(name)
}

impl Confinement {
    /// The workspace and its `@tmp` directory.
    pub fn new(workspace: &Path) -> Self {
        Confinement {
            roots: vec![workspace.to_path_buf(), workspace_tmp(workspace)],
        }
    }

    /// Allows these directories too (`executors.local.allow_paths`).
    pub fn allow(mut self, paths: impl IntoIterator<Item = PathBuf>) -> Self {
        self.roots.extend(paths);
        self
    }

    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Refuses `path` (absolute) unless it lies in one of the roots.
    pub fn check(&self, op: &'static str, path: &Path) -> Result<(), ExecError> {
        let resolved = resolve(path);
        let inside = self
            .roots
            .iter()
            .any(|root| resolved.starts_with(resolve(root)));
        if inside {
            return Ok(());
        }
        Err(ExecError::Outside {
            op,
            path: path.to_path_buf(),
            allowed: self
                .roots
                .iter()
                .map(|r| format!("`{}`", r.display()))
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

/// `path` without `.` and `..`, its longest existing part with symbolic links resolved.
fn resolve(path: &Path) -> PathBuf {
    let lexical = normalize(path);
    let mut existing = lexical.as_path();
    let mut rest = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(real) => {
                return rest.iter().rev().fold(real, |acc, part| acc.join(part));
            }
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.kind() == io::ErrorKind::NotADirectory => {}
            // Unreadable: judge by the written path, which the root check then refuses
            // unless it is inside a root anyway.
            Err(_) => return lexical,
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return lexical,
        }
    }
}

/// Removes `.` and resolves `..` by the written path alone.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_in_the_workspace_or_its_tmp_or_allowed_are_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(ws.join("sub")).unwrap();
        std::fs::create_dir_all(dir.path().join("cache")).unwrap();
        let c = Confinement::new(&ws).allow([dir.path().join("cache")]);
        for ok in [
            "ws/a.txt",
            "ws/sub/../b",
            "ws@tmp/script.sh",
            "cache/x/y",
            "ws/new/deep",
        ] {
            assert!(c.check("read", &dir.path().join(ok)).is_ok(), "{ok}");
        }
    }

    #[test]
    fn paths_outside_and_links_out_are_refused_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::write(dir.path().join("kiln.yaml"), "x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("kiln.yaml"), ws.join("link")).unwrap();
        std::os::unix::fs::symlink(dir.path(), ws.join("up")).unwrap();
        let c = Confinement::new(&ws);
        for bad in [
            "kiln.yaml",
            "ws/../kiln.yaml",
            "ws/link",
            "ws/up/kiln.yaml",
            "ws2/x",
        ] {
            let path = dir.path().join(bad);
            let err = c.check("read", &path).unwrap_err().to_string();
            assert!(err.contains(&path.display().to_string()), "{bad}: {err}");
            assert!(err.contains("outside the build's workspace"), "{err}");
        }
        assert!(c.check("read", Path::new("/etc/passwd")).is_err());
    }
}
