//! Steps in `steps { }` and `post { }` blocks, checked against kiln's step catalogue.

use super::cx::{CallView, Cx};
use crate::catalog::{
    ArgType, BodyRule, STEPS, StepDef, UNKNOWN_STEP, UNSUPPORTED_STEP, native_step, plugin_of,
    unprovided_step_message,
};
use crate::{ScriptBlock, Step, StepArg, StepId, StepKind};
use kiln_diagnostics::{Diagnostic, Spanned, did_you_mean};
use kiln_syntax::ast::{Expr, ExprKind, MapKey, Stmt, StmtKind};

/// The steps of a `steps { }` (or post condition) block; an empty block is an error.
pub(super) fn steps_block(cx: &mut Cx, call: &CallView<'_>) -> Vec<Step> {
    let Some(closure) = call.closure else {
        cx.error(
            "expected-block",
            call.span,
            format!("`{}` needs a block of steps", call.name.value),
            format!("expected `{} {{ sh 'make' }}`", call.name.value),
        );
        return Vec::new();
    };
    let steps = step_list(cx, &closure.body);
    if steps.is_empty() && closure.body.is_empty() {
        cx.error(
            "empty-steps",
            call.name.span,
            format!("`{}` has no steps", call.name.value),
            "add at least one step, e.g. `echo 'nothing to do'`",
        );
    }
    steps
}

fn step_list(cx: &mut Cx, stmts: &[Stmt]) -> Vec<Step> {
    if let [only] = stmts
        && let Some(step) = sole_parallel(cx, only)
    {
        return vec![step];
    }
    stmts.iter().filter_map(|s| step(cx, s)).collect()
}

/// The span of `parallel` when it is the only step of `call`'s block and has no branches.
pub(super) fn empty_parallel(call: &CallView<'_>) -> Option<kiln_diagnostics::Span> {
    let [only] = call.closure?.body.as_slice() else {
        return None;
    };
    let StmtKind::Expr(expr) = &only.kind else {
        return None;
    };
    match &expr.kind {
        ExprKind::Call { callee, args, .. }
            if args.is_empty() && callee.as_ident() == Some("parallel") =>
        {
            Some(callee.span)
        }
        _ => None,
    }
}

/// `parallel(a: { ... }, b: { ... })` as the only step of a block: Jenkins runs it as the
/// `parallel` step (mixed with other steps it is refused), which kiln's script layer provides,
/// so it becomes a script block of that one statement. Its branches are checked as Jenkins
/// does: named closures, and `failFast` a boolean.
fn sole_parallel(cx: &mut Cx, stmt: &Stmt) -> Option<Step> {
    let StmtKind::Expr(expr) = &stmt.kind else {
        return None;
    };
    let ExprKind::Call { callee, args, .. } = &expr.kind else {
        return None;
    };
    if callee.as_ident() != Some("parallel") {
        return None;
    }
    if args.is_empty() {
        cx.error(
            "empty-parallel",
            callee.span,
            "`parallel` has no branches",
            "expected `parallel(first: { ... }, second: { ... })`",
        );
    }
    for arg in args {
        let Some(name) = &arg.name else { continue };
        let ok = match (name.name.as_str(), &arg.value.kind) {
            ("failFast", ExprKind::Bool(_)) | (_, ExprKind::Closure(_)) => true,
            ("failFast", _) => {
                cx.error(
                    "wrong-type",
                    arg.value.span,
                    "`failFast` of `parallel` expects a boolean",
                    "expected `failFast: true`",
                );
                true
            }
            _ => false,
        };
        if !ok {
            cx.error(
                "wrong-type",
                arg.value.span,
                format!("branch `{}` of `parallel` is not a closure", name.name),
                "each branch is `NAME: { steps }`; the only other key is `failFast`",
            );
        }
    }
    Some(Step {
        kind: StepKind::Script(ScriptBlock {
            statements: vec![stmt.clone()],
            span: stmt.span,
        }),
        span: expr.span,
    })
}

