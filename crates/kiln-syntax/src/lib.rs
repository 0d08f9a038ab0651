//! The Jenkinsfile front end: a lexer and a recursive-descent parser for the Groovy subset
//! that declarative and scripted pipelines use, producing a syntax tree with byte spans.
//!
//! Parsing never fails and never panics: [`parse`] always returns a tree, with `Error` nodes
//! where the text could not be understood and a [`Diagnostic`] for each problem. It runs in
//! time linear in the input. This crate does no IO and knows nothing of pipeline semantics.

pub mod ast;

pub use kiln_diagnostics::{Diagnostic, Span};
