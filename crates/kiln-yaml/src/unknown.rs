//! Keys written in the YAML that a typed value dropped (k8s-openapi ignores unknown
//! fields), found by walking the tree next to the typed value serialized back to JSON.

use crate::{Node, NodeKind};
use kiln_diagnostics::Span;
use serde_json::Value;

/// A key that was written in the YAML but is not a field of the type it was read into.
#[derive(Clone, Debug, PartialEq)]
pub struct UnknownField {
    /// Dotted path of the mapping holding the key, e.g. `spec.containers[0]`.
    pub path: String,
    pub key: String,
    /// Where the key was written.
    pub span: Span,
}

/// Finds every key of `node` that did not survive into `typed` (the typed value serialized
/// back to JSON), below `path`. Keys with null values are skipped: typed values drop those
/// legitimately.
pub fn unknown_fields(node: &Node, typed: &Value, path: &str, out: &mut Vec<UnknownField>) {
    match (&node.kind, typed) {
        (NodeKind::Map(entries), Value::Object(fields)) => {
            for (k, v) in entries {
                let Some(key) = k.scalar_text() else { continue };
                if matches!(v.kind, NodeKind::Null) {
                    continue;
                }
                let child = join(path, &key);
                match fields.get(&key) {
                    Some(t) => unknown_fields(v, t, &child, out),
                    None => out.push(UnknownField {
                        path: path.to_string(),
                        key,
                        span: k.span,
                    }),
                }
            }
        }
        (NodeKind::Seq(items), Value::Array(typed_items)) if items.len() == typed_items.len() => {
            for (i, (item, t)) in items.iter().zip(typed_items).enumerate() {
                unknown_fields(item, t, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}
