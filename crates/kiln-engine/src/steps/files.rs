//! Workspace file steps: `writeFile`, `readFile`, `fileExists`, `deleteDir`, `cleanWs`, `pwd`.

use super::StepCall;
use crate::error::StepError;
use kiln_script::Value;
use std::path::Path;

pub(crate) async fn write_file(call: &StepCall<'_>) -> Result<Value, StepError> {
    let file = call.req_string("file")?;
    let text = call.req_string("text")?;
    let path = call.scope.cwd.join(file);
    call.executor()?.write_file(&path, text.as_bytes()).await?;
    Ok(Value::Null)
}

pub(crate) async fn read_file(call: &StepCall<'_>) -> Result<Value, StepError> {
    let file = call.req_string("file")?;
    let path = call.scope.cwd.join(&file);
    let bytes = call.executor()?.read_file(&path).await?;
    Ok(Value::Str(String::from_utf8_lossy(&bytes).into_owned()))
}

pub(crate) async fn file_exists(call: &StepCall<'_>) -> Result<Value, StepError> {
    let file = call.req_string("file")?;
    let path = call.scope.cwd.join(file);
    Ok(Value::Bool(call.executor()?.file_exists(&path).await?))
}

pub(crate) fn pwd(call: &StepCall<'_>) -> Result<Value, StepError> {
    let dir = if call.bool("tmp", false)? {
        &call.scope.site.tmp_dir
    } else {
        &call.scope.cwd
    };
    Ok(Value::Str(dir.to_string_lossy().into_owned()))
}

/// `deleteDir()`: removes the current directory and everything in it.
pub(crate) async fn delete_dir(call: &StepCall<'_>) -> Result<Value, StepError> {
    let dir = call.scope.cwd.clone();
    if refuse_workspace(call, &dir, "deleteDir") {
        return Ok(Value::Null);
    }
    call.executor()?.delete_dir(&dir).await?;
    Ok(Value::Null)
}

/// `cleanWs()`: empties the workspace.
pub(crate) async fn clean_ws(call: &StepCall<'_>) -> Result<Value, StepError> {
    let not_fail = call.bool("notFailBuild", false)?;
    if call.has("patterns") {
        let cleaned = super::clean_ws::clean_patterns(call).await;
        return match cleaned {
            Err(e) if not_fail => {
                call.log(&format!("WARNING: cleanWs failed: {e}"));
                Ok(Value::Null)
            }
            other => other.map(|()| Value::Null),
        };
    }
    let workspace = call.scope.site.workspace.clone();
    if refuse_workspace(call, &workspace, "cleanWs") {
        return Ok(Value::Null);
    }
    let executor = call.executor()?;
    let result = async {
        executor.delete_dir(&workspace).await?;
        executor.create_dir(&workspace).await
    }
    .await;
    match result {
        Err(e) if not_fail => {
            call.log(&format!(
                "WARNING: cleanWs failed: {}",
                crate::error::error_chain(&e)
            ));
            Ok(Value::Null)
        }
        other => other.map(|()| Value::Null).map_err(StepError::from),
    }
}

/// With [`crate::BuildSpec::workspace_is_checkout`], the workspace itself (the user's own
/// checkout in `kiln run`) is never deleted: the step says so and does nothing.
fn refuse_workspace(call: &StepCall<'_>, dir: &Path, step: &str) -> bool {
    let site = &call.scope.site;
    let refuse = site.user_checkout && site.workspace.starts_with(dir);
    if refuse {
        call.build.notice_once(format!(
            "{step}() of the workspace is skipped: this run's workspace is your working directory, which kiln does not delete"
        ));
    }
    refuse
}
