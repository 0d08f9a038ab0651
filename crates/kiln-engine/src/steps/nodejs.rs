//! `nodejs(nodeJSInstallationName: 'node20', configId: 'npmrc') { }` (NodeJS plugin), also
//! written `nodejs('node20') { }`. kiln installs no tools: the installation is the kiln.yaml
//! `tools:` entry of that name (type `nodejs`), whose `bin/` goes first on `PATH` and whose
//! home is `NODEJS_HOME`, as the plugin sets them. Without such an entry the block runs with
//! the `node` already on `PATH`, said in the log. `configId` names a `config_files:` entry
//! written as the block's npm user configuration (`npm_config_userconfig`), removed after the
//! block.

use super::StepCall;
use crate::error::StepError;
use crate::scope::Scope;
use kiln_config::ToolKind;
use std::path::PathBuf;

/// A running `nodejs` block: the npmrc written for it, if any.
pub(crate) struct Session {
    npmrc: Option<PathBuf>,
}

/// Prepares the block's scope: the installation on `PATH`, the npm configuration.
pub(crate) async fn start(
    call: &StepCall<'_>,
    scope: Scope,
) -> Result<(Scope, Session), StepError> {
    let name = call
        .string("nodeJSInstallationName")?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            StepError::failed("nodejs: needs an installation name, as in nodejs('node20') { }")
        })?;
    let mut vars = Vec::new();
    let tools = &call.build.spec.services.tools;
    match tools.iter().find(|t| t.name == name) {
        Some(t) if t.kind != ToolKind::NodeJs => {
            return Err(StepError::failed(format!(
                "nodejs: '{name}' names a {} installation in kiln.yaml's `tools`, not a nodejs one",
                t.kind.name()
            )));
        }
        Some(t) => {
            call.log(&format!(
                "[nodejs] using NodeJS installation '{name}' ({})",
                t.home.display()
            ));
            let bin = t.home.join("bin").to_string_lossy().into_owned();
            let path = match scope.var("PATH").filter(|p| !p.is_empty()) {
                Some(p) => format!("{bin}:{p}"),
                None => bin,
            };
            vars.push(("PATH".to_owned(), path));
            vars.push((
                "NODEJS_HOME".to_owned(),
                t.home.to_string_lossy().into_owned(),
            ));
        }
        None => call.log(&format!(
            "[nodejs] no NodeJS installation '{name}' in kiln.yaml's `tools` (kiln installs no \
             tools): the block uses the node found on PATH"
        )),
    }
    let mut session = Session { npmrc: None };
    if let Some(id) = call.string("configId")?.filter(|s| !s.is_empty()) {
        let config = super::config_files::find(call, &id, "nodejs")?;
        let text = super::config_files::content(call, config)?;
        let path = scope
            .site
            .tmp_dir
            .join(format!("nodejs{}", super::maven::nanos()))
            .join(".npmrc");
        let executor = call.executor()?;
        if let Some(dir) = path.parent() {
            executor.create_dir(dir).await?;
        }
        executor.write_file(&path, text.as_bytes()).await?;
        call.log(&format!(
            "[nodejs] using the npm configuration of the config file '{}'",
            config.name.as_deref().unwrap_or(&config.id)
        ));
        vars.push((
            "npm_config_userconfig".to_owned(),
            path.to_string_lossy().into_owned(),
        ));
        session.npmrc = Some(path);
    }
    Ok((scope.with_env(vars), session))
}

impl Session {
    /// Removes the npm configuration written for the block.
    pub(crate) async fn finish(&self, call: &StepCall<'_>) {
        let Some(path) = &self.npmrc else { return };
        let Some(dir) = path.parent() else { return };
        let removed = match call.executor() {
            Ok(e) => e.delete_dir(dir).await.map_err(StepError::from),
            Err(e) => Err(e),
        };
        if let Err(e) = removed {
            tracing::warn!(error = %e, "nodejs could not remove its npm configuration");
        }
    }
}
