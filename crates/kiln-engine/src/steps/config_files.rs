//! `configFileProvider([configFile(fileId:, targetLocation:, variable:, replaceTokens:)]) { }`
//! (Config File Provider plugin): writes managed files from kiln.yaml's `config_files:`
//! where the steps run, sets each `variable` to its file's path for the block, masks a
//! secret file's lines, and removes the files after the block, whatever its outcome.

use super::StepCall;
use super::descriptor::{described, kind_of};
use super::file_ops::remove_files;
use super::workspace_path::confined;
use crate::error::StepError;
use crate::scope::Scope;
use kiln_config::ConfigFileConfig;
use kiln_script::Value;
use std::path::PathBuf;

/// The files a block was given, removed when it ends.
pub(crate) struct Provided {
    files: Vec<PathBuf>,
}

/// One `configFile(...)` of the step's list.
struct Request {
    file_id: String,
    target: Option<String>,
    variable: Option<String>,
    replace_tokens: bool,
}

/// Writes the files and makes the block's scope (with the variables).
pub(crate) async fn provide(
    call: &StepCall<'_>,
    scope: Scope,
) -> Result<(Scope, Provided), StepError> {
    let requests = requests(call)?;
    call.log("provisioning config files...");
    let mut provided = Provided { files: Vec::new() };
    let mut vars = Vec::new();
    for (i, req) in requests.iter().enumerate() {
        match write_one(call, &scope, req, i).await {
            Ok(path) => {
                let shown = path.to_string_lossy().into_owned();
                if let Some(var) = req.variable.as_deref().filter(|v| !v.is_empty()) {
                    vars.push((var.to_owned(), shown));
                }
                provided.files.push(path);
            }
            Err(e) => {
                provided.remove(call, &scope).await;
                return Err(e);
            }
        }
    }
    Ok((scope.with_env(vars), provided))
}

impl Provided {
    /// Removes the files; a failure is logged, so the block's own outcome stands.
    pub(crate) async fn remove(&mut self, call: &StepCall<'_>, scope: &Scope) {
        let files = std::mem::take(&mut self.files);
        if let Err(e) = remove_files(call, scope, &files).await {
            call.log(&format!(
                "WARNING: configFileProvider could not remove its files: {e}"
            ));
        }
    }
}

fn requests(call: &StepCall<'_>) -> Result<Vec<Request>, StepError> {
    let items = match described(call, "managedFiles")? {
        Some(Value::List(items)) => items,
        Some(one @ Value::Map(_)) => vec![one],
        _ => {
            return Err(StepError::failed(
                "configFileProvider needs a list: `configFileProvider([configFile(fileId: 'ID', variable: 'NAME')]) { ... }`",
            ));
        }
    };
    items
        .iter()
        .map(|item| {
            if kind_of(item).is_some_and(|k| k != "configFile") {
                return Err(StepError::failed(format!(
                    "configFileProvider takes `configFile(...)` entries, not `{}(...)`",
                    kind_of(item).unwrap_or_default()
                )));
            }
            let text = |key: &str| item.get(key).map(|v| v.to_string());
            Ok(Request {
                file_id: text("fileId").ok_or_else(|| {
                    StepError::failed("configFile(...) of configFileProvider needs `fileId`")
                })?,
                target: text("targetLocation").filter(|t| !t.is_empty()),
                variable: text("variable"),
                replace_tokens: matches!(item.get("replaceTokens"), Some(Value::Bool(true))),
            })
        })
        .collect()
}

/// Writes one file: at its target in the workspace, or in the build's `@tmp`.
async fn write_one(
    call: &StepCall<'_>,
    scope: &Scope,
    req: &Request,
    index: usize,
) -> Result<PathBuf, StepError> {
    let config = find(call, &req.file_id, "configFileProvider")?;
    let mut text = content(call, config)?;
    if req.replace_tokens {
        text = replace_tokens(&text, scope);
    }
    let path = match &req.target {
        Some(t) => confined(call, t, "configFileProvider targetLocation")?,
        None => temp_path(scope, &req.file_id, index),
    };
    call.executor()?.write_file(&path, text.as_bytes()).await?;
    call.log(&format!(
        "copy managed file [{}] to file:{}",
        config.name.as_deref().unwrap_or(&config.id),
        path.display()
    ));
    Ok(path)
}

/// The `config_files:` entry `id`; `step` names the step asking in the error.
pub(crate) fn find<'b>(
    call: &'b StepCall<'_>,
    id: &str,
    step: &str,
) -> Result<&'b ConfigFileConfig, StepError> {
    let files = &call.build.spec.services.config_files;
    files.iter().find(|f| f.id == id).ok_or_else(|| {
        let known: Vec<&str> = files.iter().map(|f| f.id.as_str()).collect();
        StepError::failed(format!(
            "{step}: no config file with id '{id}' in kiln.yaml's `config_files` ({})",
            if known.is_empty() {
                "none is configured".to_owned()
            } else {
                format!("configured: {}", known.join(", "))
            }
        ))
    })
}

/// The file's text, read now; a secret file's lines are masked from here on.
pub(crate) fn content(call: &StepCall<'_>, config: &ConfigFileConfig) -> Result<String, StepError> {
    let text = config
        .content
        .resolve()
        .map_err(|e| {
            StepError::failed(format!(
                "config file '{}': {}",
                config.id,
                crate::error::error_chain(&e)
            ))
        })?
        .expose()
        .to_owned();
    if config.secret {
        call.build.add_secrets(secret_lines(&text));
    }
    Ok(text)
}

/// What a secret file masks: each of its lines, trimmed, of at least four characters (a
/// shorter one would mask common words of the log).
fn secret_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.chars().count() >= 4)
        .map(str::to_owned)
        .collect()
}

/// A path in the build's `@tmp` for a file without a target.
pub(crate) fn temp_path(scope: &Scope, id: &str, index: usize) -> PathBuf {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    scope
        .site
        .tmp_dir
        .join(format!("config{nanos}-{index}-{safe}.tmp"))
}

/// `${NAME}` replaced by the scope's variable `NAME` (unknown names stay as written), as
/// the plugin's `replaceTokens: true` does.
fn replace_tokens(text: &str, scope: &Scope) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match scope.var(name) {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&rest[start..start + 3 + end]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::secret_lines;

    #[test]
    fn a_secret_file_masks_its_longer_lines() {
        assert_eq!(
            secret_lines("<s>\n  <password>hunter22</password>\n\nab\n"),
            vec!["<password>hunter22</password>".to_owned()]
        );
    }
}
