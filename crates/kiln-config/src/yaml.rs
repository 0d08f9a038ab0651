//! The one module of kiln-config that parses YAML: text -> a tree of [`Node`]s, each with
//! the byte span where it was written, so later checks can point at any key or value.
//!
//! serde-saphyr does the parsing; its `Spanned<T>` wrapper gives the location of every
//! node, which we turn into a kiln [`Span`]. Typed decoding is done on the tree (in
//! `decode`), not by serde derives, so that one pass reports every problem.

use kiln_diagnostics::{Diagnostic, Span};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// A YAML value with where it was written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

/// What a YAML value is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum NodeKind {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in the order written; duplicate keys are kept so they can be reported.
    Map(Vec<(Node, Node)>),
}

impl NodeKind {
    /// How the kind is named in "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match self {
            NodeKind::Null => "nothing",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// An empty document: an empty mapping at offset 0.
    fn empty() -> Node {
        Node {
            kind: NodeKind::Map(Vec::new()),
            span: Span::at(0),
        }
    }

    /// The node as JSON (for sections kept opaque, such as `executors.kubernetes`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => i64::try_from(*i)
                .map(Value::from)
                .or_else(|_| u64::try_from(*i).map(Value::from))
                .unwrap_or_else(|_| Value::String(i.to_string())),
            NodeKind::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
            }
            NodeKind::Str(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.scalar_text().unwrap_or_default(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// The text of a scalar (strings as written, numbers and booleans printed).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            NodeKind::Str(s) => Some(s.clone()),
            NodeKind::Bool(b) => Some(b.to_string()),
            NodeKind::Int(i) => Some(i.to_string()),
            NodeKind::Float(f) => Some(f.to_string()),
            NodeKind::Null | NodeKind::Seq(_) | NodeKind::Map(_) => None,
        }
    }
}

/// Parses one YAML document into a tree; an empty document is an empty mapping.
pub(crate) fn parse_tree(text: &str) -> Result<Node, Diagnostic> {
    if text.trim().is_empty() || only_comments(text) {
        return Ok(Node::empty());
    }
    // Duplicate keys reach the tree so `Fields` can report both places.
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
    };
    match serde_saphyr::from_str_with_options::<Option<Node>>(text, options) {
        Ok(Some(node)) => Ok(node),
        Ok(None) => Ok(Node::empty()),
        Err(err) => Err(syntax_diagnostic(text, &err)),
    }
}

fn only_comments(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}

/// A YAML syntax error as a diagnostic at the place serde-saphyr reported.
fn syntax_diagnostic(text: &str, err: &serde_saphyr::Error) -> Diagnostic {
    let plain = err.without_snippet();
    let span = plain
        .location()
        .and_then(|loc| {
            loc.span()
                .byte_offset()
                .and_then(|o| u32::try_from(o).ok())
                .or_else(|| offset_of(text, loc.line(), loc.column()))
        })
        .map_or(Span::at(0), Span::at);
    let message = strip_location(&plain.to_string());
    Diagnostic::error("yaml-syntax", format!("invalid YAML: {message}")).with_primary(span, "here")
}

/// serde-saphyr appends ` at line L, column C` to its messages; the diagnostic shows
/// the place itself.
fn strip_location(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message).trim();
    let cut = first.find(" at line ").map_or(first, |i| &first[..i]);
    cut.trim_end_matches(['.', ':']).to_owned()
}

/// The byte offset of a 1-based line and character column.
fn offset_of(text: &str, line: u64, col: u64) -> Option<u32> {
    let mut start = 0usize;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i as u64 + 1 == line {
            let skip = usize::try_from(col.saturating_sub(1)).ok()?;
            let within = l.char_indices().nth(skip).map_or(l.len(), |(b, _)| b);
            return u32::try_from(start + within).ok();
        }
        start += l.len();
    }
    u32::try_from(text.len()).ok()
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<RawKind>::deserialize(deserializer)?;
        let span = spanned.referenced.span();
        let start = span.byte_offset().and_then(|o| u32::try_from(o).ok());
        let len = span.byte_len().and_then(|l| u32::try_from(l).ok());
        let span = match (start, len) {
            (Some(s), Some(l)) => Span::new(s, s.saturating_add(l)),
            (Some(s), None) => Span::at(s),
            _ => Span::at(0),
        };
        Ok(Node {
            kind: spanned.value.0,
            span,
        })
    }
}

/// A node's kind, deserialized from whatever the YAML holds.
struct RawKind(NodeKind);

impl<'de> Deserialize<'de> for RawKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KindVisitor).map(RawKind)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = NodeKind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeKind, D::Error> {
        d.deserialize_any(KindVisitor)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<NodeKind, E> {
        Ok(NodeKind::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NodeKind, E> {
        Ok(NodeKind::Int(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NodeKind, E> {
        Ok(NodeKind::Int(v.into()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<NodeKind, E> {
        Ok(NodeKind::Int(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<NodeKind, E> {
        Ok(i128::try_from(v).map_or(NodeKind::Float(v as f64), NodeKind::Int))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<NodeKind, E> {
        Ok(NodeKind::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeKind, E> {
        Ok(NodeKind::Str(v.to_owned()))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Node {
        parse_tree(text).unwrap()
    }

    #[test]
    fn spans_point_at_keys_and_values() {
        let text = "server:\n  listen: 0.0.0.0:80\njobs:\n  - name: a\n    capacity: lots\n";
        let root = kinds(text);
        let NodeKind::Map(entries) = &root.kind else {
            panic!("not a map: {root:?}")
        };
        let (k, v) = &entries[1];
        assert_eq!(&text[k.span.range()], "jobs");
        let NodeKind::Seq(items) = &v.kind else {
            panic!()
        };
        let NodeKind::Map(job) = &items[0].kind else {
            panic!()
        };
        assert_eq!(&text[job[1].0.span.range()], "capacity");
        assert_eq!(&text[job[1].1.span.range()], "lots");
    }

    #[test]
    fn scalars_are_typed() {
        let root = kinds("a: 2\nb: '2'\nc: true\nd: ~\ne: 1.5\n");
        let NodeKind::Map(e) = root.kind else {
            panic!()
        };
        let got: Vec<_> = e.iter().map(|(_, v)| v.kind.clone()).collect();
        assert_eq!(
            got,
            vec![
                NodeKind::Int(2),
                NodeKind::Str("2".into()),
                NodeKind::Bool(true),
                NodeKind::Null,
                NodeKind::Float(1.5)
            ]
        );
    }

    #[test]
    fn empty_and_comment_only_documents_are_empty_maps() {
        assert_eq!(kinds("").kind, NodeKind::Map(vec![]));
        assert_eq!(kinds("# nothing\n").kind, NodeKind::Map(vec![]));
    }

    #[test]
    fn syntax_errors_have_a_place() {
        let err = parse_tree("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(err.code, "yaml-syntax");
        assert!(err.message.starts_with("invalid YAML: "), "{}", err.message);
    }
}
