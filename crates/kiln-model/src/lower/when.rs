//! `when { branch 'main'; expression { ... }; not { ... }; beforeAgent true }`.

use super::cx::{CallView, Cx};
use crate::{Comparator, Condition, ConditionKind, ScriptBlock, When};
use kiln_syntax::ast::{Expr, ExprKind};

const CONDITIONS: &[&str] = &[
    "branch",
    "tag",
    "buildingTag",
    "isRestartedRun",
    "changeRequest",
    "environment",
    "equals",
    "expression",
    "not",
    "allOf",
    "anyOf",
    "triggeredBy",
    "changeset",
    "changelog",
    "beforeAgent",
    "beforeInput",
    "beforeOptions",
];

const CHANGE_REQUEST_FIELDS: &[&str] = &[
    "id",
    "target",
    "branch",
    "fork",
    "url",
    "title",
    "author",
    "authorDisplayName",
    "authorEmail",
    "comparator",
];

pub(super) fn when(cx: &mut Cx, call: &CallView<'_>) -> Option<When> {
    let mut w = When {
        conditions: Vec::new(),
        before_agent: false,
        before_input: false,
        before_options: false,
        span: call.span,
    };
    for stmt in call.body() {
        let Some(c) = CallView::of_stmt(stmt) else {
            bad(cx, stmt.span);
            continue;
        };
        match c.name.value {
            "beforeAgent" | "beforeInput" | "beforeOptions" => {
                let v = c
                    .single()
                    .and_then(|e| cx.literal_bool(e, &format!("`{}`", c.name.value)))
                    .unwrap_or(false);
                match c.name.value {
                    "beforeAgent" => w.before_agent = v,
                    "beforeInput" => w.before_input = v,
                    _ => w.before_options = v,
                }
            }
            _ => w.conditions.extend(condition(cx, &c)),
        }
    }
    if w.conditions.is_empty() {
        cx.error(
            "empty-when",
            call.name.span,
            "`when` has no condition",
            "add e.g. `branch 'main'` or remove `when`",
        );
    }
    Some(w)
}

fn bad(cx: &mut Cx, span: kiln_diagnostics::Span) {
    cx.error(
        "expected-condition",
        span,
        "expected a `when` condition",
        "e.g. `branch 'main'` or `expression { return params.DEPLOY }`",
    );
}

fn comparator(cx: &mut Cx, c: &CallView<'_>) -> Comparator {
    let Some(e) = c.named("comparator") else {
        return Comparator::Glob;
    };
    // Jenkins reads the comparator's name without regard to case (`'regexp'`).
    match cx
        .literal_string(e, "the comparator")
        .map(|c| c.to_ascii_uppercase())
        .as_deref()
    {
        Some("GLOB") | None => Comparator::Glob,
        Some("REGEXP") => Comparator::Regexp,
        Some("EQUALS") => Comparator::Equals,
        Some(other) => {
            cx.error(
                "invalid-comparator",
                e.span,
                format!("unknown comparator `{other}`"),
                "expected `GLOB`, `REGEXP` or `EQUALS`",
            );
            Comparator::Glob
        }
    }
}

/// The pattern of `branch 'x'` / `branch pattern: 'x'`.
fn pattern(cx: &mut Cx, c: &CallView<'_>, required: bool) -> Option<Expr> {
    let p = c
        .named("pattern")
        .or_else(|| c.positional().next())
        .cloned();
    if let Some(e) = &p
        && matches!(
            e.kind,
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_)
        )
    {
        cx.error(
            "wrong-type",
            e.span,
            format!("the pattern of `{}` must be a string", c.name.value),
            format!("expected `{} 'pattern'`", c.name.value),
        );
        return None;
    }
    if p.is_none() && required {
        cx.error(
            "missing-argument",
            c.span,
            format!("`{}` needs a pattern", c.name.value),
            format!("expected `{} 'pattern'`", c.name.value),
        );
    }
    p
}

/// Conditions nested in `not { }`, `allOf { }`, `anyOf { }`.
fn nested(cx: &mut Cx, c: &CallView<'_>) -> Vec<Condition> {
    let mut out = Vec::new();
    if c.closure.is_none() {
        cx.error(
            "expected-block",
            c.span,
            format!("`{}` needs a block of conditions", c.name.value),
            format!("expected `{} {{ branch 'main' }}`", c.name.value),
        );
    } else if c.body().is_empty() {
        cx.error(
            "empty-condition",
            c.name.span,
            format!("`{}` has no conditions", c.name.value),
            format!("expected `{} {{ branch 'main' }}`", c.name.value),
        );
    }
    if !c.args.is_empty() {
        cx.error(
            "unexpected-argument",
            c.span,
            format!("`{}` takes no arguments", c.name.value),
            "its conditions go in its block",
        );
    }
    for stmt in c.body() {
        match CallView::of_stmt(stmt) {
            Some(inner) => out.extend(condition(cx, &inner)),
            None => bad(cx, stmt.span),
        }
    }
    out
}

