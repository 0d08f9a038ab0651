//! `sh`: a shell script, run like Jenkins does (`sh -xe`, or the `#!` interpreter).

use super::StepCall;
use super::process::{Capture, run_process};
use crate::error::StepError;
use crate::process_key::ProcessSlot;
use kiln_script::Value;

pub(crate) async fn sh(call: &StepCall<'_>) -> Result<Value, StepError> {
    let script = call.req_string("script")?;
    let return_stdout = call.bool("returnStdout", false)?;
    let return_status = call.bool("returnStatus", false)?;
    let executor = call.executor()?;
    // The place is taken first: a `#!` script's file is named after it, so the command
    // (part of the process key) is the same when the build's steps run again.
    let slot = call.build.process_keys.next(call.scope.node);
    let argv = match shebang(&script) {
        Some(interpreter) => {
            let path = call
                .scope
                .site
                .tmp_dir
                .join(format!("script-{}.sh", slot.as_str()));
            executor.write_file(&path, script.as_bytes()).await?;
            let mut argv = interpreter;
            argv.push(path.to_string_lossy().into_owned());
            argv
        }
        None => vec!["sh".to_owned(), "-xe".to_owned(), "-c".to_owned(), script],
    };
    run_script(call, (argv, slot), (return_stdout, return_status), "script").await
}

/// Runs a script's process (`argv` in place `slot`) and answers as `sh` does: the exit
/// code with `returnStatus`, the standard output with `returnStdout`, else nothing, failing
/// with "`what` returned exit code N" when it ends unsuccessfully and no status was asked for.
pub(super) async fn run_script(
    call: &StepCall<'_>,
    (argv, slot): (Vec<String>, ProcessSlot),
    (return_stdout, return_status): (bool, bool),
    what: &str,
) -> Result<Value, StepError> {
    let done = run_process(
        call.build,
        call.scope,
        (argv, Some(slot)),
        call.scope.cwd.clone(),
        if return_stdout {
            Capture::Stdout
        } else {
            Capture::Nothing
        },
    )
    .await?;
    let code = done.status.code();
    if return_status {
        return Ok(Value::Int(i64::from(code)));
    }
    if !done.status.success() {
        return Err(StepError::failed(format!(
            "{what} returned exit code {code}"
        )));
    }
    if return_stdout {
        return Ok(Value::Str(
            String::from_utf8_lossy(&done.stdout).into_owned(),
        ));
    }
    Ok(Value::Null)
}

/// The interpreter of a script starting with `#!`: the program and, as the kernel does, the
/// rest of the line as one argument.
fn shebang(script: &str) -> Option<Vec<String>> {
    let line = script.strip_prefix("#!")?.lines().next()?.trim();
    let (program, arg) = match line.split_once(char::is_whitespace) {
        Some((p, a)) => (p, Some(a.trim())),
        None => (line, None),
    };
    if program.is_empty() {
        return None;
    }
    let mut argv = vec![program.to_owned()];
    argv.extend(arg.filter(|a| !a.is_empty()).map(str::to_owned));
    Some(argv)
}

#[cfg(test)]
mod tests {
    use super::shebang;

    #[test]
    fn reads_shebang_lines() {
        assert_eq!(
            shebang("#!/bin/bash\necho"),
            Some(vec!["/bin/bash".to_owned()])
        );
        assert_eq!(
            shebang("#!/usr/bin/env python3 -u\nprint(1)"),
            Some(vec!["/usr/bin/env".to_owned(), "python3 -u".to_owned()])
        );
        assert_eq!(shebang("echo '#!x'"), None);
        assert_eq!(shebang("#!\n"), None);
    }
}
