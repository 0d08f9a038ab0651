//! `fileOperations([...])` (File Operations plugin): copy, delete, create and rename files
//! and folders of the workspace, in the order written. Every path is confined to the
//! workspace. Files are read and written through the executor; removing and renaming, which
//! the executor has no call for, run `rm` and `mv` where the steps run.

use super::StepCall;
use super::descriptor::{described, kind_of};
use super::process::{Capture, run_process};
use super::workspace_path::confined;
use crate::error::StepError;
use crate::scope::Scope;
use kiln_script::Value;
use std::path::{Path, PathBuf};

/// How many paths one `rm` is given.
const PATHS_PER_PROCESS: usize = 200;

pub(crate) async fn file_operations(call: &StepCall<'_>) -> Result<Value, StepError> {
    let items = match described(call, "operations")? {
        Some(Value::List(items)) => items,
        _ => {
            return Err(StepError::failed(
                "fileOperations needs a list of operations, e.g. `fileOperations([fileDeleteOperation(includes: 'x')])`",
            ));
        }
    };
    for item in &items {
        let kind = kind_of(item).unwrap_or("a map");
        let text = |key: &str| item.get(key).map(|v| v.to_string()).unwrap_or_default();
        let flag = |key: &str| matches!(item.get(key), Some(Value::Bool(true)));
        match kind {
            "fileCopyOperation" => {
                copy_files(
                    call,
                    (&text("includes"), &text("excludes")),
                    &text("targetLocation"),
                    flag("flattenFiles"),
                )
                .await?;
            }
            "fileDeleteOperation" => {
                delete_files(call, &text("includes"), &text("excludes")).await?
            }
            "fileCreateOperation" => {
                let path = confined(
                    call,
                    &required(item, kind, "fileName")?,
                    "fileCreateOperation fileName",
                )?;
                call.log(&format!("File Create Operation: {}", path.display()));
                call.executor()?
                    .write_file(&path, text("fileContent").as_bytes())
                    .await?;
            }
            "folderCreateOperation" => {
                let path = confined(
                    call,
                    &required(item, kind, "folderPath")?,
                    "folderCreateOperation folderPath",
                )?;
                call.log(&format!("Folder Create Operation: {}", path.display()));
                call.executor()?.create_dir(&path).await?;
            }
            "folderDeleteOperation" => {
                let path = confined(
                    call,
                    &required(item, kind, "folderPath")?,
                    "folderDeleteOperation folderPath",
                )?;
                if path == call.scope.site.workspace {
                    return Err(StepError::failed(
                        "folderDeleteOperation: refusing to delete the whole workspace (use `deleteDir()` or `cleanWs()`)",
                    ));
                }
                call.log(&format!("Folder Delete Operation: {}", path.display()));
                call.executor()?.delete_dir(&path).await?;
            }
            "fileRenameOperation" | "folderRenameOperation" => {
                let from = confined(
                    call,
                    &required(item, kind, "source")?,
                    &format!("{kind} source"),
                )?;
                let to = confined(
                    call,
                    &required(item, kind, "destination")?,
                    &format!("{kind} destination"),
                )?;
                call.log(&format!(
                    "{}: {} -> {}",
                    title(kind),
                    from.display(),
                    to.display()
                ));
                rename(call, &from, &to).await?;
            }
            "folderCopyOperation" => {
                let from = confined(
                    call,
                    &required(item, kind, "sourceFolderPath")?,
                    "folderCopyOperation sourceFolderPath",
                )?;
                let to = confined(
                    call,
                    &required(item, kind, "destinationFolderPath")?,
                    "folderCopyOperation destinationFolderPath",
                )?;
                call.log(&format!(
                    "Folder Copy Operation: {} -> {}",
                    from.display(),
                    to.display()
                ));
                copy_tree(call, &from, &to).await?;
            }
            other => {
                return Err(StepError::failed(format!(
                    "fileOperations: `{other}` is not provided by kiln (it provides fileCopyOperation, fileDeleteOperation, fileCreateOperation, fileRenameOperation, folderCreateOperation, folderDeleteOperation, folderCopyOperation, folderRenameOperation)"
                )));
            }
        }
    }
    Ok(Value::Null)
}

fn required(item: &Value, kind: &str, key: &str) -> Result<String, StepError> {
    match item.get(key) {
        Some(v) if !v.to_string().is_empty() => Ok(v.to_string()),
        _ => Err(StepError::failed(format!(
            "fileOperations: `{kind}` needs `{key}`"
        ))),
    }
}

