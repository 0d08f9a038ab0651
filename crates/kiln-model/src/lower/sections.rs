//! The shape Jenkins requires of a section before its content is read: a block, not an
//! argument (`environment "x"` is refused), and not empty (`options { }` is refused).

use super::cx::{CallView, Cx};
use kiln_diagnostics::{Diagnostic, Span};
use kiln_syntax::ast::Stmt;
use std::collections::HashMap;

/// Sections that must be a non-empty block, with what an entry looks like.
fn example(name: &str) -> Option<&'static str> {
    Some(match name {
        "environment" => "NAME = 'value'",
        "options" => "timeout(time: 1, unit: 'HOURS')",
        "parameters" => "string(name: 'WHO', defaultValue: 'world')",
        "triggers" => "cron('H 4 * * *')",
        "tools" => "maven 'maven-3'",
        "libraries" => "lib('helpers@main')",
        "post" => "always { echo 'done' }",
        "excludes" => "exclude { axis { name 'OS'; values 'mac' } }",
        "exclude" => "axis { name 'OS'; values 'mac' }",
        _ => return None,
    })
}

/// What the statements of a block must be: the error for one that is not a call.
pub(super) struct Expected {
    pub code: &'static str,
    pub message: &'static str,
    pub hint: &'static str,
}

/// `stmt` as a call, or `None` with the error that it is not what the block `expected`.
pub(super) fn expect_call<'a>(
    cx: &mut Cx,
    stmt: &'a Stmt,
    expected: &Expected,
) -> Option<CallView<'a>> {
    let call = CallView::of_stmt(stmt);
    if call.is_none() {
        cx.error(expected.code, stmt.span, expected.message, expected.hint);
    }
    call
}

/// Checks the shape of section `call`; false when its content should not be read.
pub(super) fn well_formed(cx: &mut Cx, call: &CallView<'_>) -> bool {
    let name = call.name.value;
    let Some(entry) = example(name) else {
        return true;
    };
    let Some(closure) = call.closure else {
        cx.error(
            "expected-block",
            call.span,
            format!("`{name}` must be a block"),
            format!("expected `{name} {{ {entry} }}`"),
        );
        return false;
    };
    if !call.args.is_empty() {
        cx.error(
            "unexpected-argument",
            call.span,
            format!("`{name}` takes no arguments"),
            format!("expected `{name} {{ {entry} }}`"),
        );
    }
    if closure.body.is_empty() {
        cx.error(
            "empty-section",
            call.name.span,
            format!("`{name}` is empty"),
            format!("give it an entry, such as `{entry}`, or remove it"),
        );
        return false;
    }
    true
}

/// One entry of `options`, `triggers` or `parameters`: Jenkins refuses a block after it
/// (`cron('@daily') { ... }`) and, given `seen`, the same option or trigger twice.
pub(super) fn entry(
    cx: &mut Cx,
    e: &CallView<'_>,
    what: &str,
    seen: Option<&mut HashMap<&'static str, Span>>,
    name: Option<&'static str>,
) -> bool {
    if let Some(c) = e.closure {
        cx.error(
            "unexpected-block",
            c.span,
            format!("{what} `{}` takes no block", e.name.value),
            format!("a block belongs to steps, not to a {what}"),
        );
        return false;
    }
    if let (Some(seen), Some(name)) = (seen, name)
        && let Some(first) = seen.insert(name, e.name.span)
    {
        cx.push(
            Diagnostic::error(
                "duplicate-entry",
                format!("{what} `{}` is given twice", e.name.value),
            )
            .with_primary(e.name.span, "second occurrence")
            .with_secondary(first, "first occurrence"),
        );
        return false;
    }
    true
}
