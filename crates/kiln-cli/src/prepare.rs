//! What `kiln lint`, `plan` and `run` do after reading a Jenkinsfile: [`kiln_engine::prepare`],
//! the preparation the server does too, with the shared libraries `--library NAME=PATH_OR_URL`
//! names (git libraries cached under the user's cache directory).

use crate::load::load;
use anyhow::Context as _;
use kiln_engine::{LibraryAccess, Loaded, PrepareError, Prepared};
use kiln_library::LibrarySources;
use std::path::{Path, PathBuf};

/// A Jenkinsfile after preparation: ready, or invalid with every diagnostic.
pub enum Checked {
    Ready(Box<Prepared>),
    Invalid(Box<Loaded>),
}

impl Checked {
    /// The file and diagnostics to show: the invalid pipeline's, or the ready one's
    /// warnings.
    pub fn loaded_mut(&mut self) -> &mut Loaded {
        match self {
            Checked::Ready(p) => &mut p.loaded,
            Checked::Invalid(l) => l,
        }
    }
}

/// Reads `path` and prepares it to plan or run. Without `require_libraries` (lint, plan),
/// libraries are only loaded when `--library` names some. An invalid pipeline is not an
/// error here: the caller shows its diagnostics.
pub fn prepare(
    path: &Path,
    library_args: &[String],
    require_libraries: bool,
) -> anyhow::Result<Checked> {
    let loaded = load(path)?;
    let mut sources = LibrarySources::new();
    for arg in library_args {
        let (name, source) = LibrarySources::parse_arg(arg)?;
        sources.insert(name, source);
    }
    let cache = std::sync::Arc::new(kiln_scm::GitCache::new(cache_dir()));
    let access = (require_libraries || !library_args.is_empty()).then_some(LibraryAccess {
        sources: &sources,
        cache: &cache,
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match runtime.block_on(kiln_engine::prepare(loaded, access)) {
        Ok(prepared) => Ok(Checked::Ready(Box::new(prepared))),
        Err(PrepareError::Invalid(loaded)) => Ok(Checked::Invalid(loaded)),
        Err(other) => Err(other.into()),
    }
}

/// Where git libraries are cached: `$XDG_CACHE_HOME/kiln/git` or `~/.cache/kiln/git`.
pub(crate) fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("kiln").join("git")
}