fn step(cx: &mut Cx, stmt: &Stmt) -> Option<Step> {
    let expr = match &stmt.kind {
        StmtKind::Expr(e) => e,
        StmtKind::Error => return None,
        _ => {
            cx.error(
                "groovy-in-steps",
                stmt.span,
                "Groovy statements are not allowed directly in `steps`",
                "wrap them in `script { ... }`",
            );
            return None;
        }
    };
    let ExprKind::Call {
        callee,
        args,
        closure,
        ..
    } = &expr.kind
    else {
        let label = match &expr.kind {
            ExprKind::Ident(name) if native_step(name).is_some() => format!("call it: `{name}()`"),
            ExprKind::Assign { .. } => {
                "assignments belong in `script { ... }` or `environment { }`".into()
            }
            _ => "expected a step such as `sh 'make'`".into(),
        };
        cx.error("expected-step", expr.span, "expected a step", label);
        return None;
    };
    let Some(name) = callee.as_ident() else {
        let dotted = callee.dotted_name().unwrap_or_else(|| "this call".into());
        let root = dotted.split('.').next().unwrap_or_default();
        let label = if root == "docker" {
            "`docker.*` comes from the Docker Pipeline plugin; use `agent { docker { } }` or `agent { kubernetes { } }`".to_string()
        } else {
            "method calls belong in `script { ... }`".to_string()
        };
        cx.error(
            "expected-step",
            callee.span,
            format!("`{dotted}` is not a step"),
            label,
        );
        return None;
    };
    let name = Spanned::new(name.to_string(), callee.span);
    if name.value == "script" {
        let Some(c) = closure else {
            cx.error(
                "expected-block",
                expr.span,
                "`script` needs a block",
                "expected `script { ... }`",
            );
            return None;
        };
        if !args.is_empty() {
            cx.error(
                "unexpected-argument",
                expr.span,
                "`script` takes no arguments",
                "expected `script { ... }`",
            );
        }
        return Some(Step {
            kind: StepKind::Script(ScriptBlock {
                statements: c.body.clone(),
                span: c.span,
            }),
            span: expr.span,
        });
    }
    let call = CallView::of_expr(expr)?;
    let Some(def) = native_step(&name.value) else {
        return unknown_step(cx, name, args, closure.as_deref(), expr);
    };
    let body = closure.as_ref().map(|c| step_list(cx, &c.body));
    // `git([url: '...', branch: 'main'])`: one map is the step's named arguments in Groovy.
    let spread = map_as_named(def, &call);
    let call = match &spread {
        Some(args) => CallView { args, ..call },
        None => call,
    };
    let args = step_args(cx, def, &call)?;
    check_body(cx, def, &call);
    if matches!(def.id, StepId::Bat | StepId::Powershell) {
        cx.warn(
            "windows-step",
            name.span,
            format!(
                "`{}` runs Windows scripts; kiln runs steps on Linux agents",
                name.value
            ),
            "the build fails when it reaches this step: use `sh`, or `pwsh` for PowerShell Core",
        );
    }
    Some(Step {
        kind: StepKind::Native {
            id: def.id,
            name,
            args,
            body,
        },
        span: expr.span,
    })
}

/// A step that is not kiln's. Jenkins accepts any step name in `steps { }` (a plugin or a
/// shared library may provide it) except the few it blocks there, so kiln does too: the step
/// stays in the model as a [`StepKind::Library`] step, and when no loaded library defines it
/// the build fails at that step with [`unprovided_step_message`]. Without libraries, lint
/// warns with the same message (`kiln lint --strict` makes that an error).
fn unknown_step(
    cx: &mut Cx,
    name: Spanned<String>,
    args: &[kiln_syntax::ast::Arg],
    closure: Option<&kiln_syntax::ast::Closure>,
    expr: &Expr,
) -> Option<Step> {
    if let Some(why) = blocked_in_steps(&name.value) {
        cx.error(
            "blocked-step",
            name.span,
            format!("`{}` is not allowed in `steps`", name.value),
            why,
        );
        return None;
    }
    if !cx.libraries_loaded {
        let (code, label) = match plugin_of(&name.value) {
            Some(plugin) => (
                UNSUPPORTED_STEP,
                format!("`{}` comes from the {plugin}", name.value),
            ),
            None => {
                let known = STEPS.iter().map(|s| s.name);
                let label = match did_you_mean(&name.value, known) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "not a kiln step, nor a known Jenkins plugin step".into(),
                };
                (UNKNOWN_STEP, label)
            }
        };
        cx.push(
            Diagnostic::warning(code, unprovided_step_message(&name.value))
                .with_primary(name.span, label)
                .with_note("the build fails when it reaches this step"),
        );
    }
    let body = closure.map(|c| step_list(cx, &c.body));
    Some(Step {
        kind: StepKind::Library {
            name,
            args: args.to_vec(),
            body,
        },
        span: expr.span,
    })
}

/// Block steps Jenkins users put in `options { }` to run the stages inside them; kiln runs
/// these as such wrappers.
pub(super) const WRAPPER_OPTIONS: &[&str] = &["withCredentials", "withEnv", "sshagent"];

