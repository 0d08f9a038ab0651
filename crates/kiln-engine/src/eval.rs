//! The one place where the engine evaluates Groovy expressions: step arguments, environment
//! values, `when` conditions. Constants are read directly (most arguments are plain strings,
//! and the per-step overhead must stay small); everything else goes to kiln-script.

use crate::build::Build;
use crate::error::StepError;
use crate::scope::Scope;
use crate::value::Value;
use kiln_syntax::ast::{Expr, ExprKind, MapKey, StrPart};

/// Evaluates an expression in a step's scope.
pub(crate) fn eval(expr: &Expr, build: &Build, scope: &Scope) -> Result<Value, StepError> {
    if let Some(v) = constant(expr) {
        return Ok(v);
    }
    script_eval(expr, build, scope)
}

/// Evaluates an expression and renders it as Groovy's `toString()` would.
pub(crate) fn eval_string(expr: &Expr, build: &Build, scope: &Scope) -> Result<String, StepError> {
    if let ExprKind::Str(s) = &expr.kind {
        if let Some(plain) = s.as_plain() {
            return Ok(plain);
        }
    }
    Ok(match eval(expr, build, scope)? {
        Value::Str(s) => s,
        other => other.to_string(),
    })
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

/// Stopgap until kiln-script's `ScriptEngine` lands: GStrings whose interpolations are names
/// (`$FOO`, `${env.FOO}`, `${params.X}`) and such names on their own. Anything else fails
/// with a clear message. This is replaced by a call into kiln-script, not extended.
fn script_eval(expr: &Expr, build: &Build, scope: &Scope) -> Result<Value, StepError> {
    match &expr.kind {
        ExprKind::Str(s) => {
            let mut out = String::new();
            for part in &s.parts {
                match part {
                    StrPart::Text { text, .. } => out.push_str(text),
                    StrPart::Interp(e) => out.push_str(&script_eval(e, build, scope)?.to_string()),
                }
            }
            Ok(Value::Str(out))
        }
        _ => {
            if let Some(v) = constant(expr) {
                return Ok(v);
            }
            let Some(name) = expr.dotted_name() else {
                return Err(unsupported());
            };
            lookup(&name, build, scope)
                .ok_or_else(|| StepError::failed(format!("no such property: {name}")))
        }
    }
}

fn lookup(name: &str, build: &Build, scope: &Scope) -> Option<Value> {
    let (root, rest) = name
        .split_once('.')
        .map_or((name, None), |(a, b)| (a, Some(b)));
    match (root, rest) {
        ("env", Some(var)) => Some(
            scope
                .var(var)
                .map_or(Value::Null, |v| Value::Str(v.to_owned())),
        ),
        ("params", Some(p)) => Some(param(build, p)),
        (var, None) => scope
            .var(var)
            .map(|v| Value::Str(v.to_owned()))
            .or_else(|| build.params.get(var).map(|_| param(build, var))),
        _ => None,
    }
}

fn param(build: &Build, name: &str) -> Value {
    match build.params.get(name) {
        Some(crate::ParamValue::Bool(b)) => Value::Bool(*b),
        Some(v) => Value::Str(v.as_env()),
        None => Value::Null,
    }
}

fn unsupported() -> StepError {
    StepError::failed(
        "this expression needs the script layer (kiln-script), which kiln cannot run yet",
    )
}
