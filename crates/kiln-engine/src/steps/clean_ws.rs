//! `cleanWs(patterns: [[pattern: '**/target/**', type: 'INCLUDE'], [pattern: 'x', type:
//! 'EXCLUDE']], deleteDirs:)` (Workspace Cleanup plugin): deletes the workspace's files that
//! match an `INCLUDE` pattern (every file when there is none) and no `EXCLUDE` one, Ant
//! patterns relative to the workspace. With `deleteDirs: true`, directories that match the
//! patterns are deleted whole as well (empty ones included, as the plugin's directory scan
//! finds them), unless they hold an excluded file.

use super::StepCall;
use super::file_ops::remove_files;
use super::process::{Capture, run_process};
use crate::error::StepError;
use kiln_executor::FileSet;
use kiln_script::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub(crate) async fn clean_patterns(call: &StepCall<'_>) -> Result<(), StepError> {
    let (includes, excludes) = patterns(call)?;
    let delete_dirs = call.bool("deleteDirs", false)?;
    let workspace = call.scope.site.workspace.clone();
    let executor = call.executor()?;
    call.log("[WS-CLEANUP] Deleting project workspace...");
    // Every file is listed before any goes, to find the directories to delete.
    let all: Vec<PathBuf> = if delete_dirs {
        executor
            .list_files(&workspace, &[], &[])
            .await?
            .into_iter()
            .map(|f| f.path)
            .collect()
    } else {
        Vec::new()
    };
    let files = executor
        .list_files(&workspace, &includes, &excludes)
        .await?;
    let paths: Vec<PathBuf> = files.iter().map(|f| workspace.join(&f.path)).collect();
    remove_files(call, call.scope, &paths).await?;
    let mut dirs_deleted = 0usize;
    if delete_dirs {
        let set = FileSet::new(&includes, &excludes)?;
        let mut dirs: BTreeSet<PathBuf> = all
            .iter()
            .flat_map(|f| f.ancestors().skip(1))
            .filter(|d| !d.as_os_str().is_empty())
            .map(PathBuf::from)
            .collect();
        dirs.extend(directories(call, &workspace).await?);
        // A directory goes whole when it matches and holds no file that stays (an
        // excluded one); outer directories come first, and one inside a deleted one is
        // skipped.
        let keeps = |dir: &PathBuf| all.iter().any(|f| f.starts_with(dir) && !set.matches(f));
        // Outer directories first; a directory inside one already deleted is skipped.
        let mut deleted: Vec<PathBuf> = Vec::new();
        for dir in dirs {
            if deleted.iter().any(|d| dir.starts_with(d)) || !set.matches(&dir) || keeps(&dir) {
                continue;
            }
            executor.delete_dir(&workspace.join(&dir)).await?;
            deleted.push(dir);
        }
        dirs_deleted = deleted.len();
    }
    call.log(&format!(
        "[WS-CLEANUP] deleted {} file(s){}",
        paths.len(),
        if delete_dirs {
            format!(" and {dirs_deleted} directory(ies)")
        } else {
            String::new()
        }
    ));
    call.log("[WS-CLEANUP] done");
    Ok(())
}

/// Every directory below the workspace, relative to it, empty ones included: the file
/// listing sees only files. Listed by `find` where the steps run (the local machine or the
/// pod), without following links.
async fn directories(call: &StepCall<'_>, workspace: &Path) -> Result<Vec<PathBuf>, StepError> {
    let argv = ["find", ".", "-mindepth", "1", "-type", "d", "-print0"]
        .map(str::to_owned)
        .to_vec();
    let done = run_process(
        call.build,
        call.scope,
        (argv, None),
        workspace.to_path_buf(),
        Capture::Quietly,
    )
    .await?;
    if !done.status.success() {
        return Err(StepError::failed(format!(
            "cleanWs: listing the workspace's directories with `find` failed (exit code {})",
            done.status.code()
        )));
    }
    Ok(done
        .stdout
        .split(|b| *b == 0)
        .filter_map(|d| std::str::from_utf8(d).ok())
        .filter_map(|d| d.strip_prefix("./"))
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .collect())
}

/// The `INCLUDE` and `EXCLUDE` patterns of `patterns:`.
fn patterns(call: &StepCall<'_>) -> Result<(Vec<String>, Vec<String>), StepError> {
    let items = match call.value("patterns")? {
        Some(Value::List(items)) => items,
        _ => {
            return Err(StepError::failed(
                "cleanWs: `patterns` must be a list such as [[pattern: '**/target/**', type: 'INCLUDE']]",
            ));
        }
    };
    let (mut includes, mut excludes) = (Vec::new(), Vec::new());
    for item in &items {
        let Some(pattern) = item.get("pattern").map(|p| p.to_string()) else {
            return Err(StepError::failed(
                "cleanWs: each of `patterns` needs `pattern:`",
            ));
        };
        match item.get("type").map(|t| t.to_string()).as_deref() {
            None | Some("INCLUDE") => includes.push(pattern),
            Some("EXCLUDE") => excludes.push(pattern),
            Some(other) => {
                return Err(StepError::failed(format!(
                    "cleanWs: pattern type must be INCLUDE or EXCLUDE, not `{other}`"
                )));
            }
        }
    }
    Ok((includes, excludes))
}