/// A block step used as an option (`options { withCredentials([...]) }`): the stages run
/// inside it. Its arguments are checked as in `steps { }`; it takes no block of its own.
pub(super) fn wrapper_step(cx: &mut Cx, call: &CallView<'_>) -> Option<(&'static str, Step)> {
    let def = native_step(call.name.value)?;
    if let Some(c) = call.closure {
        cx.error(
            "unexpected-block",
            c.span,
            format!("option `{}` does not take a block", def.name),
            "the stages run inside it",
        );
        return None;
    }
    let args = step_args(cx, def, call)?;
    let step = Step {
        kind: StepKind::Native {
            id: def.id,
            name: Spanned::new(def.name.to_string(), call.name.span),
            args,
            body: None,
        },
        span: call.span,
    };
    Some((def.name, step))
}

/// Steps Jenkins refuses directly in `steps { }`, with what to write instead.
pub(super) fn blocked_in_steps(name: &str) -> Option<&'static str> {
    match name {
        "stage" => Some("stages belong in `stages { stage(...) { } }`"),
        "parallel" => {
            Some("use a `parallel { }` stage, or call `parallel` in a `script { }` block")
        }
        "properties" => Some("use the `options`, `parameters` and `triggers` directives"),
        "pipeline" => Some("`pipeline { }` may only stand at the top level of the Jenkinsfile"),
        _ => None,
    }
}

/// The entries of a call's only argument, a map literal with plain keys, as named
/// arguments, unless the step's first parameter takes a map itself (`checkout`, `step`).
fn map_as_named(def: &StepDef, call: &CallView<'_>) -> Option<Vec<kiln_syntax::ast::Arg>> {
    let [arg] = call.args else { return None };
    let ExprKind::Map(entries) = &arg.value.kind else {
        return None;
    };
    if arg.name.is_some()
        || def
            .params
            .first()
            .is_none_or(|p| matches!(p.ty, ArgType::Map | ArgType::Any))
    {
        return None;
    }
    entries
        .iter()
        .map(|e| match &e.key {
            MapKey::Name(name) => Some(kiln_syntax::ast::Arg {
                name: Some(name.clone()),
                value: e.value.clone(),
                span: e.span,
            }),
            MapKey::Expr(_) => None,
        })
        .collect()
}

/// Normalises arguments to names: a single positional argument fills the step's first
/// parameter (`sh 'make'` is `sh(script: 'make')`).
fn step_args(cx: &mut Cx, def: &StepDef, call: &CallView<'_>) -> Option<Vec<StepArg>> {
    let what = format!("`{}`", def.name);
    let known: Vec<&str> = def.params.iter().map(|p| p.name).collect();
    let positional: Vec<&Expr> = call.positional().collect();
    let named = call.args.iter().filter(|a| a.name.is_some()).count();
    let mut out = Vec::new();
    match (positional.as_slice(), def.params.first()) {
        ([], _) => {}
        ([one], Some(first)) if named == 0 => out.push(StepArg {
            name: first.name,
            value: (*one).clone(),
        }),
        (_, None) => {
            cx.error(
                "unexpected-argument",
                positional[0].span,
                format!("{what} takes no arguments"),
                format!("expected `{}()`", def.name),
            );
            return None;
        }
        _ => {
            cx.error(
                "wrong-arguments",
                call.span,
                format!("{what} takes one unnamed argument or only named arguments"),
                format!(
                    "name the arguments, e.g. `{}({}: ...)`",
                    def.name, def.params[0].name
                ),
            );
            return None;
        }
    }
    cx.check_named(call, &what, &known);
    for arg in call.args {
        if let Some(n) = &arg.name {
            if let Some(p) = def.params.iter().find(|p| p.name == n.name) {
                out.push(StepArg {
                    name: p.name,
                    value: arg.value.clone(),
                });
            }
        }
    }
    for p in def.params {
        match out.iter().find(|a| a.name == p.name) {
            Some(a) => cx.check_type(&a.value, p.ty, &format!("`{}` of {what}", p.name)),
            None if p.required => cx.error(
                "missing-argument",
                call.span,
                format!("{what} needs `{}`", p.name),
                format!("add `{}: ...`", p.name),
            ),
            None => {}
        }
    }
    Some(out)
}

fn check_body(cx: &mut Cx, def: &StepDef, call: &CallView<'_>) {
    match (def.body, call.closure) {
        (BodyRule::Required, None) => cx.error(
            "expected-block",
            call.span,
            format!("`{}` needs a block of steps", def.name),
            format!("expected `{}(...) {{ ... }}`", def.name),
        ),
        (BodyRule::None, Some(c)) => cx.error(
            "unexpected-block",
            c.span,
            format!("`{}` does not take a block", def.name),
            "remove this block",
        ),
        _ => {}
    }
}
