//! `matrix { axes { axis { name 'OS'; values 'linux', 'mac' } } excludes { } stages { } }`.

use super::cx::{CallView, Cx};
use super::directives::{StageCx, stages};
use super::sections::{Expected, expect_call};
use super::{agent, environment, options, parameters, post, when};
use crate::{Axis, Exclude, ExcludeAxis, Matrix, Post};
use kiln_diagnostics::{Diagnostic, Spanned};
use kiln_syntax::ast::ExprKind;

const NOT_A_MATRIX_DIRECTIVE: Expected = Expected {
    code: "expected-directive",
    message: "expected a directive in `matrix`",
    hint: "e.g. `axes { ... }`",
};

const NOT_AN_AXIS_SETTING: Expected = Expected {
    code: "expected-directive",
    message: "expected `name` or `values`",
    hint: "e.g. `values 'linux', 'mac'`",
};

const MATRIX_DIRECTIVES: &[&str] = &[
    "axes",
    "excludes",
    "agent",
    "environment",
    "options",
    "when",
    "tools",
    "stages",
    "post",
];

pub(super) fn matrix(
    cx: &mut Cx,
    scx: &mut StageCx,
    call: &CallView<'_>,
    has_agent: bool,
) -> Option<Matrix> {
    let mut m = Matrix {
        axes: Vec::new(),
        excludes: Vec::new(),
        agent: None,
        environment: Vec::new(),
        options: crate::Options::default(),
        when: None,
        tools: Vec::new(),
        stages: Vec::new(),
        post: Post::default(),
        span: call.span,
    };
    let mut stages_call = None;
    let mut axes_span = None;
    for stmt in call.body() {
        let Some(d) = expect_call(cx, stmt, &NOT_A_MATRIX_DIRECTIVE) else {
            continue;
        };
        if !super::sections::well_formed(cx, &d) {
            continue;
        }
        match d.name.value {
            "axes" => {
                axes_span = Some(d.name.span);
                m.axes = axes(cx, &d);
            }
            "excludes" => m.excludes = excludes(cx, &d),
            "agent" => m.agent = agent::agent(cx, &d),
            "environment" => m.environment = environment::environment(cx, &d),
            "options" => m.options = options::options(cx, &d, options::Level::Stage),
            "when" => m.when = when::when(cx, &d),
            "tools" => m.tools = parameters::tools(cx, &d),
            "post" => m.post = post::post(cx, &d),
            "stages" => stages_call = Some(d),
            _ => cx.unknown(
                "unknown-directive",
                "directive in `matrix`",
                d.name,
                MATRIX_DIRECTIVES,
            ),
        }
    }
    if m.axes.is_empty() {
        cx.error(
            "missing-axes",
            // At `axes { }` when it is there but holds none, as Jenkins reports it.
            axes_span.unwrap_or(call.name.span),
            "`matrix` has no axes",
            "add `axes { axis { name 'X'; values 'a', 'b' } }`",
        );
    }
    let has_agent = has_agent || m.agent.is_some();
    match stages_call {
        Some(s) => m.stages = stages(cx, scx, &s, has_agent, true),
        None => cx.error(
            "missing-stages",
            call.name.span,
            "`matrix` has no `stages`",
            "add `stages { stage('Test') { steps { ... } } }`",
        ),
    }
    check_excludes(cx, &m);
    Some(m)
}

fn axes(cx: &mut Cx, call: &CallView<'_>) -> Vec<Axis> {
    let mut out: Vec<Axis> = Vec::new();
    for stmt in call.body() {
        match CallView::of_stmt(stmt) {
            Some(a) if a.name.value == "axis" => {
                if let Some((name, values, _)) = axis(cx, &a, false) {
                    if let Some(first) = out.iter().find(|x| x.name.value == name.value) {
                        cx.push(
                            Diagnostic::error(
                                "duplicate-axis",
                                format!("axis `{}` is defined twice", name.value),
                            )
                            .with_primary(name.span, "defined again here")
                            .with_secondary(first.name.span, "first defined here"),
                        );
                        continue;
                    }
                    out.push(Axis { name, values });
                }
            }
            Some(a) => cx.unknown("unknown-directive", "entry in `axes`", a.name, &["axis"]),
            None => cx.error(
                "expected-directive",
                stmt.span,
                "expected `axis { ... }`",
                "only axes are allowed here",
            ),
        }
    }
    out
}

