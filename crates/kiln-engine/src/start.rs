//! Directive values Jenkins computes when the build starts: parameter names and defaults
//! written as expressions (`defaultValue: "${someVar}"`, `name: "${env.JOB_NAME}_FLAG"`)
//! and the `checkoutToSubdirectory` option. They are evaluated with the variables and
//! functions defined above the pipeline and the build's environment, as Jenkins evaluates
//! the `pipeline { }` block; a value of the wrong type fails the build naming its line.

use crate::BuildScripts;
use crate::build::Build;
use crate::error::StepError;
use crate::eval::eval;
use crate::scope::Scope;
use kiln_model::{Computed, Parameter, ParameterKind, Pipeline};
use kiln_script::{NoSteps, ScriptContext, ScriptEngine, Value};
use kiln_syntax::ast::Expr;
use std::collections::BTreeMap;

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
    let engine = ScriptEngine::with_limits(scripts.limits.clone());
    let mut ctx = ScriptContext::new();
    ctx.env = env;
    ctx.source.clone_from(&scripts.source);
    let preamble = &pipeline.preamble.definitions;
    if !preamble.is_empty() {
        engine
            .eval_block(preamble, &mut ctx, &mut NoSteps)
            .map_err(|e| {
                vec![format!(
                    "cannot evaluate the parameters (the code above the pipeline failed): {e}"
                )]
            })?;
    }
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
            let at = scripts.source.as_ref().map_or_else(String::new, |s| {
                let lc = s.line_col(expr.span.start);
                format!(" ({}:{}:{})", s.name(), lc.line, lc.col)
            });
            Err(format!(
                "{what}{at} must be a string, but its expression gave {found}"
            ))
        }
    }
}
