//! `publishHTML` (HTML Publisher): copies a report directory of the workspace into the
//! build directory (`html/NAME/`), where `kiln run` leaves it and the server serves it.

use super::StepCall;
use super::workspace_path::confined;
use crate::HtmlReport;
use crate::error::StepError;
use kiln_script::Value;

/// The step's settings, read from its `target` map.
#[derive(Debug, PartialEq)]
struct Target {
    dir: String,
    files: Vec<String>,
    name: String,
    titles: Vec<String>,
    includes: String,
    keep_all: bool,
    always_link: bool,
    allow_missing: bool,
}

pub(crate) async fn publish_html(call: &StepCall<'_>) -> Result<Value, StepError> {
    let target = match call.value("target")? {
        Some(map @ Value::Map(_)) => read_target(&map)?,
        _ => {
            return Err(StepError::failed(
                "publishHTML needs a map: `publishHTML([reportDir: 'dir', reportFiles: 'index.html', reportName: 'Report'])`",
            ));
        }
    };
    let source = confined(call, &target.dir, "publishHTML reportDir")?;
    let executor = call.executor()?;
    let files = executor
        .list_files(&source, std::slice::from_ref(&target.includes), &[])
        .await?;
    let index = target.files.first().map_or("index.html", String::as_str);
    let has_index = files.iter().any(|f| f.path.to_string_lossy() == index);
    if files.is_empty() || !has_index {
        let what = if files.is_empty() {
            format!("directory '{}' has no files", target.dir)
        } else {
            format!("file '{index}' does not exist in '{}'", target.dir)
        };
        if target.allow_missing {
            call.log(&format!(
                "[htmlpublisher] Specified HTML {what}; allowMissing is set, nothing archived"
            ));
            return Ok(Value::Null);
        }
        return Err(StepError::failed(format!(
            "publishHTML: specified HTML {what}"
        )));
    }
    let dir = dir_name(&target.name)?;
    let dest = call.build.spec.build_dir.join("html").join(&dir);
    let replaying = executor.is_replaying() && tokio::fs::try_exists(&dest).await.unwrap_or(false);
    if !replaying {
        remove_local(&dest).await?;
        for f in &files {
            let bytes = executor.read_file(&source.join(&f.path)).await?;
            super::artifacts::write_local(&dest.join(&f.path), &bytes).await?;
        }
    }
    call.log(&format!(
        "[htmlpublisher] Archiving HTML report '{}' ({} file(s) from {})",
        target.name,
        files.len(),
        target.dir
    ));
    let report = HtmlReport {
        name: target.name,
        dir,
        files: target.files,
        titles: target.titles,
        keep_all: target.keep_all,
        always_link_to_last_build: target.always_link,
    };
    call.build.add_reports(|r| {
        r.html.retain(|h| h.dir != report.dir);
        r.html.push(report);
    });
    Ok(Value::Null)
}

fn read_target(map: &Value) -> Result<Target, StepError> {
    let text = |key: &str| -> Option<String> {
        map.get(key).and_then(|v| match v {
            Value::Null => None,
            Value::Str(s) => Some(s.clone()),
            other => Some(other.to_string()),
        })
    };
    let flag = |key: &str| map.get(key).is_some_and(Value::is_truthy);
    let list = |key: &str| -> Vec<String> {
        text(key)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let dir = text("reportDir")
        .filter(|d| !d.trim().is_empty())
        .ok_or_else(|| StepError::failed("publishHTML needs `reportDir`"))?;
    let mut files = list("reportFiles");
    if files.is_empty() {
        files.push("index.html".to_owned());
    }
    Ok(Target {
        dir,
        files,
        name: text("reportName").unwrap_or_else(|| "HTML Report".to_owned()),
        titles: list("reportTitles"),
        includes: text("includes").unwrap_or_else(|| "**/*".to_owned()),
        keep_all: flag("keepAll"),
        always_link: flag("alwaysLinkToLastBuild"),
        allow_missing: flag("allowMissing"),
    })
}

/// The report's directory under `html/`: its name with every character other than ASCII
/// letters, digits, `-`, `.` and `_` made `_`, so it is one safe path segment and URL part.
fn dir_name(name: &str) -> Result<String, StepError> {
    let dir: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if dir.is_empty() || dir.chars().all(|c| c == '.') {
        return Err(StepError::failed(format!(
            "publishHTML: reportName '{name}' cannot name a report"
        )));
    }
    Ok(dir)
}

async fn remove_local(dir: &std::path::Path) -> Result<(), StepError> {
    match tokio::fs::remove_dir_all(dir).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StepError::failed(format!(
            "delete `{}` failed: {e}",
            dir.display()
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, Value)]) -> Value {
        Value::Map(
            entries
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn reads_the_target_with_jenkins_defaults() {
        let t = read_target(&map(&[("reportDir", Value::Str("cov".into()))])).unwrap();
        assert_eq!(t.files, ["index.html"]);
        assert_eq!(t.name, "HTML Report");
        assert!(!t.keep_all && !t.allow_missing);
        let t = read_target(&map(&[
            ("reportDir", Value::Str("cov".into())),
            ("reportFiles", Value::Str("a.html, b.html".into())),
            ("reportTitles", Value::Str("A,B".into())),
            ("keepAll", Value::Bool(true)),
        ]))
        .unwrap();
        assert_eq!(t.files, ["a.html", "b.html"]);
        assert_eq!(t.titles, ["A", "B"]);
        assert!(t.keep_all);
        assert!(read_target(&map(&[("reportName", Value::Str("x".into()))])).is_err());
    }

    #[test]
    fn report_names_become_one_safe_segment() {
        assert_eq!(dir_name("Code Coverage").unwrap(), "Code_Coverage");
        assert_eq!(dir_name("../etc").unwrap(), ".._etc");
        assert!(dir_name("..").is_err());
        assert!(dir_name("").is_err());
    }
}
