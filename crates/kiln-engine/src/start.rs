//! Directive values Jenkins computes when the build starts: parameter names and defaults
//! written as expressions (`defaultValue: "${someVar}"`, `name: "${env.JOB_NAME}_FLAG"`),
//! library names (`lib("helpers@${env.BRANCH_NAME}")`) and the `checkoutToSubdirectory`
//! option. They are evaluated with the variables and
//! functions defined above the pipeline and the build's environment, as Jenkins evaluates
//! the `pipeline { }` block; a value of the wrong type fails the build naming its line.

use crate::BuildScripts;
use crate::ParamValue;
use crate::build::Build;
use crate::error::StepError;
use crate::eval::eval;
use crate::scope::Scope;
use kiln_library::Libraries;
use kiln_model::{Computed, LibraryRef, Parameter, ParameterKind, Pipeline};
use kiln_script::{NoSteps, ScriptContext, ScriptEngine, Value};
use kiln_syntax::ast::Expr;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The pipeline with its parameters' computed names and defaults replaced by their values,
/// or `None` when it has none. `env` is the build's environment before parameters.
pub(crate) fn resolve_parameters(
    pipeline: &Pipeline,
    env: BTreeMap<String, String>,
    scripts: &BuildScripts,
) -> Result<Option<Pipeline>, Vec<String>> {
    if pipeline.parameters.iter().all(|p| p.at_start.is_empty()) {
        return Ok(None);
    }
    let (engine, mut ctx) = start_context(pipeline, env, BTreeMap::new(), scripts)
        .map_err(|e| vec![format!("cannot evaluate the parameters ({e})")])?;
    let mut out = pipeline.clone();
    let mut errors = Vec::new();
    for p in &mut out.parameters {
        if let Err(e) = resolve_parameter(p, &engine, &mut ctx, scripts) {
            errors.push(e);
        }
    }
    for (i, p) in out.parameters.iter().enumerate() {
        if out.parameters[..i]
            .iter()
            .any(|q| q.name.value == p.name.value)
        {
            errors.push(format!("parameter `{}` is defined twice", p.name.value));
        }
    }
    if errors.is_empty() {
        Ok(Some(out))
    } else {
        Err(errors)
    }
}

/// A script engine and context for values computed at build start: the build's environment
/// and parameters, and the variables and functions the code above the pipeline defines
/// (which may not call steps there).
fn start_context(
    pipeline: &Pipeline,
    env: BTreeMap<String, String>,
    params: BTreeMap<String, Value>,
    scripts: &BuildScripts,
) -> Result<(ScriptEngine, ScriptContext), String> {
    let engine = ScriptEngine::with_limits(scripts.limits.clone());
    let mut ctx = ScriptContext::new();
    ctx.env = env;
    ctx.params = params;
    ctx.source.clone_from(&scripts.source);
    let preamble = &pipeline.preamble.definitions;
    if !preamble.is_empty() {
        engine
            .eval_block(preamble, &mut ctx, &mut NoSteps)
            .map_err(|e| format!("the code above the pipeline failed: {e}"))?;
    }
    Ok((engine, ctx))
}