/// `axis { name 'X'; values 'a', 'b' }` (or `notValues` inside an exclude).
fn axis(
    cx: &mut Cx,
    call: &CallView<'_>,
    in_exclude: bool,
) -> Option<(Spanned<String>, Vec<Spanned<String>>, bool)> {
    let mut name = None;
    let mut values = Vec::new();
    let mut negated = false;
    let mut values_seen = None;
    for stmt in call.body() {
        let Some(f) = expect_call(cx, stmt, &NOT_AN_AXIS_SETTING) else {
            continue;
        };
        match f.name.value {
            "name" => {
                name = f.single().and_then(|e| {
                    cx.literal_string(e, "an axis name")
                        .map(|s| Spanned::new(s, e.span))
                });
            }
            "values" | "notValues" if f.name.value == "values" || in_exclude => {
                if let Some(first) = values_seen.replace(f.name.span) {
                    cx.push(
                        Diagnostic::error(
                            "values-and-not-values",
                            "an axis of an exclude takes `values` or `notValues`, once",
                        )
                        .with_primary(f.name.span, "second list of values")
                        .with_secondary(first, "first list of values"),
                    );
                }
                negated = f.name.value == "notValues";
                for v in f.positional() {
                    // Numbers and booleans are values too; a cell's variable holds their text.
                    let text = match &v.kind {
                        ExprKind::Int(n) => Some(n.to_string()),
                        ExprKind::Bool(b) => Some(b.to_string()),
                        _ => cx.literal_string(v, "an axis value"),
                    };
                    if let Some(s) = text {
                        values.push(Spanned::new(s, v.span));
                    }
                }
            }
            _ => {
                let known: &[&str] = if in_exclude {
                    &["name", "values", "notValues"]
                } else {
                    &["name", "values"]
                };
                cx.unknown("unknown-directive", "entry in `axis`", f.name, known);
            }
        }
    }
    let Some(name) = name else {
        cx.error(
            "missing-axis-name",
            call.span,
            "`axis` needs a `name`",
            "expected `name 'PLATFORM'`",
        );
        return None;
    };
    if values.is_empty() {
        cx.error(
            "missing-axis-values",
            call.span,
            format!("axis `{}` has no values", name.value),
            "expected `values 'a', 'b'`",
        );
        return None;
    }
    Some((name, values, negated))
}

fn excludes(cx: &mut Cx, call: &CallView<'_>) -> Vec<Exclude> {
    let mut out = Vec::new();
    for stmt in call.body() {
        match CallView::of_stmt(stmt) {
            Some(e) if e.name.value == "exclude" => {
                if !super::sections::well_formed(cx, &e) {
                    continue;
                }
                let mut axes = Vec::new();
                for inner in e.body() {
                    match CallView::of_stmt(inner) {
                        Some(a) if a.name.value == "axis" => {
                            if let Some((name, values, negated)) = axis(cx, &a, true) {
                                axes.push(ExcludeAxis {
                                    name,
                                    values: values.into_iter().map(|v| v.value).collect(),
                                    negated,
                                });
                            }
                        }
                        _ => cx.error(
                            "expected-directive",
                            inner.span,
                            "expected `axis { ... }` in `exclude`",
                            "only axes are allowed here",
                        ),
                    }
                }
                out.push(Exclude { axes, span: e.span });
            }
            Some(e) => cx.unknown(
                "unknown-directive",
                "entry in `excludes`",
                e.name,
                &["exclude"],
            ),
            None => cx.error(
                "expected-directive",
                stmt.span,
                "expected `exclude { ... }`",
                "only excludes are allowed here",
            ),
        }
    }
    out
}

/// Excludes must name axes that exist.
fn check_excludes(cx: &mut Cx, m: &Matrix) {
    for ex in &m.excludes {
        for a in &ex.axes {
            if !m.axes.iter().any(|x| x.name.value == a.name.value) {
                let known: Vec<&str> = m.axes.iter().map(|x| x.name.value.as_str()).collect();
                cx.unknown(
                    "unknown-axis",
                    "axis",
                    a.name.as_ref().map(String::as_str),
                    &known,
                );
            }
        }
    }
}
