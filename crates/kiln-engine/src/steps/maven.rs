//! `withMaven(maven:, jdk:, mavenSettingsConfig:, globalMavenSettingsConfig:,
//! mavenSettingsFilePath:, mavenOpts:, mavenLocalRepo:, options:) { }` (Pipeline Maven
//! Integration plugin). The block gets `MAVEN_HOME`/`M2_HOME`, `JAVA_HOME` and their `bin/`
//! on `PATH` from kiln.yaml's `tools:`, and, first on `PATH`, an `mvn` wrapper (in the
//! build's `@tmp`) that runs the real Maven with `--batch-mode --show-version` and the
//! settings files from `config_files:`. After the block, whatever its outcome, the
//! surefire and failsafe reports below the step's directory are recorded as `junit` does
//! (`junitPublisher(disabled: true)` turns that off); the wrapper's directory is removed.

use super::StepCall;
use super::descriptor::{described, kind_of};
use super::process::{Capture, run_process};
use super::workspace_path::confined;
use crate::error::StepError;
use crate::scope::Scope;
use kiln_config::{ToolConfig, ToolKind};
use kiln_script::Value;
use std::path::{Path, PathBuf};

/// The reports Maven's surefire and failsafe plugins write.
const REPORTS: &[&str] = &[
    "**/target/surefire-reports/TEST-*.xml",
    "**/target/failsafe-reports/TEST-*.xml",
];

/// A running `withMaven` block: what to do after it.
pub(crate) struct Session {
    dir: PathBuf,
    junit: bool,
}

/// Prepares the block: tools, settings, the wrapper; returns the block's scope.
pub(crate) async fn start(
    call: &StepCall<'_>,
    scope: Scope,
) -> Result<(Scope, Session), StepError> {
    let junit = publishers(call)?;
    let maven = tool(call, "maven", ToolKind::Maven)?;
    let jdk = tool(call, "jdk", ToolKind::Jdk)?;
    let dir = scope.site.tmp_dir.join(format!("withMaven{}", nanos()));
    let executor = call.executor()?;
    executor.create_dir(&dir).await?;
    let session = Session { dir, junit };
    match prepare(call, &scope, &session, (maven, jdk)).await {
        Ok(scope) => Ok((scope, session)),
        Err(e) => {
            session.remove(call).await;
            Err(e)
        }
    }
}

async fn prepare(
    call: &StepCall<'_>,
    scope: &Scope,
    session: &Session,
    (maven, jdk): (Option<&ToolConfig>, Option<&ToolConfig>),
) -> Result<Scope, StepError> {
    let mut args = vec!["--batch-mode".to_owned(), "--show-version".to_owned()];
    let settings = [
        (
            "mavenSettingsConfig",
            "mavenSettingsFilePath",
            "--settings",
            "settings.xml",
        ),
        (
            "globalMavenSettingsConfig",
            "globalMavenSettingsFilePath",
            "--global-settings",
            "global-settings.xml",
        ),
    ];
    for (config_key, path_key, flag, file) in settings {
        if let Some(path) = settings_file(call, session, (config_key, path_key), file).await? {
            args.push(flag.to_owned());
            args.push(path.to_string_lossy().into_owned());
        }
    }
    if let Some(repo) = call.string("mavenLocalRepo")? {
        let repo = confined(call, &repo, "withMaven mavenLocalRepo")?;
        args.push(format!("-Dmaven.repo.local={}", repo.display()));
    }
    let wrapper = session.dir.join("mvn");
    let real = maven.map(|m| m.home.join("bin").join("mvn"));
    let script = wrapper_script(real.as_deref(), &session.dir, &args);
    call.executor()?
        .write_file(&wrapper, script.as_bytes())
        .await?;
    let chmod = vec![
        "chmod".to_owned(),
        "755".to_owned(),
        wrapper.to_string_lossy().into_owned(),
    ];
    let done = run_process(
        call.build,
        scope,
        (chmod, None),
        scope.cwd.clone(),
        Capture::Stdout,
    )
    .await?;
    if !done.status.success() {
        return Err(StepError::failed(
            "withMaven: cannot make the mvn wrapper executable",
        ));
    }
    let mut vars = Vec::new();
    let mut path = vec![session.dir.to_string_lossy().into_owned()];
    for (tool, homes) in [
        (maven, &["MAVEN_HOME", "M2_HOME"][..]),
        (jdk, &["JAVA_HOME"][..]),
    ] {
        if let Some(t) = tool {
            call.log(&format!(
                "[withMaven] using {} installation '{}' ({})",
                t.kind.name(),
                t.name,
                t.home.display()
            ));
            let home = t.home.to_string_lossy().into_owned();
            vars.extend(homes.iter().map(|h| ((*h).to_owned(), home.clone())));
            path.push(t.home.join("bin").to_string_lossy().into_owned());
        }
    }
    if maven.is_none() {
        call.log("[withMaven] no `maven:` given: using the mvn found on PATH");
    }
    if let Some(p) = scope.var("PATH").filter(|p| !p.is_empty()) {
        path.push(p.to_owned());
    }
    vars.push(("PATH".to_owned(), path.join(":")));
    vars.push((
        "MVN_CMD_DIR".to_owned(),
        session.dir.to_string_lossy().into_owned(),
    ));
    vars.push(("MVN_CMD".to_owned(), wrapper.to_string_lossy().into_owned()));
    if let Some(opts) = call.string("mavenOpts")?.filter(|o| !o.is_empty()) {
        vars.push(("MAVEN_OPTS".to_owned(), opts));
    }
    Ok(scope.with_env(vars))
}

