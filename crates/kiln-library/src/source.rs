//! Where libraries come from: a name -> a directory or a git repository.

use crate::LibraryError;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where one library's files are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LibrarySource {
    /// A plain directory, used as it is (any version asked for is ignored).
    Dir(PathBuf),
    /// A git repository (URL or local path); the version asked for is a branch, tag or commit.
    Git {
        url: String,
        default_version: Option<String>,
    },
}

/// The libraries pipelines may load, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LibrarySources {
    sources: BTreeMap<String, LibrarySource>,
}

impl LibrarySources {
    pub fn new() -> Self {
        LibrarySources::default()
    }

    /// The server's `libraries:` section.
    pub fn from_config(config: &[kiln_config::LibraryConfig]) -> Self {
        let mut out = LibrarySources::new();
        for l in config {
            let source = match &l.source {
                kiln_config::Source::Dir(d) => LibrarySource::Dir(d.clone()),
                kiln_config::Source::Repo(url) => LibrarySource::Git {
                    url: url.clone(),
                    default_version: l.default_version.clone(),
                },
            };
            out.insert(l.name.clone(), source);
        }
        out
    }

    /// `NAME=PATH_OR_URL` of `kiln run --library`: an existing directory is used as it is
    /// (unless it is a git repository and the pipeline asks for a version), anything else
    /// is a git URL.
    pub fn parse_arg(arg: &str) -> Result<(String, LibrarySource), LibraryError> {
        let bad = || LibraryError::BadArgument {
            arg: arg.to_string(),
        };
        let (name, target) = arg.split_once('=').ok_or_else(bad)?;
        if name.is_empty() || target.is_empty() {
            return Err(bad());
        }
        let path = PathBuf::from(target);
        let source = if path.is_dir() {
            LibrarySource::Dir(path)
        } else {
            LibrarySource::Git {
                url: target.to_string(),
                default_version: None,
            }
        };
        Ok((name.to_string(), source))
    }

    pub fn insert(&mut self, name: impl Into<String>, source: LibrarySource) {
        self.sources.insert(name.into(), source);
    }

    pub fn get(&self, name: &str) -> Option<&LibrarySource> {
        self.sources.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.sources.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }
}
