//! YAML with positions: the one module of kiln-kube that parses YAML (serde-saphyr).
//!
//! Two views of one text are used together. [`parse_typed`] deserializes straight into a
//! typed value (k8s-openapi's `Pod`, kiln's config types), so a wrong type is reported at the
//! node where it was written. [`parse_tree`] keeps every node with its position, so keys that
//! the typed value dropped (k8s-openapi ignores unknown fields) can be found and reported as
//! unknown fields at their own line and column ([`unknown_fields`]).

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::{Location, SnippetMode, Spanned};
use std::fmt;

/// A position in a YAML text: 1-based line and column (characters), and the byte offset
/// when it is known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: u32,
    pub column: u32,
    pub byte: Option<u32>,
    /// Length in bytes of the node or token at this position (0 when unknown).
    pub len: u32,
}

impl Pos {
    fn from_location(loc: &Location) -> Option<Pos> {
        if loc.line() == 0 {
            return None;
        }
        let span = loc.span();
        Some(Pos {
            line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
            column: u32::try_from(loc.column()).unwrap_or(u32::MAX),
            byte: span.byte_offset().and_then(|b| u32::try_from(b).ok()),
            len: span
                .byte_len()
                .and_then(|b| u32::try_from(b).ok())
                .unwrap_or(0),
        })
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// A YAML parse or type error, with where it happened when the parser knows.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct YamlError {
    pub message: String,
    pub pos: Option<Pos>,
}

impl YamlError {
    fn from_saphyr(err: &serde_saphyr::Error) -> YamlError {
        let plain = err.without_snippet();
        let message = plain.render_with_options(serde_saphyr::render_options! {
            snippets: SnippetMode::Off,
        });
        YamlError {
            message: strip_location_suffix(&message),
            pos: plain.location().as_ref().and_then(Pos::from_location),
        }
    }
}

/// serde-saphyr appends " at line L column C" to plain messages; kiln shows positions itself.
fn strip_location_suffix(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message).trim();
    match first.rfind(" at line ") {
        Some(i) => first[..i].to_string(),
        None => first.to_string(),
    }
}