/// A settings file: a `config_files:` entry written next to the wrapper, or a file of the
/// workspace.
async fn settings_file(
    call: &StepCall<'_>,
    session: &Session,
    (config_key, path_key): (&str, &str),
    file: &str,
) -> Result<Option<PathBuf>, StepError> {
    if let Some(id) = call.string(config_key)?.filter(|s| !s.is_empty()) {
        let config = super::config_files::find(call, &id, "withMaven")?;
        let text = super::config_files::content(call, config)?;
        let path = session.dir.join(file);
        call.executor()?.write_file(&path, text.as_bytes()).await?;
        call.log(&format!(
            "[withMaven] using Maven settings provided by the config file '{}'",
            config.name.as_deref().unwrap_or(&config.id)
        ));
        return Ok(Some(path));
    }
    match call.string(path_key)?.filter(|s| !s.is_empty()) {
        Some(p) => Ok(Some(confined(call, &p, &format!("withMaven {path_key}"))?)),
        None => Ok(None),
    }
}

/// The installation `key` names, which must be of `kind`.
fn tool<'b>(
    call: &'b StepCall<'_>,
    key: &str,
    kind: ToolKind,
) -> Result<Option<&'b ToolConfig>, StepError> {
    let Some(name) = call.string(key)?.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let tools = &call.build.spec.services.tools;
    match tools.iter().find(|t| t.name == name) {
        Some(t) if t.kind == kind => Ok(Some(t)),
        Some(t) => Err(StepError::failed(format!(
            "withMaven: `{key}: '{name}'` names a {} installation, not a {} one",
            t.kind.name(),
            kind.name()
        ))),
        None => Err(StepError::failed(format!(
            "withMaven: no {} installation '{name}' in kiln.yaml's `tools` (add `- name: {name}`, `type: {}`, `home: /path`)",
            kind.name(),
            kind.name()
        ))),
    }
}

/// Whether surefire/failsafe reports are recorded; other publishers are named as not run.
fn publishers(call: &StepCall<'_>) -> Result<bool, StepError> {
    let mut junit = true;
    let options = match described(call, "options")? {
        Some(Value::List(items)) => items,
        None | Some(Value::Null) => Vec::new(),
        Some(other) => vec![other],
    };
    for option in &options {
        let disabled = matches!(option.get("disabled"), Some(Value::Bool(true)));
        match kind_of(option) {
            Some("junitPublisher") => junit = !disabled,
            Some(other) if !disabled => call.log(&format!(
                "[withMaven] {other} is not provided by kiln: it is not run"
            )),
            _ => {}
        }
    }
    for key in ["publisherStrategy", "traceability", "tempBinDir"] {
        if call.has(key) {
            call.log(&format!("[withMaven] `{key}` has no effect in kiln"));
        }
    }
    Ok(junit)
}

