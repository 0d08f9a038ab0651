//! `bat` and `powershell` (Windows only: kiln runs Linux agents, so they fail where they are
//! reached, naming the step) and `pwsh` (PowerShell Core, run where it is installed).

use super::StepCall;
use super::process::{Capture, run_process};
use crate::error::StepError;
use kiln_script::Value;

/// `bat` or `powershell`: fails, saying why and what to use instead.
pub(crate) fn windows_only(call: &StepCall<'_>) -> Result<Value, StepError> {
    Err(StepError::failed(format!(
        "`{}` runs Windows scripts, and kiln runs steps on Linux agents: use `sh`, or `pwsh` for PowerShell Core",
        call.name
    )))
}

/// `pwsh`: the script written to a `.ps1` file in the `@tmp` directory and run by `pwsh -File`,
/// with `returnStdout` and `returnStatus` as `sh` has them.
pub(crate) async fn pwsh(call: &StepCall<'_>) -> Result<Value, StepError> {
    let script = call.req_string("script")?;
    let return_stdout = call.bool("returnStdout", false)?;
    let return_status = call.bool("returnStatus", false)?;
    let executor = call.executor()?;
    let probe = run_process(
        call.build,
        call.scope,
        (PROBE.iter().map(|s| (*s).to_owned()).collect(), None),
        call.scope.cwd.clone(),
        Capture::Quietly,
    )
    .await?;
    if !probe.status.success() {
        return Err(StepError::failed(
            "`pwsh`: PowerShell is not installed where this step runs (no `pwsh` on the PATH)",
        ));
    }
    let slot = call.build.process_keys.next(call.scope.node);
    let path = call
        .scope
        .site
        .tmp_dir
        .join(format!("powershell-{}.ps1", slot.as_str()));
    executor.write_file(&path, wrap(&script).as_bytes()).await?;
    super::sh::run_script(
        call,
        (argv(&path.to_string_lossy()), slot),
        (return_stdout, return_status),
        "PowerShell script",
    )
    .await
}

/// Asks whether `pwsh` is on the step's PATH (`/bin/sh` by its path, so a PATH without it
/// still gets the answer).
const PROBE: &[&str] = &["/bin/sh", "-c", "command -v pwsh"];

/// The command running a script file.
fn argv(path: &str) -> Vec<String> {
    ["pwsh", "-NoProfile", "-NonInteractive", "-File", path]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

/// The script as the step runs it: errors stop it, and its exit code is that of the last
/// native command when the script does not `exit` itself, as Jenkins' `pwsh` step does.
fn wrap(script: &str) -> String {
    format!(
        "$ErrorActionPreference = 'Stop'\n{script}\nif ($LASTEXITCODE) {{ exit $LASTEXITCODE }}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_the_script_file_without_profile_or_prompts() {
        assert_eq!(
            argv("/w@tmp/powershell-1.ps1"),
            [
                "pwsh",
                "-NoProfile",
                "-NonInteractive",
                "-File",
                "/w@tmp/powershell-1.ps1"
            ]
        );
        let text = wrap("Write-Output hi");
        assert!(text.starts_with("$ErrorActionPreference = 'Stop'\nWrite-Output hi\n"));
        assert!(text.ends_with("exit $LASTEXITCODE }\n"));
    }
}
