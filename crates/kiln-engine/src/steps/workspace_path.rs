//! Paths a step takes from the pipeline, confined to the workspace: relative, and never
//! climbing out of it with `..`.

use super::StepCall;
use crate::error::StepError;
use std::path::{Component, Path, PathBuf};

/// `rel` (relative to the step's current directory) as a path inside the workspace;
/// `what` names the step and argument in the error (`publishHTML reportDir`).
pub(crate) fn confined(call: &StepCall<'_>, rel: &str, what: &str) -> Result<PathBuf, StepError> {
    let joined = call.scope.cwd.join(rel);
    // The workspace may be written with `..` too (a `data_dir: ../data`): compare both
    // normalized.
    let workspace = normalize(&call.scope.site.workspace);
    match (normalize(&joined), workspace) {
        (Some(path), Some(workspace)) if path.starts_with(&workspace) => Ok(path),
        _ => Err(StepError::failed(format!(
            "{what} `{rel}` is outside the workspace; give a path inside it"
        ))),
    }
}

/// `path` without `.` and `..` parts (lexically, as the workspace's files are not read);
/// `None` when `..` climbs above the root.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            other => out.push(other),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::normalize;
    use std::path::{Path, PathBuf};

    #[test]
    fn normalizes_dots_lexically() {
        let n = |p: &str| normalize(Path::new(p));
        assert_eq!(n("/w/a/./b/../c"), Some(PathBuf::from("/w/a/c")));
        assert_eq!(n("/w/../../x"), None);
        assert_eq!(n("/w/a/../../etc"), Some(PathBuf::from("/etc")));
    }
}