impl Session {
    /// Records the block's test reports and removes the wrapper's directory; the block's
    /// own error comes first.
    pub(crate) async fn finish(
        &self,
        call: &StepCall<'_>,
        body: Result<(), StepError>,
    ) -> Result<(), StepError> {
        let recorded = if self.junit {
            self.record(call).await
        } else {
            Ok(())
        };
        self.remove(call).await;
        body.and(recorded)
    }

    async fn record(&self, call: &StepCall<'_>) -> Result<(), StepError> {
        let patterns: Vec<String> = REPORTS.iter().map(|s| (*s).to_owned()).collect();
        let files = call
            .executor()?
            .list_files(&call.scope.cwd, &patterns, &[])
            .await?;
        if files.is_empty() {
            call.log("[withMaven] junitPublisher: no surefire or failsafe reports found");
            return Ok(());
        }
        call.log(&format!(
            "[withMaven] junitPublisher: recording {} surefire/failsafe report file(s)",
            files.len()
        ));
        super::junit::record(call, &files, false, true, false).await
    }

    async fn remove(&self, call: &StepCall<'_>) {
        let removed = match call.executor() {
            Ok(e) => e.delete_dir(&self.dir).await.map_err(StepError::from),
            Err(e) => Err(e),
        };
        if let Err(e) = removed {
            tracing::warn!(error = %e, "withMaven could not remove its directory");
        }
    }
}

/// The `mvn` wrapper: the real Maven (`real`, else the first `mvn` on `PATH` that is not
/// this wrapper) with `args` before the caller's.
fn wrapper_script(real: Option<&Path>, dir: &Path, args: &[String]) -> String {
    let quoted: Vec<String> = args.iter().map(|a| quote(a)).collect();
    let real = real.map_or_else(String::new, |p| quote(&p.to_string_lossy()));
    format!(
        "#!/bin/sh\n\
         # kiln's withMaven: Maven with the block's settings.\n\
         MVN={real}\n\
         if [ -z \"$MVN\" ]; then\n\
         \x20 IFS=:\n\
         \x20 for d in $PATH; do\n\
         \x20   if [ \"$d\" != {dir} ] && [ -x \"$d/mvn\" ]; then MVN=\"$d/mvn\"; break; fi\n\
         \x20 done\n\
         \x20 unset IFS\n\
         fi\n\
         if [ -z \"$MVN\" ]; then\n\
         \x20 echo \"withMaven: no mvn on PATH; configure a maven installation in kiln.yaml's tools: and give withMaven(maven: 'NAME')\" >&2\n\
         \x20 exit 127\n\
         fi\n\
         exec \"$MVN\" {} \"$@\"\n",
        quoted.join(" "),
        dir = quote(&dir.to_string_lossy()),
    )
}

/// `s` as one single-quoted shell word.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

pub(crate) fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

#[cfg(test)]
mod tests {
    use super::{quote, wrapper_script};
    use std::path::Path;

    #[test]
    fn the_wrapper_passes_quoted_settings_first() {
        let s = wrapper_script(
            Some(Path::new("/opt/maven/bin/mvn")),
            Path::new("/w@tmp/withMaven1"),
            &["--settings".to_owned(), "/w@tmp/it's.xml".to_owned()],
        );
        assert!(s.contains("MVN='/opt/maven/bin/mvn'\n"), "{s}");
        assert!(
            s.contains("exec \"$MVN\" '--settings' '/w@tmp/it'\\''s.xml' \"$@\"\n"),
            "{s}"
        );
        assert_eq!(quote("a b"), "'a b'");
    }
}
