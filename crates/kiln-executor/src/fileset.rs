use crate::{ExecError, FileEntry};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use std::io;
use std::path::Path;
use tracing::{debug, warn};
use walkdir::{DirEntry, WalkDir};

/// Ant's default excludes (version-control and editor droppings), which Jenkins applies to
/// `archiveArtifacts` unless told otherwise. [`FileSet`] does not add them by itself; a caller
/// that wants them passes them as excludes.
pub const ANT_DEFAULT_EXCLUDES: &[&str] = &[
    "**/*~",
    "**/#*#",
    "**/.#*",
    "**/%*%",
    "**/._*",
    "**/CVS",
    "**/CVS/**",
    "**/.cvsignore",
    "**/SCCS",
    "**/SCCS/**",
    "**/vssver.scc",
    "**/.svn",
    "**/.svn/**",
    "**/.DS_Store",
    "**/.git",
    "**/.git/**",
    "**/.gitattributes",
    "**/.gitignore",
    "**/.gitmodules",
    "**/.hg",
    "**/.hg/**",
    "**/.hgignore",
    "**/.hgsub",
    "**/.hgsubstate",
    "**/.hgtags",
    "**/.bzr",
    "**/.bzr/**",
    "**/.bzrignore",
];

/// A set of files described by Ant-style include and exclude patterns, as Jenkins'
/// `archiveArtifacts`, `junit` and `stash` take them.
///
/// The pattern rules are Ant's: `*` and `?` match within one path segment, a `**` segment
/// matches zero or more directories, a pattern ending in `/` has `**` appended (`dist/` is
/// everything below `dist`), `\` is a separator like `/`, and nothing else is special (no
/// `[...]` or `{a,b}`). Each pattern string may hold several patterns separated by commas,
/// as in Jenkins. No includes at all means every file. Matching is case-sensitive.
#[derive(Clone, Debug)]
pub struct FileSet {
    includes: Option<GlobSet>,
    excludes: GlobSet,
}

impl FileSet {
    pub fn new(includes: &[String], excludes: &[String]) -> Result<Self, ExecError> {
        let includes = compile(includes)?;
        let excludes = compile(excludes)?.unwrap_or_else(GlobSet::empty);
        Ok(FileSet { includes, excludes })
    }

    /// Whether a path relative to the scanned directory is in the set.
    pub fn matches(&self, relative: &Path) -> bool {
        let included = self
            .includes
            .as_ref()
            .is_none_or(|includes| includes.is_match(relative));
        included && !self.excludes.is_match(relative)
    }

    /// The regular files below `dir` in the set, relative to `dir` and sorted by path.
    ///
    /// This blocks on the file system; call it from a blocking task. A missing `dir` holds no
    /// files. Symbolic links are followed as long as they stay inside `dir`; links leading out
    /// of it, dangling links and loops are skipped. Unreadable directories are skipped with a
    /// warning.
    pub fn scan(&self, dir: &Path) -> Result<Vec<FileEntry>, ExecError> {
        let root = match std::fs::canonicalize(dir) {
            Ok(root) => root,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(ExecError::File {
                    op: "list",
                    path: dir.to_path_buf(),
                    source,
                });
            }
        };
        let walker = WalkDir::new(&root)
            .follow_links(true)
            .into_iter()
            .filter_entry(|entry| stays_inside(entry, &root));
        let mut found = Vec::new();
        for entry in walker {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) if error.loop_ancestor().is_some() => {
                    debug!(%error, "skipping a symbolic link loop");
                    continue;
                }
                Err(error) => {
                    warn!(%error, "skipping an unreadable path while listing files");
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let Ok(relative) = entry.path().strip_prefix(&root) else {
                continue;
            };
            if !self.matches(relative) {
                continue;
            }
            let size = entry.metadata().map_or(0, |meta| meta.len());
            found.push(FileEntry {
                path: relative.to_path_buf(),
                size,
            });
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }
}

/// Symbolic links are only followed when their target lies inside the scanned tree.
fn stays_inside(entry: &DirEntry, root: &Path) -> bool {
    !entry.path_is_symlink()
        || std::fs::canonicalize(entry.path()).is_ok_and(|target| target.starts_with(root))
}

/// Compiles comma-separated Ant patterns; `None` when there are none at all.
fn compile(patterns: &[String]) -> Result<Option<GlobSet>, ExecError> {
    let mut builder = GlobSetBuilder::new();
    let mut any = false;
    for pattern in patterns.iter().flat_map(|p| p.split(',')).map(str::trim) {
        if pattern.is_empty() {
            continue;
        }
        let glob = GlobBuilder::new(&ant_to_glob(pattern))
            .literal_separator(true)
            .backslash_escape(false)
            .build()
            .map_err(|e| ExecError::Glob {
                pattern: pattern.to_owned(),
                message: e.kind().to_string(),
            })?;
        builder.add(glob);
        any = true;
    }
    if !any {
        return Ok(None);
    }
    builder.build().map(Some).map_err(|e| ExecError::Glob {
        pattern: patterns.join(","),
        message: e.kind().to_string(),
    })
}

/// Rewrites an Ant pattern as a globset glob with the same meaning.
fn ant_to_glob(pattern: &str) -> String {
    let mut pattern = pattern.replace('\\', "/");
    if pattern.ends_with('/') {
        pattern.push_str("**");
    }
    let segments: Vec<String> = pattern
        .split('/')
        .map(|segment| {
            if segment == "**" {
                segment.to_owned()
            } else {
                ant_segment(segment)
            }
        })
        .collect();
    segments.join("/")
}

/// One segment: `*` (runs of it act as one) and `?` are wildcards, everything else literal.
fn ant_segment(segment: &str) -> String {
    let mut glob = String::with_capacity(segment.len());
    let mut previous_star = false;
    for c in segment.chars() {
        match c {
            '*' if previous_star => {}
            '*' | '?' => glob.push(c),
            _ => glob.push_str(&globset::escape(c.encode_utf8(&mut [0; 4]))),
        }
        previous_star = c == '*';
    }
    glob
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[track_caller]
    fn check(pattern: &str, expected: &str) {
        assert_eq!(ant_to_glob(pattern), expected, "pattern {pattern}");
    }

    #[test]
    fn translates_ant_patterns() {
        check("**/*.xml", "**/*.xml");
        check("target/*.jar", "target/*.jar");
        check("dist/", "dist/**");
        check("target\\*.jar", "target/*.jar");
        check("a**b", "a*b");
        check("weird[1]{x}.txt", "weird[[]1[]][{]x[}].txt");
        check("?.xml", "?.xml");
    }

    #[test]
    fn matches_relative_paths() {
        let set = FileSet::new(&["**/TEST-*.xml".to_owned()], &["**/skip/**".to_owned()])
            .expect("valid patterns");
        assert!(set.matches(&PathBuf::from("TEST-a.xml")));
        assert!(set.matches(&PathBuf::from("m/target/TEST-a.xml")));
        assert!(!set.matches(&PathBuf::from("skip/TEST-a.xml")));
        assert!(!set.matches(&PathBuf::from("TEST-a.xml.bak")));
    }
}