/// One YAML node and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub pos: Pos,
    pub kind: NodeKind,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys in the order written; a key is kept as a node so its position is known.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The value under `key` of a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_key().as_deref() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A scalar key as text (`1: x` has the key "1").
    pub fn as_key(&self) -> Option<String> {
        match &self.kind {
            NodeKind::Str(s) => Some(s.clone()),
            NodeKind::Bool(b) => Some(b.to_string()),
            NodeKind::Int(i) => Some(i.to_string()),
            NodeKind::UInt(u) => Some(u.to_string()),
            NodeKind::Float(f) => Some(f.to_string()),
            NodeKind::Null | NodeKind::Seq(_) | NodeKind::Map(_) => None,
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<NodeKind>::deserialize(d)?;
        Ok(Node {
            pos: Pos::from_location(&spanned.referenced).unwrap_or_default(),
            kind: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for NodeKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = NodeKind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeKind, D::Error> {
        d.deserialize_any(NodeVisitor)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<NodeKind, E> {
        Ok(NodeKind::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NodeKind, E> {
        Ok(NodeKind::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NodeKind, E> {
        Ok(NodeKind::UInt(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<NodeKind, E> {
        Ok(NodeKind::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeKind, E> {
        Ok(NodeKind::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<NodeKind, E> {
        Ok(NodeKind::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeKind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(NodeKind::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeKind, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let value = map.next_value::<Node>()?;
            entries.push((key, value));
        }
        Ok(NodeKind::Map(entries))
    }
}

/// Parses YAML into a tree of positioned nodes. An empty text is a null node.
pub(crate) fn parse_tree(text: &str) -> Result<Node, YamlError> {
    if text.trim().is_empty() {
        return Ok(Node {
            pos: Pos::default(),
            kind: NodeKind::Null,
        });
    }
    serde_saphyr::from_str::<Node>(text).map_err(|e| YamlError::from_saphyr(&e))
}

/// Parses YAML straight into `T`, so type errors carry the position of the offending node.
pub(crate) fn parse_typed<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    serde_saphyr::from_str::<T>(text).map_err(|e| YamlError::from_saphyr(&e))
}

/// A key that was written in the YAML but is not a field of the type it was read into.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct UnknownField {
    /// Dotted path of the mapping holding the key, e.g. `spec.containers[0]`.
    pub path: String,
    pub key: String,
    pub pos: Pos,
}

/// Finds every key of `node` that did not survive into `typed` (the typed value serialized
/// back to JSON). Keys with null values are skipped: typed values drop those legitimately.
pub(crate) fn unknown_fields(node: &Node, typed: &Value, path: &str, out: &mut Vec<UnknownField>) {
    match (&node.kind, typed) {
        (NodeKind::Map(entries), Value::Object(fields)) => {
            for (k, v) in entries {
                let Some(key) = k.as_key() else { continue };
                if matches!(v.kind, NodeKind::Null) {
                    continue;
                }
                let child = join(path, &key);
                match fields.get(&key) {
                    Some(t) => unknown_fields(v, t, &child, out),
                    None => out.push(UnknownField {
                        path: path.to_string(),
                        key,
                        pos: k.pos,
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

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    #[test]
    fn tree_keeps_positions_of_keys_and_values() {
        let text = "spec:\n  containers:\n  - name: maven\n    image: maven:3\n";
        let tree = parse_tree(text).unwrap();
        let spec = tree.get("spec").unwrap();
        let containers = spec.get("containers").unwrap();
        let NodeKind::Seq(items) = &containers.kind else {
            panic!("not a sequence: {containers:?}")
        };
        let image = items[0].get("image").unwrap();
        assert_eq!((image.pos.line, image.pos.column), (4, 12));
        assert_eq!(image.pos.byte, Some(text.find("maven:3").unwrap() as u32));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse_tree("spec:\n  containers: [a, b\n").unwrap_err();
        assert!(err.pos.is_some(), "{err:?}");
        assert!(!err.message.contains(" at line "), "{}", err.message);
    }

    #[test]
    fn type_errors_point_at_the_node() {
        let text = "spec:\n  containers:\n  - name: a\n    image: x\n    ports: 80\n";
        let err = parse_typed::<Pod>(text).unwrap_err();
        let pos = err.pos.unwrap();
        assert_eq!(pos.line, 5, "{err:?}");
    }

    #[test]
    fn unknown_fields_are_found_with_their_path() {
        let text = "spec:\n  containers:\n  - name: a\n    image: x\n    imagePullPolice: Always\n  nodeSelectr:\n    a: b\n";
        let tree = parse_tree(text).unwrap();
        let pod: Pod = parse_typed(text).unwrap();
        let mut out = Vec::new();
        unknown_fields(&tree, &serde_json::to_value(&pod).unwrap(), "", &mut out);
        let found: Vec<_> = out
            .iter()
            .map(|u| (u.path.as_str(), u.key.as_str(), u.pos.line))
            .collect();
        assert_eq!(
            found,
            [
                ("spec.containers[0]", "imagePullPolice", 5),
                ("spec", "nodeSelectr", 6)
            ]
        );
    }

    #[test]
    fn null_values_and_empty_maps_are_not_unknown() {
        let text = "metadata:\n  labels: {}\nspec:\n  volumes:\n  - name: w\n    emptyDir: {}\n  hostname: null\n  containers: []\n";
        let tree = parse_tree(text).unwrap();
        let pod: Pod = parse_typed(text).unwrap();
        let mut out = Vec::new();
        unknown_fields(&tree, &serde_json::to_value(&pod).unwrap(), "", &mut out);
        assert_eq!(out, []);
    }
}
