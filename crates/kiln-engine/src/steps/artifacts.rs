//! `stash`/`unstash` and `archiveArtifacts`: files copied between the workspace (through the
//! executor) and the build directory (on kiln's side).

use super::{Args, StepCall};
use crate::BuildResult;
use crate::error::StepError;
use kiln_executor::ANT_DEFAULT_EXCLUDES;
use kiln_script::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub(crate) async fn stash(call: &StepCall<'_>) -> Result<Value, StepError> {
    let name = call.req_string("name")?;
    let includes = call.string("includes")?.unwrap_or_else(|| "**".to_owned());
    let mut excludes: Vec<String> = call.string("excludes")?.into_iter().collect();
    if call.bool("useDefaultExcludes", true)? {
        excludes.extend(ANT_DEFAULT_EXCLUDES.iter().map(|s| (*s).to_owned()));
    }
    let allow_empty = call.bool("allowEmpty", false)?;
    let dir = stash_dir(call, &name)?;
    if call.executor()?.is_replaying() && stash_here(call, &name, &dir).await? {
        // A resumed build repeating itself keeps the stash it made before the restart.
        let root = dir.clone();
        let files = tokio::task::spawn_blocking(move || local_files(&root))
            .await
            .map_err(|e| StepError::failed(format!("stash failed: {e}")))?;
        call.log(&format!("Stashed {} file(s) as '{name}'", files.len()));
        return Ok(Value::Null);
    }
    remove_local_dir(&dir).await?;
    let files = call
        .executor()?
        .list_files(&call.scope.cwd, &[includes], &excludes)
        .await?;
    if files.is_empty() && !allow_empty {
        return Err(StepError::failed(format!(
            "no files included in stash '{name}'"
        )));
    }
    for f in &files {
        let bytes = call
            .executor()?
            .read_file(&call.scope.cwd.join(&f.path))
            .await?;
        write_local(&dir.join(&f.path), &bytes).await?;
    }
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| local_error("create", &dir, &e))?;
    call.log(&format!("Stashed {} file(s) as '{name}'", files.len()));
    if let Err(why) = call.build.spec.coordinator.stash_saved(&name, &dir).await {
        call.log(&why);
    }
    Ok(Value::Null)
}

/// Whether stash `name` is in `dir`, asking the server for its copy when it is not (a
/// build taken over from another controller).
async fn stash_here(call: &StepCall<'_>, name: &str, dir: &Path) -> Result<bool, StepError> {
    if tokio::fs::try_exists(dir).await.unwrap_or(false) {
        return Ok(true);
    }
    call.build
        .spec
        .coordinator
        .stash_wanted(name, dir)
        .await
        .map_err(StepError::failed)
}

pub(crate) async fn unstash(call: &StepCall<'_>) -> Result<Value, StepError> {
    let name = call.req_string("name")?;
    let dir = stash_dir(call, &name)?;
    if !stash_here(call, &name, &dir).await? {
        return Err(StepError::failed(format!("no such saved stash '{name}'")));
    }
    let root = dir.clone();
    let files = tokio::task::spawn_blocking(move || local_files(&root))
        .await
        .map_err(|e| StepError::failed(format!("unstash failed: {e}")))?;
    for rel in &files {
        let bytes = tokio::fs::read(dir.join(rel))
            .await
            .map_err(|e| local_error("read", &dir.join(rel), &e))?;
        call.executor()?
            .write_file(&call.scope.cwd.join(rel), &bytes)
            .await?;
    }
    call.log(&format!("Unstashed {} file(s) from '{name}'", files.len()));
    Ok(Value::Null)
}

/// `archive 'x'` (Jenkins' deprecated alias): `archiveArtifacts` with `includes` as the
/// artifacts.
pub(crate) async fn archive_alias(call: &StepCall<'_>) -> Result<Value, StepError> {
    let mut args = BTreeMap::new();
    args.insert(
        "artifacts".to_owned(),
        Value::Str(call.req_string("includes")?),
    );
    if let Some(ex) = call.string("excludes")? {
        args.insert("excludes".to_owned(), Value::Str(ex));
    }
    archive(&call.with_args(Args::Script(&args), "archive")).await
}

pub(crate) async fn archive(call: &StepCall<'_>) -> Result<Value, StepError> {
    let artifacts = call.req_string("artifacts")?;
    let excludes: Vec<String> = call.string("excludes")?.into_iter().collect();
    let allow_empty = call.bool("allowEmptyArchive", false)?;
    if call.bool("onlyIfSuccessful", false)? && call.build.result() > BuildResult::Success {
        call.log("Skipped archiving because the build is not successful");
        return Ok(Value::Null);
    }
    let files = call
        .executor()?
        .list_files(&call.scope.cwd, std::slice::from_ref(&artifacts), &excludes)
        .await?;
    if files.is_empty() {
        if allow_empty {
            call.log(&format!(
                "No artifacts found that match the file pattern \"{artifacts}\""
            ));
            return Ok(Value::Null);
        }
        return Err(StepError::failed(format!(
            "no artifacts found that match the file pattern \"{artifacts}\"; configuration error?"
        )));
    }
    let root = call.build.spec.build_dir.join("artifacts");
    let replaying = call.executor()?.is_replaying();
    for f in &files {
        let dest = root.join(&f.path);
        if replaying && tokio::fs::try_exists(&dest).await.unwrap_or(false) {
            // A resumed build repeating itself keeps what it archived before the restart.
            call.build.add_artifact(f.path.clone());
            continue;
        }
        let bytes = call
            .executor()?
            .read_file(&call.scope.cwd.join(&f.path))
            .await?;
        write_local(&dest, &bytes).await?;
        call.build.add_artifact(f.path.clone());
    }
    call.log(&format!("Archived {} artifact(s)", files.len()));
    Ok(Value::Null)
}

fn stash_dir(call: &StepCall<'_>, name: &str) -> Result<PathBuf, StepError> {
    if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
        return Err(StepError::failed(format!("invalid stash name '{name}'")));
    }
    Ok(call.build.spec.build_dir.join("stashes").join(name))
}

pub(super) async fn write_local(path: &Path, bytes: &[u8]) -> Result<(), StepError> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| local_error("create", parent, &e))?;
    }
    tokio::fs::write(path, bytes)
        .await
        .map_err(|e| local_error("write", path, &e))
}

async fn remove_local_dir(dir: &Path) -> Result<(), StepError> {
    match tokio::fs::remove_dir_all(dir).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(local_error("delete", dir, &e)),
        _ => Ok(()),
    }
}

/// Every regular file below `root`, relative to it.
fn local_files(root: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.path().strip_prefix(root).ok().map(Path::to_path_buf))
        .collect()
}

fn local_error(op: &str, path: &Path, e: &std::io::Error) -> StepError {
    StepError::failed(format!("{op} `{}` failed: {e}", path.display()))
}