fn condition(cx: &mut Cx, c: &CallView<'_>) -> Option<Condition> {
    let what = format!("`{}`", c.name.value);
    let kind = match c.name.value {
        "branch" => {
            cx.check_named(c, &what, &["pattern", "comparator"]);
            ConditionKind::Branch {
                pattern: pattern(cx, c, true)?,
                comparator: comparator(cx, c),
            }
        }
        "tag" => {
            cx.check_named(c, &what, &["pattern", "comparator"]);
            ConditionKind::Tag {
                pattern: pattern(cx, c, false),
                comparator: comparator(cx, c),
            }
        }
        "buildingTag" => ConditionKind::BuildingTag,
        "isRestartedRun" => ConditionKind::IsRestartedRun,
        "changeRequest" => {
            cx.check_named(c, &what, CHANGE_REQUEST_FIELDS);
            ConditionKind::ChangeRequest {
                fields: c
                    .args
                    .iter()
                    .filter_map(|a| a.name.as_ref().map(|n| (n.name.clone(), a.value.clone())))
                    .filter(|(n, _)| n != "comparator")
                    .collect(),
                comparator: comparator(cx, c),
            }
        }
        "environment" => {
            cx.check_named(c, &what, &["name", "value", "ignoreCase"]);
            let (Some(name), Some(value)) = (c.named("name"), c.named("value")) else {
                cx.error(
                    "missing-argument",
                    c.span,
                    "`environment` condition needs `name` and `value`",
                    "expected `environment name: 'DEPLOY_TO', value: 'production'`",
                );
                return None;
            };
            ConditionKind::Environment {
                name: name.clone(),
                value: value.clone(),
                ignore_case: c
                    .named("ignoreCase")
                    .and_then(|e| cx.literal_bool(e, "`ignoreCase`"))
                    .unwrap_or(false),
            }
        }
        "equals" => {
            cx.check_named(c, &what, &["expected", "actual"]);
            let (Some(expected), Some(actual)) = (c.named("expected"), c.named("actual")) else {
                cx.error(
                    "missing-argument",
                    c.span,
                    "`equals` needs `expected` and `actual`",
                    "expected `equals expected: 2, actual: currentBuild.number`",
                );
                return None;
            };
            ConditionKind::Equals {
                expected: expected.clone(),
                actual: actual.clone(),
            }
        }
        "expression" => {
            let Some(closure) = c.closure else {
                cx.error(
                    "expected-block",
                    c.span,
                    "`expression` needs a block",
                    "expected `expression { return params.DEPLOY }`",
                );
                return None;
            };
            ConditionKind::Expression(ScriptBlock {
                statements: closure.body.clone(),
                span: closure.span,
            })
        }
        "not" => {
            let mut inner = nested(cx, c);
            if inner.len() != 1 {
                cx.error(
                    "invalid-not",
                    c.name.span,
                    "`not` takes exactly one condition",
                    format!("found {}; use `allOf` or `anyOf` inside `not`", inner.len()),
                );
                return None;
            }
            ConditionKind::Not(Box::new(inner.remove(0)))
        }
        "allOf" => ConditionKind::AllOf(nested(cx, c)),
        "anyOf" => ConditionKind::AnyOf(nested(cx, c)),
        "triggeredBy" => {
            cx.check_named(c, &what, &["cause", "detail"]);
            let Some(cause) = c.named("cause").or_else(|| c.single()) else {
                cx.error(
                    "missing-argument",
                    c.span,
                    "`triggeredBy` needs a cause",
                    "expected `triggeredBy 'TimerTrigger'`",
                );
                return None;
            };
            ConditionKind::TriggeredBy {
                cause: cause.clone(),
                detail: c.named("detail").cloned(),
            }
        }
        "changeset" => {
            cx.check_named(c, &what, &["pattern", "caseSensitive", "comparator"]);
            ConditionKind::Changeset {
                pattern: pattern(cx, c, true)?,
                case_sensitive: c
                    .named("caseSensitive")
                    .and_then(|e| cx.literal_bool(e, "`caseSensitive`"))
                    .unwrap_or(false),
                comparator: comparator(cx, c),
            }
        }
        "changelog" => ConditionKind::Changelog {
            pattern: pattern(cx, c, true)?,
        },
        _ => {
            cx.unknown("unknown-condition", "`when` condition", c.name, CONDITIONS);
            return None;
        }
    };
    if !matches!(c.name.value, "expression" | "not" | "allOf" | "anyOf") {
        cx.no_block(c, &what);
    }
    Some(Condition { kind, span: c.span })
}
