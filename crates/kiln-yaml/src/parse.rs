//! The entry points: text -> tree, text -> typed value, text -> every document.

use crate::{Node, NodeKind, YamlError};
use serde::de::DeserializeOwned;

/// Parses one YAML document into a tree. An empty document (nothing but blanks, comments
/// and document markers) is an empty mapping at offset 0. Duplicate keys are kept in the
/// tree so the reader can report both places.
pub fn parse_tree(text: &str) -> Result<Node, YamlError> {
    if only_comments(text) {
        return Ok(Node::empty_map(0));
    }
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
    };
    match serde_saphyr::from_str_with_options::<Option<Node>>(text, options) {
        Ok(Some(node)) => Ok(node),
        Ok(None) => Ok(Node {
            kind: NodeKind::Null,
            span: kiln_diagnostics::Span::at(0),
        }),
        Err(err) => Err(YamlError::from_saphyr(text, &err)),
    }
}

/// Parses one YAML document straight into `T`, so a wrong type or an unknown field (with
/// `deny_unknown_fields`) is reported at the node where it was written.
pub fn parse_typed<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    serde_saphyr::from_str::<T>(text).map_err(|e| YamlError::from_saphyr(text, &e))
}

/// Parses every document of a multi-document text (`---` separated) into `T`.
pub fn parse_documents<T: DeserializeOwned>(text: &str) -> Result<Vec<T>, YamlError> {
    serde_saphyr::from_multiple::<T>(text).map_err(|e| YamlError::from_saphyr(text, &e))
}

fn only_comments(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}