/// The libraries `libraries { lib(EXPR) }` names by expressions, evaluated with the build's
/// environment and parameters (as Jenkins loads them when the `pipeline` block starts), then
/// loaded like literal names from the sources `prepare` was given: `scripts` with them added
/// and a log line per library, or `None` when the pipeline names none.
pub(crate) async fn computed_libraries(
    pipeline: &Pipeline,
    env: BTreeMap<String, String>,
    params: &BTreeMap<String, ParamValue>,
    scripts: &BuildScripts,
) -> Result<Option<(BuildScripts, Vec<String>)>, Vec<String>> {
    let exprs: Vec<&LibraryRef> = pipeline
        .libraries
        .iter()
        .filter(|r| r.computed.is_some())
        .collect();
    if exprs.is_empty() {
        return Ok(None);
    }
    let Some(loader) = &scripts.library_loader else {
        return Err(vec![
            "the pipeline names a library by an expression, but no library may be loaded here"
                .to_owned(),
        ]);
    };
    let params = crate::params::script_params(params);
    let (engine, mut ctx) = start_context(pipeline, env, params, scripts)
        .map_err(|e| vec![format!("cannot evaluate the library names ({e})")])?;
    let mut refs = Vec::new();
    let mut errors = Vec::new();
    for r in exprs {
        let Some(e) = &r.computed else { continue };
        let text = engine
            .eval_expr(e, &mut ctx)
            .map_err(|err| err.to_string())
            .and_then(|v| string_value(v, e, "a library name", scripts));
        match text {
            Ok(t) if t.trim().is_empty() || t.starts_with('@') => errors.push(format!(
                "a library name{} evaluated to `{t}`, which names no library",
                at(e, scripts)
            )),
            Ok(t) => refs.push(LibraryRef::parse(t.trim(), r.span)),
            Err(err) => errors.push(err),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let known: Vec<&str> = scripts.libraries.iter().map(|l| l.name.as_str()).collect();
    refs.retain(|r| !known.contains(&r.name.as_str()));
    let engine = ScriptEngine::new();
    let loaded = kiln_library::load(&refs, &loader.sources, &loader.cache, &engine)
        .await
        .map_err(|e| vec![format!("cannot load the libraries: {e}")])?;
    let lines = loaded
        .iter()
        .map(|l| {
            format!(
                "Loading library {} (its name computed as the build started)",
                l.label()
            )
        })
        .collect();
    let all = scripts
        .libraries
        .iter()
        .chain(loaded.iter())
        .cloned()
        .collect();
    let out = BuildScripts {
        libraries: Arc::new(Libraries::new(all)),
        ..scripts.clone()
    };
    Ok(Some((out, lines)))
}

fn resolve_parameter(
    p: &mut Parameter,
    engine: &ScriptEngine,
    ctx: &mut ScriptContext,
    scripts: &BuildScripts,
) -> Result<(), String> {
    if let Some(e) = p.at_start.name.take() {
        let value = engine.eval_expr(&e, ctx).map_err(|err| err.to_string())?;
        p.name.value = string_value(value, &e, "a parameter name", scripts)?;
    }
    if let Some(e) = p.at_start.default.take() {
        let value = engine.eval_expr(&e, ctx).map_err(|err| err.to_string())?;
        let text = string_value(value, &e, "a parameter's `defaultValue`", scripts)?;
        match &mut p.kind {
            ParameterKind::String { default, .. }
            | ParameterKind::Text { default }
            | ParameterKind::Password { default } => *default = text,
            // The model keeps expressions only for string defaults.
            ParameterKind::Boolean { .. } | ParameterKind::Choice { .. } => {}
        }
    }
    Ok(())
}

/// `options { checkoutToSubdirectory(...) }`'s directory, evaluated in the build's scope
/// (after the code above the pipeline ran).
pub(crate) fn subdirectory(
    value: &Computed<String>,
    build: &Build,
    scope: &Scope,
) -> Result<String, StepError> {
    match value {
        Computed::Literal(dir) => Ok(dir.clone()),
        Computed::AtStart(e) => {
            let v = eval(e, build, scope)?;
            string_value(v, e, "`checkoutToSubdirectory`", &build.scripts)
                .map_err(StepError::failed)
        }
    }
}

/// A computed value that must be a string: numbers and booleans read as their text, as in
/// Groovy; anything else is an error naming the line it was written on.
fn string_value(
    value: Value,
    expr: &Expr,
    what: &str,
    scripts: &BuildScripts,
) -> Result<String, String> {
    match value {
        Value::Str(s) => Ok(s),
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => Ok(value.to_string()),
        other => {
            let found = match other {
                Value::Null => "null",
                Value::List(_) => "a list",
                Value::Map(_) => "a map",
                _ => "a closure",
            };
            Err(format!(
                "{what}{} must be a string, but its expression gave {found}",
                at(expr, scripts)
            ))
        }
    }
}

/// ` (Jenkinsfile:LINE:COL)` of `expr`, when the text is known.
pub(crate) fn at(expr: &Expr, scripts: &BuildScripts) -> String {
    scripts.source.as_ref().map_or_else(String::new, |s| {
        let lc = s.line_col(expr.span.start);
        format!(" ({}:{}:{})", s.name(), lc.line, lc.col)
    })
}
