//! `tool 'name'`: kiln installs no tools; it finds them on `PATH`.

use super::StepCall;
use crate::error::StepError;
use kiln_script::Value;
use std::path::{Path, PathBuf};

pub(crate) fn tool(call: &StepCall<'_>) -> Result<Value, StepError> {
    let name = call.req_string("name")?;
    let program = program_of(&name);
    let path = call.scope.var("PATH").unwrap_or_default();
    let found = std::env::split_paths(path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            StepError::failed(format!(
                "tool '{name}': kiln has no tool installations; no `{program}` was found on PATH"
            ))
        })?;
    Ok(Value::Str(home_of(&found).to_string_lossy().into_owned()))
}

/// The executable a Jenkins tool installation name most likely stands for.
fn program_of(name: &str) -> &str {
    let lower = name.to_ascii_lowercase();
    [
        ("maven", "mvn"),
        ("mvn", "mvn"),
        ("jdk", "java"),
        ("java", "java"),
        ("gradle", "gradle"),
        ("node", "node"),
        ("go", "go"),
    ]
    .iter()
    .find(|(key, _)| lower.starts_with(key))
    .map_or(name, |(_, program)| program)
}

/// The tool's home: the directory above `bin/`, as `MAVEN_HOME` or `JAVA_HOME` are.
fn home_of(executable: &Path) -> PathBuf {
    let resolved = std::fs::canonicalize(executable).unwrap_or_else(|_| executable.to_path_buf());
    let dir = resolved.parent().unwrap_or(Path::new("/"));
    match dir.file_name() {
        Some(n) if n == "bin" => dir.parent().unwrap_or(dir).to_path_buf(),
        _ => dir.to_path_buf(),
    }
}
