//! `readJSON`, `writeJSON`, `readYaml`, `writeYaml` (Pipeline Utility Steps): data files in
//! the workspace, or text, to and from script values. This module owns the engine's YAML.

use super::StepCall;
use crate::error::StepError;
use kiln_script::Value;
use std::fmt::Write as _;

/// The text of `file:` (relative to the current directory) or `text:`.
async fn input(call: &StepCall<'_>, step: &str) -> Result<String, StepError> {
    if let Some(file) = call.string("file")? {
        let bytes = call
            .executor()?
            .read_file(&call.scope.cwd.join(file))
            .await?;
        return Ok(String::from_utf8_lossy(&bytes).into_owned());
    }
    call.string("text")?
        .ok_or_else(|| StepError::failed(format!("`{step}` needs `file` or `text`")))
}

pub(crate) async fn read_json(call: &StepCall<'_>) -> Result<Value, StepError> {
    let text = input(call, "readJSON").await?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| StepError::failed(format!("readJSON: invalid JSON: {e}")))?;
    Ok(from_json(json))
}

pub(crate) async fn read_yaml(call: &StepCall<'_>) -> Result<Value, StepError> {
    let text = input(call, "readYaml").await?;
    let json: serde_json::Value = kiln_yaml::parse_typed(&text)
        .map_err(|e| StepError::failed(format!("readYaml: invalid YAML: {e}")))?;
    Ok(from_json(json))
}

pub(crate) async fn write_json(call: &StepCall<'_>) -> Result<Value, StepError> {
    let file = call.req_string("file")?;
    let value = call
        .value("json")?
        .ok_or_else(|| StepError::failed("`writeJSON` needs `json`"))?;
    let json = to_json(&value);
    let text = match call.int("pretty")? {
        Some(n) if n > 0 => serde_json::to_string_pretty(&json),
        _ => serde_json::to_string(&json),
    }
    .map_err(|e| StepError::failed(format!("writeJSON: {e}")))?;
    write(call, &file, &text).await
}

pub(crate) async fn write_yaml(call: &StepCall<'_>) -> Result<Value, StepError> {
    let file = call.req_string("file")?;
    let value = call
        .value("data")?
        .ok_or_else(|| StepError::failed("`writeYaml` needs `data`"))?;
    let path = call.scope.cwd.join(&file);
    if !call.bool("overwrite", false)? && call.executor()?.file_exists(&path).await? {
        return Err(StepError::failed(format!(
            "writeYaml: {file} already exists (use overwrite: true)"
        )));
    }
    let mut text = String::new();
    yaml(&value, 0, &mut text);
    write(call, &file, &text).await
}

async fn write(call: &StepCall<'_>, file: &str, text: &str) -> Result<Value, StepError> {
    let path = call.scope.cwd.join(file);
    call.executor()?.write_file(&path, text.as_bytes()).await?;
    Ok(Value::Null)
}

fn from_json(j: serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0)), Value::Int),
        serde_json::Value::String(s) => Value::Str(s),
        serde_json::Value::Array(a) => Value::List(a.into_iter().map(from_json).collect()),
        serde_json::Value::Object(o) => {
            Value::Map(o.into_iter().map(|(k, v)| (k, from_json(v))).collect())
        }
    }
}

fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null | Value::Closure(_) => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Float(f) => serde_json::Value::from(*f),
        Value::Str(s) => serde_json::Value::String(s.clone()),
        Value::List(l) => serde_json::Value::Array(l.iter().map(to_json).collect()),
        Value::Map(m) => {
            serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

/// A YAML scalar: plain when unambiguous, else double-quoted (JSON escaping is valid YAML).
fn scalar(v: &Value) -> String {
    match v {
        Value::Null | Value::Closure(_) => "null".to_owned(),
        Value::Str(s) => {
            let plain = !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
                && !matches!(
                    s.as_str(),
                    "true" | "false" | "null" | "yes" | "no" | "on" | "off"
                )
                && s.parse::<f64>().is_err();
            if plain {
                s.clone()
            } else {
                serde_json::Value::String(s.clone()).to_string()
            }
        }
        other => other.to_string(),
    }
}

/// Block-style YAML of a value at `indent` spaces.
fn yaml(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Map(m) if !m.is_empty() => {
            for (k, item) in m {
                let key = scalar(&Value::Str(k.clone()));
                match item {
                    Value::Map(x) if !x.is_empty() => {
                        let _ = writeln!(out, "{pad}{key}:");
                        yaml(item, indent + 2, out);
                    }
                    Value::List(x) if !x.is_empty() => {
                        let _ = writeln!(out, "{pad}{key}:");
                        yaml(item, indent, out);
                    }
                    _ => {
                        let _ = writeln!(out, "{pad}{key}: {}", inline(item));
                    }
                }
            }
        }
        Value::List(l) if !l.is_empty() => {
            for item in l {
                match item {
                    Value::Map(x) if !x.is_empty() => {
                        let mut nested = String::new();
                        yaml(item, indent + 2, &mut nested);
                        let _ = write!(out, "{pad}- {}", nested.trim_start());
                    }
                    Value::List(x) if !x.is_empty() => {
                        let _ = writeln!(out, "{pad}-");
                        yaml(item, indent + 2, out);
                    }
                    _ => {
                        let _ = writeln!(out, "{pad}- {}", inline(item));
                    }
                }
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{}", inline(other));
        }
    }
}

fn inline(v: &Value) -> String {
    match v {
        Value::Map(_) => "{}".to_owned(),
        Value::List(_) => "[]".to_owned(),
        other => scalar(other),
    }
}
