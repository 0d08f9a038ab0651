//! Values of directives that Jenkins computes when the build starts.

use kiln_syntax::ast::Expr;
use serde::Serialize;

/// A value a directive takes that Jenkins evaluates when the build starts, not when the file
/// is read: a literal, known now, or an expression (a GString, a variable or function
/// defined above the pipeline, `env.BRANCH_NAME == 'main' ? 'H 4 * * *' : ''`) kept for the
/// build to evaluate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Computed<T> {
    Literal(T),
    AtStart(Box<Expr>),
}

impl<T> Computed<T> {
    /// The value, when it was written as a literal.
    pub fn literal(&self) -> Option<&T> {
        match self {
            Computed::Literal(v) => Some(v),
            Computed::AtStart(_) => None,
        }
    }

    /// The expression to evaluate when the build starts, when it is not a literal.
    pub fn expr(&self) -> Option<&Expr> {
        match self {
            Computed::Literal(_) => None,
            Computed::AtStart(e) => Some(e),
        }
    }
}
