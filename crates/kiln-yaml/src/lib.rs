//! YAML with positions: the only crate of kiln that names serde-saphyr.
//!
//! Two views of one text are used together. [`parse_tree`] keeps every value as a [`Node`]
//! with the byte [`Span`](kiln_diagnostics::Span) where it was written (keys too, and
//! duplicate keys, so callers can report both places), for readers that check a document
//! by hand and collect every problem. [`parse_typed`] deserializes straight into a serde
//! type, so a wrong type is reported at the node where it was written; [`unknown_fields`]
//! then finds the keys the typed value silently dropped. Failures are [`YamlError`]s (what
//! and where), which become kiln [`Diagnostic`](kiln_diagnostics::Diagnostic)s.
//!
//! Line and column are not stored in nodes: spans are byte offsets, and
//! [`SourceFile`](kiln_diagnostics::SourceFile) turns them into `line:col` when shown.
//! This crate does no IO and depends on nothing of kiln's but kiln-diagnostics.

mod error;
mod node;
mod parse;
mod unknown;

pub use error::YamlError;
pub use node::{Node, NodeKind};
pub use parse::{parse_documents, parse_tree, parse_typed};
pub use unknown::{UnknownField, unknown_fields};
