//! `environment { NAME = 'value'; TOKEN = credentials('id') }`.

use super::cx::{CallView, Cx};
use crate::{EnvEntry, EnvValue};
use kiln_diagnostics::{Diagnostic, Spanned};
use kiln_syntax::ast::{AssignOp, ExprKind, StmtKind};
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
            _ => EnvValue::Expr(value.as_ref().clone()),
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
