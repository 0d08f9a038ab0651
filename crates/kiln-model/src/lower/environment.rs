//! `environment { NAME = 'value'; TOKEN = credentials('id') }`.

use super::cx::{CallView, Cx};
use crate::{EnvEntry, EnvValue};
use kiln_diagnostics::{Diagnostic, Spanned};
use kiln_syntax::ast::{AssignOp, BinaryOp, Expr, ExprKind, StmtKind};
use std::collections::HashMap;

pub(super) fn environment(cx: &mut Cx, call: &CallView<'_>) -> Vec<EnvEntry> {
    let mut out = Vec::new();
    let mut seen = HashMap::new();
    for stmt in call.body() {
        let StmtKind::Expr(e) = &stmt.kind else {
            bad(cx, stmt.span);
            continue;
        };
        let ExprKind::Assign {
            op: AssignOp::Assign,
            target,
            value,
        } = &e.kind
        else {
            bad(cx, stmt.span);
            continue;
        };
        let Some(name) = target.as_ident() else {
            cx.error(
                "invalid-environment-name",
                target.span,
                "environment variable names must be plain identifiers",
                "expected e.g. `DEPLOY_ENV = 'staging'`",
            );
            continue;
        };
        // Groovy reads `$NAME` as a name; Jenkins (and the shell) do not.
        if name.contains('$') {
            cx.error(
                "invalid-environment-name",
                target.span,
                "environment variable names must be plain identifiers",
                format!("`{name}` is not a valid variable name: use letters, digits and `_`"),
            );
            continue;
        }
        if let Some(first) = seen.insert(name.to_string(), target.span) {
            cx.push(
                Diagnostic::error(
                    "duplicate-environment",
                    format!("environment variable `{name}` is set twice"),
                )
                .with_primary(target.span, "set again here")
                .with_secondary(first, "first set here"),
            );
        }
        let value = match CallView::of_expr(value) {
            Some(c)
                if c.name.value == "credentials" && matches!(value.kind, ExprKind::Call { .. }) =>
            {
                match c.single() {
                    Some(id) => EnvValue::Credentials { id: id.clone() },
                    None => {
                        cx.error(
                            "wrong-arguments",
                            c.span,
                            "`credentials` takes one credentials id",
                            "expected `credentials('my-id')`",
                        );
                        continue;
                    }
                }
            }
            _ => {
                if !check_value(cx, value) {
                    continue;
                }
                EnvValue::Expr(value.as_ref().clone())
            }
        };
        out.push(EnvEntry {
            name: Spanned::new(name.to_string(), target.span),
            value,
        });
    }
    out
}

fn bad(cx: &mut Cx, span: kiln_diagnostics::Span) {
    cx.error(
        "expected-assignment",
        span,
        "expected `NAME = value` in `environment`",
        "only assignments are allowed here",
    );
}

/// Jenkins' rule for an environment value: a string, a number or boolean, a function call,
/// or strings joined with `+`. Reports anything else; true when the value is accepted.
fn check_value(cx: &mut Cx, value: &Expr) -> bool {
    match &value.kind {
        ExprKind::Call { callee, .. } if callee.as_ident() == Some("$") => {
            cx.error(
                "bare-dollar-curly",
                value.span,
                "`${...}` cannot be used as a value directly",
                "put it in double quotes: `\"${...}\"`",
            );
            false
        }
        ExprKind::Str(_)
        | ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Bool(_)
        | ExprKind::Null
        | ExprKind::Call { .. } => true,
        ExprKind::Binary {
            op: BinaryOp::Add, ..
        } => concatenation(cx, value),
        ExprKind::Binary { .. } => {
            invalid_operation(cx, value);
            false
        }
        _ => {
            cx.error(
                "invalid-environment-value",
                value.span,
                "an environment value must be a string, a function call, or strings joined with `+`",
                format!(
                    "found {}; write it in a GString: `\"${{...}}\"`",
                    super::cx::describe(value)
                ),
            );
            false
        }
    }
}

/// `"a" + "b" + "${c}"`: only `+`, and only strings (or other constants) joined.
fn concatenation(cx: &mut Cx, value: &Expr) -> bool {
    let ExprKind::Binary { op, lhs, rhs } = &value.kind else {
        return joinable(cx, value);
    };
    if *op != BinaryOp::Add {
        invalid_operation(cx, value);
        return false;
    }
    let left = match &lhs.kind {
        ExprKind::Binary { .. } => concatenation(cx, lhs),
        _ => joinable(cx, lhs),
    };
    joinable(cx, rhs) && left
}

fn joinable(cx: &mut Cx, part: &Expr) -> bool {
    if matches!(
        part.kind,
        ExprKind::Str(_) | ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_)
    ) {
        return true;
    }
    cx.error(
        "invalid-environment-value",
        part.span,
        "environment values joined with `+` must be quoted strings",
        format!("found {}", super::cx::describe(part)),
    );
    false
}

fn invalid_operation(cx: &mut Cx, value: &Expr) {
    cx.error(
        "invalid-environment-operation",
        value.span,
        "environment values can only be joined with `+`",
        "only `+` joins strings here",
    );
}
