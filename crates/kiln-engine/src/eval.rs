//! The one place where the engine evaluates Groovy: step arguments, environment values,
//! `when` conditions, all through kiln-script. Constants are read directly (most arguments
//! are plain strings, and the per-step overhead must stay small).

use crate::build::Build;
use crate::error::StepError;
use crate::scope::Scope;
use kiln_script::{CurrentBuild, ScriptContext, ScriptError, Value};
use kiln_syntax::ast::{Expr, ExprKind, MapKey, Stmt};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Evaluates an expression in a step's scope.
pub(crate) fn eval(expr: &Expr, build: &Build, scope: &Scope) -> Result<Value, StepError> {
    if let Some(v) = constant(expr) {
        return Ok(v);
    }
    let mut ctx = context(build, scope);
    build.script.eval_expr(expr, &mut ctx).map_err(script_error)
}

/// Evaluates an expression and renders it as Groovy's `toString()` would.
pub(crate) fn eval_string(expr: &Expr, build: &Build, scope: &Scope) -> Result<String, StepError> {
    if let ExprKind::Str(s) = &expr.kind {
        if let Some(plain) = s.as_plain() {
            return Ok(plain);
        }
        let mut ctx = context(build, scope);
        return build.script.interpolate(s, &mut ctx).map_err(script_error);
    }
    Ok(match eval(expr, build, scope)? {
        Value::Str(s) => s,
        other => other.to_string(),
    })
}

/// `when { expression { ... } }`: the block's value by Groovy truth.
pub(crate) fn condition(stmts: &[Stmt], build: &Build, scope: &Scope) -> Result<bool, StepError> {
    let mut ctx = context(build, scope);
    build
        .script
        .eval_condition(stmts, &mut ctx)
        .map_err(script_error)
}

/// The value of an expression that needs no evaluation: literals and collections of them.
fn constant(expr: &Expr) -> Option<Value> {
    Some(match &expr.kind {
        ExprKind::Null => Value::Null,
        ExprKind::Bool(b) => Value::Bool(*b),
        ExprKind::Int(i) => Value::Int(*i),
        ExprKind::Float(f) => Value::Float(*f),
        ExprKind::Str(s) => Value::Str(s.as_plain()?),
        ExprKind::List(items) => Value::List(items.iter().map(constant).collect::<Option<_>>()?),
        ExprKind::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|e| match &e.key {
                    MapKey::Name(n) => Some((n.name.clone(), constant(&e.value)?)),
                    MapKey::Expr(_) => None,
                })
                .collect::<Option<_>>()?,
        ),
        _ => return None,
    })
}

/// What a script sees of the build: `env`, `params`, `currentBuild`, and the variables and
/// functions earlier scripts of the build defined.
pub(crate) fn context(build: &Build, scope: &Scope) -> ScriptContext {
    let mut ctx = build.definitions();
    ctx.source.clone_from(&build.scripts.source);
    ctx.env = match scope.layered(build) {
        Some(layered) => (*layered.env).clone(),
        None => (*scope.env).clone(),
    };
    ctx.params = crate::params::script_params(&build.params);
    let number = i64::try_from(build.spec.number).unwrap_or(i64::MAX);
    let result = build.result();
    let (display_name, description) = build.labels();
    ctx.current_build = CurrentBuild {
        number,
        result: (result != crate::BuildResult::Success).then(|| result.as_str().to_owned()),
        current_result: result.as_str().to_owned(),
        display_name: display_name.unwrap_or_else(|| format!("#{number}")),
        description,
        duration_string: format!("{} ms and counting", build.started.elapsed().as_millis()),
        extra: [(
            "buildCauses".to_owned(),
            Value::List(vec![Value::Map(vec![
                (
                    "_class".to_owned(),
                    Value::Str(build.spec.cause.class_name().to_owned()),
                ),
                (
                    "shortDescription".to_owned(),
                    Value::Str(build.spec.cause.description()),
                ),
            ])]),
        )]
        .into_iter()
        .collect(),
    };
    ctx.cancel = Arc::new(AtomicBool::new(scope.cancel.is_cancelled()));
    if let Some(scm) = &build.spec.scm {
        let entries = [
            ("kind", "scm"),
            ("url", scm.url.as_str()),
            ("commit", scm.commit.as_str()),
        ];
        let mut map: Vec<(String, Value)> = entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::Str((*v).to_owned())))
            .collect();
        // The parts of Jenkins' `scm` (a GitSCM) that scripts copy into
        // `checkout([$class: 'GitSCM', branches: scm.branches, ...])`.
        let one = |key: &str, value: &str| {
            Value::List(vec![Value::Map(vec![(
                key.to_owned(),
                Value::Str(value.to_owned()),
            )])])
        };
        let branch = scm.branch.as_deref().unwrap_or(scm.commit.as_str());
        map.extend([
            ("branches".to_owned(), one("name", branch)),
            ("userRemoteConfigs".to_owned(), one("url", &scm.url)),
            ("extensions".to_owned(), Value::List(Vec::new())),
            ("submoduleCfg".to_owned(), Value::List(Vec::new())),
            (
                "doGenerateSubmoduleConfigurations".to_owned(),
                Value::Bool(false),
            ),
        ]);
        ctx.globals.insert("scm".to_owned(), Value::Map(map));
    }
    ctx
}

/// A script's error as a step error: a cancelled script was interrupted, anything else failed.
pub(crate) fn script_error(e: ScriptError) -> StepError {
    if e.is_cancelled() {
        StepError::aborted(e.message())
    } else {
        // With the line, when the script knows its file.
        StepError::failed(e.to_string())
    }
}
