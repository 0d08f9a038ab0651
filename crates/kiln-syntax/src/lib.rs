//! The Jenkinsfile front end: a lexer and a recursive-descent parser for the Groovy subset
//! that declarative and scripted pipelines use, producing a syntax tree with byte spans.
//!
//! Parsing never fails and never panics: [`parse`] always returns a tree, with `Error` nodes
//! where the text could not be understood and a [`Diagnostic`] for each problem. It runs in
//! time linear in the input. This crate does no IO and knows nothing of pipeline semantics.
//!
//! Data flow: [`lexer`](crate::lexer) (text to tokens; strings and `${}` handled with a mode
//! stack), then `parser` (tokens to [`ast`] nodes). [`dump`] prints a tree for snapshot tests.

pub mod ast;
mod dump;
mod lexer;
mod parser;
mod string;
mod token;

pub use dump::{dump, dump_expr};
pub use kiln_diagnostics::{Diagnostic, Span};
pub use parser::ParseStats;

/// Parses a whole Jenkinsfile. Never fails: problems are returned as diagnostics, sorted by
/// position, next to a tree with `Error` nodes where needed.
pub fn parse(text: &str) -> (ast::File, Vec<Diagnostic>) {
    let (file, diags, _) = parser::parse_file(text);
    (file, diags)
}

/// Parses a standalone expression, e.g. text embedded in another file. Every span (in the
/// tree and in the diagnostics) is shifted by `base_offset`.
pub fn parse_expression(text: &str, base_offset: u32) -> (ast::Expr, Vec<Diagnostic>) {
    parser::parse_standalone_expr(text, base_offset)
}

/// Like [`parse`], also returning counters of the work done (for the linear-time test).
#[doc(hidden)]
pub fn parse_with_stats(text: &str) -> (ast::File, Vec<Diagnostic>, ParseStats) {
    parser::parse_file(text)
}
