//! Loaded libraries: their code, resources and the global steps they define.

use kiln_script::LibraryCode;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One loaded library at one version.
#[derive(Debug)]
pub struct Library {
    pub name: String,
    /// The version loaded: the branch, tag or commit asked for, or `local` for a directory.
    pub version: String,
    pub code: LibraryCode,
    /// `resources/` files by path relative to `resources/`.
    pub resources: BTreeMap<String, String>,
}

impl Library {
    /// `name@version`.
    pub fn label(&self) -> &str {
        self.code.label()
    }
}

/// The libraries one build loaded, in the order the pipeline named them. A global step
/// defined by several libraries is taken from the first.
#[derive(Clone, Debug, Default)]
pub struct Libraries {
    libs: Vec<Arc<Library>>,
}

impl Libraries {
    pub fn new(libs: Vec<Arc<Library>>) -> Self {
        Libraries { libs }
    }

    pub fn is_empty(&self) -> bool {
        self.libs.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Library>> {
        self.libs.iter()
    }

    /// The library defining global step `name`.
    pub fn step(&self, name: &str) -> Option<&Arc<Library>> {
        self.libs.iter().find(|l| l.code.has_step(name))
    }

    /// A `resources/` file (`libraryResource('path')`), from the first library having it.
    pub fn resource(&self, path: &str) -> Option<&str> {
        let path = path.trim_start_matches('/');
        self.libs
            .iter()
            .find_map(|l| l.resources.get(path).map(String::as_str))
    }

    /// Every global step name, for messages.
    pub fn step_names(&self) -> Vec<&str> {
        self.libs.iter().flat_map(|l| l.code.step_names()).collect()
    }
}
