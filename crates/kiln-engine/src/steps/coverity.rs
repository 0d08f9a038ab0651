//! `withCoverityEnv(coverityToolName: 'x', connectInstance: 'y') { }` (Coverity plugin):
//! the block runs with the Coverity analysis tools' `bin/` first on `PATH` and, when a
//! Coverity Connect instance is named, its address and account in `COVERITY_HOST`,
//! `COVERITY_PORT`, `COV_USER` and `COVERITY_PASSPHRASE` (or the names `hostVariable`,
//! `portVariable`, `usernameVariable` and `passwordVariable` give), the passphrase masked,
//! as the plugin's build wrapper binds them. The tools are the kiln.yaml `tools:` entry of
//! type `coverity` with that name (compared ignoring case, as the plugin does), the
//! instance the `coverity:` entry; a name kiln.yaml does not have fails the step naming it
//! (the plugin binds nothing for an unknown instance; kiln says so rather than running
//! the block without the variables).

use super::StepCall;
use crate::error::StepError;
use crate::scope::Scope;
use kiln_config::ToolKind;

/// The variables of the block.
pub(crate) fn environment(
    call: &StepCall<'_>,
    scope: &Scope,
) -> Result<Vec<(String, String)>, StepError> {
    let services = &call.build.spec.services;
    let tool_name = call.req_string("coverityToolName")?;
    let tool = services
        .tools
        .iter()
        .find(|t| t.kind == ToolKind::Coverity && t.name.eq_ignore_ascii_case(&tool_name))
        .ok_or_else(|| {
            StepError::failed(format!(
                "withCoverityEnv: Unable to find Coverity tools installation: [{tool_name}]: add a `tools:` entry of type `coverity` with that name to kiln.yaml (kiln run: --config FILE)"
            ))
        })?;
    let bin = tool.home.join("bin").to_string_lossy().into_owned();
    let path = match scope.var("PATH").filter(|p| !p.is_empty()) {
        Some(p) => format!("{bin}:{p}"),
        None => bin,
    };
    call.log(&format!(
        "[withCoverityEnv] Coverity tools '{}' ({}) first on PATH",
        tool.name,
        tool.home.display()
    ));
    let mut vars = vec![("PATH".to_owned(), path)];
    let Some(instance_name) = call.string("connectInstance")?.filter(|n| !n.is_empty()) else {
        return Ok(vars);
    };
    let instance = services
        .coverity
        .iter()
        .find(|c| c.name == instance_name)
        .ok_or_else(|| {
            StepError::failed(format!(
                "withCoverityEnv: no Coverity Connect instance `{instance_name}`: add it to `coverity:` in kiln.yaml (kiln run: --config FILE)"
            ))
        })?;
    let name = |key: &str, default: &str| -> Result<String, StepError> {
        Ok(call
            .string(key)?
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_owned()))
    };
    vars.push((
        name("hostVariable", "COVERITY_HOST")?,
        instance.host.clone(),
    ));
    vars.push((
        name("portVariable", "COVERITY_PORT")?,
        instance.port.to_string(),
    ));
    if let Some(id) = &instance.credential {
        let (user, passphrase) = super::credentials::username_password(call.build, id)?;
        vars.push((name("usernameVariable", "COV_USER")?, user));
        vars.push((name("passwordVariable", "COVERITY_PASSPHRASE")?, passphrase));
    }
    call.log(&format!(
        "[withCoverityEnv] Coverity Connect instance '{}' at {}:{}",
        instance.name, instance.host, instance.port
    ));
    Ok(vars)
}