/// `fileRenameOperation` -> `File Rename Operation`, the plugin's log wording.
fn title(kind: &str) -> String {
    let base = kind.strip_suffix("Operation").unwrap_or(kind);
    let mut out = String::new();
    for (i, c) in base.chars().enumerate() {
        if i == 0 {
            out.extend(c.to_uppercase());
        } else if c.is_uppercase() {
            out.push(' ');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out + " Operation"
}

async fn copy_files(
    call: &StepCall<'_>,
    (includes, excludes): (&str, &str),
    target: &str,
    flatten: bool,
) -> Result<(), StepError> {
    let target = confined(call, target, "fileCopyOperation targetLocation")?;
    let executor = call.executor()?;
    let files = matching(call, includes, excludes).await?;
    call.log(&format!(
        "File Copy Operation: {} file(s) matching '{includes}' to {}",
        files.len(),
        target.display()
    ));
    for f in files {
        let dest = if flatten {
            target.join(f.path.file_name().unwrap_or(f.path.as_os_str()))
        } else {
            target.join(&f.path)
        };
        let bytes = executor.read_file(&call.scope.cwd.join(&f.path)).await?;
        executor.write_file(&dest, &bytes).await?;
    }
    Ok(())
}

async fn copy_tree(call: &StepCall<'_>, from: &Path, to: &Path) -> Result<(), StepError> {
    let executor = call.executor()?;
    executor.create_dir(to).await?;
    for f in executor.list_files(from, &[], &[]).await? {
        let bytes = executor.read_file(&from.join(&f.path)).await?;
        executor.write_file(&to.join(&f.path), &bytes).await?;
    }
    Ok(())
}

async fn delete_files(
    call: &StepCall<'_>,
    includes: &str,
    excludes: &str,
) -> Result<(), StepError> {
    if includes.is_empty() {
        return Err(StepError::failed(
            "fileOperations: `fileDeleteOperation` needs `includes`",
        ));
    }
    let files = matching(call, includes, excludes).await?;
    call.log(&format!(
        "File Delete Operation: {} file(s) matching '{includes}'",
        files.len()
    ));
    let paths: Vec<PathBuf> = files.iter().map(|f| call.scope.cwd.join(&f.path)).collect();
    remove_files(call, call.scope, &paths).await
}

/// The workspace files (relative to the step's directory) matching the `includes` glob and
/// not the `excludes` one (empty: none).
async fn matching(
    call: &StepCall<'_>,
    includes: &str,
    excludes: &str,
) -> Result<Vec<kiln_executor::FileEntry>, StepError> {
    Ok(call
        .executor()?
        .list_files(
            &call.scope.cwd,
            &[includes.to_owned()],
            &non_empty(excludes),
        )
        .await?)
}

fn non_empty(s: &str) -> Vec<String> {
    if s.is_empty() {
        Vec::new()
    } else {
        vec![s.to_owned()]
    }
}

async fn rename(call: &StepCall<'_>, from: &Path, to: &Path) -> Result<(), StepError> {
    let argv = vec![
        "mv".to_owned(),
        "-f".to_owned(),
        "--".to_owned(),
        from.to_string_lossy().into_owned(),
        to.to_string_lossy().into_owned(),
    ];
    run_tool(call, call.scope, argv, "mv").await
}

/// Removes files (not directories) where the steps run, with `rm -f`; missing ones are no
/// error.
pub(crate) async fn remove_files(
    call: &StepCall<'_>,
    scope: &Scope,
    paths: &[PathBuf],
) -> Result<(), StepError> {
    for chunk in paths.chunks(PATHS_PER_PROCESS) {
        let mut argv = vec!["rm".to_owned(), "-f".to_owned(), "--".to_owned()];
        argv.extend(chunk.iter().map(|p| p.to_string_lossy().into_owned()));
        run_tool(call, scope, argv, "rm").await?;
    }
    Ok(())
}

/// Runs a file tool (`rm`, `mv`) quietly in the scope's directory; its errors go to the log.
async fn run_tool(
    call: &StepCall<'_>,
    scope: &Scope,
    argv: Vec<String>,
    tool: &str,
) -> Result<(), StepError> {
    let done = run_process(
        call.build,
        scope,
        (argv, None),
        scope.cwd.clone(),
        Capture::Stdout,
    )
    .await?;
    if !done.status.success() {
        return Err(StepError::failed(format!(
            "{}: `{tool}` failed (exit code {})",
            call.name,
            done.status.code()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::title;

    #[test]
    fn titles_read_like_the_plugins_log() {
        assert_eq!(title("fileRenameOperation"), "File Rename Operation");
        assert_eq!(title("folderRenameOperation"), "Folder Rename Operation");
    }
}
