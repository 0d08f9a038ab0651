//! Request bodies: JSON or YAML by `Content-Type`, and `fieldValidation` (`Strict`, `Warn`,
//! `Ignore`) for unknown and duplicate fields, worded as the apiserver's strict decoder.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::http::header::HeaderValue;
use axum::response::Response;
use kiln_yaml::{Node, NodeKind};
use serde_json::Value;

use crate::api_error::ApiError;
use crate::catalog::ResourceType;
use crate::field_schema;

const ACCEPTED: &str = "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml";

/// How unknown and duplicate fields are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Validation {
    Strict,
    Warn,
    Ignore,
}

fn validation(query: &HashMap<String, String>) -> Result<Validation, ApiError> {
    match query.get("fieldValidation").map(String::as_str) {
        // The apiserver's default when the client says nothing.
        None | Some("" | "Warn") => Ok(Validation::Warn),
        Some("Strict") => Ok(Validation::Strict),
        Some("Ignore") => Ok(Validation::Ignore),
        Some(other) => Err(ApiError::bad_request(format!(
            "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", not {other:?}"
        ))),
    }
}

fn media_type(headers: &HeaderMap) -> String {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A decoded body and the duplicate fields its text repeated (as strict-decoding messages).
struct Decoded {
    value: Value,
    duplicates: Vec<String>,
}

fn decode(headers: &HeaderMap, body: &Bytes) -> Result<Decoded, ApiError> {
    let media = media_type(headers);
    match media.as_str() {
        "" | "application/json" | "*/*" => {
            let value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("{ACCEPTED} (error: {e})")))?;
            // JSON is YAML: the tree keeps repeated keys, which serde_json silently drops.
            let duplicates = std::str::from_utf8(body)
                .ok()
                .and_then(|text| kiln_yaml::parse_tree(text).ok())
                .map(|tree| {
                    let mut found = Vec::new();
                    json_duplicates(&tree, "", &mut found);
                    found
                })
                .unwrap_or_default();
            Ok(Decoded { value, duplicates })
        }
        "application/yaml" => {
            let text = std::str::from_utf8(body)
                .map_err(|e| ApiError::bad_request(format!("{ACCEPTED} (error: {e})")))?;
            let tree = kiln_yaml::parse_tree(text).map_err(|e| {
                ApiError::bad_request(format!("{ACCEPTED} (error: yaml: {})", e.reason))
            })?;
            let mut duplicates = Vec::new();
            yaml_duplicates(&tree, text, &mut duplicates);
            Ok(Decoded {
                value: tree.to_json(),
                duplicates,
            })
        }
        "application/vnd.kubernetes.protobuf" => match super::protobuf::decode(body) {
            Some(value) => Ok(Decoded {
                value,
                duplicates: Vec::new(),
            }),
            None => Err(ApiError::unsupported_body(&media)),
        },
        other => Err(ApiError::unsupported_body(other)),
    }
}

fn json_duplicates(node: &Node, path: &str, found: &mut Vec<String>) {
    match &node.kind {
        NodeKind::Map(entries) => {
            let mut seen = std::collections::HashSet::new();
            for (key, value) in entries {
                let name = key.scalar_text().unwrap_or_default();
                let here = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                if !seen.insert(name) {
                    found.push(format!("duplicate field \"{here}\""));
                }
                json_duplicates(value, &here, found);
            }
        }
        NodeKind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                json_duplicates(item, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

/// `line N: key "x" already set in map`, as the YAML-to-JSON conversion reports it.
fn yaml_duplicates(node: &Node, text: &str, found: &mut Vec<String>) {
    match &node.kind {
        NodeKind::Map(entries) => {
            let mut seen = std::collections::HashSet::new();
            for (key, value) in entries {
                let name = key.scalar_text().unwrap_or_default();
                if !seen.insert(name.clone()) {
                    let offset = usize::try_from(key.span.start).unwrap_or(0);
                    let line = text
                        .get(..offset)
                        .map_or(0, |before| before.matches('\n').count())
                        + 1;
                    found.push(format!(
                        "yaml: unmarshal errors:\n  line {line}: key \"{name}\" already set in map"
                    ));
                }
                yaml_duplicates(value, text, found);
            }
        }
        NodeKind::Seq(items) => {
            for item in items {
                yaml_duplicates(item, text, found);
            }
        }
        _ => {}
    }
}

/// Decodes a create or update body and applies `fieldValidation`: `Strict` fails with 400
/// naming every unknown or duplicate field, `Warn` returns them as warnings, `Ignore` drops
/// them silently.
pub fn decode_object(
    headers: &HeaderMap,
    body: &Bytes,
    rt: &ResourceType,
    query: &HashMap<String, String>,
) -> Result<(Value, Vec<String>), ApiError> {
    let mode = validation(query)?;
    let Decoded { value, duplicates } = decode(headers, body)?;
    if mode == Validation::Ignore {
        return Ok((value, Vec::new()));
    }
    let mut problems: Vec<String> = field_schema::unknown_fields(rt.kind, &value)
        .into_iter()
        .map(|path| format!("unknown field \"{path}\""))
        .collect();
    problems.extend(duplicates);
    if mode == Validation::Strict && !problems.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"v1\" cannot be handled as a {kind}: strict decoding error: {}",
            problems.join(", "),
            kind = rt.kind
        )));
    }
    Ok((value, problems))
}

/// Decodes a body that is not an object to validate (delete options, patches).
pub fn decode_value(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    Ok(decode(headers, body)?.value)
}

/// Adds a `Warning: 299 - "..."` header per warning, as the apiserver does.
pub fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for warning in warnings {
        let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
        let text = format!("299 - \"{}\"", escaped.replace('\n', " "));
        if let Ok(value) = HeaderValue::from_str(&text) {
            response.headers_mut().append("warning", value);
        }
    }
    response
}
