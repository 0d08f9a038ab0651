//! Arguments made of descriptor calls, as plugin steps take them: `tools: [checkStyle(pattern:
//! 'x'), java()]`, `[configFile(fileId: 'id', variable: 'F')]`. Each call becomes a map of its
//! named arguments with its name under [`DESCRIPTOR_KEY`] (a single unnamed argument under
//! `value`), the shape scripts get from the same calls.

use super::StepCall;
use super::scripted::DESCRIPTOR_KEY;
use crate::error::StepError;
use crate::eval::eval;
use kiln_script::Value;
use kiln_syntax::ast::{Expr, ExprKind, MapKey};

/// The argument `name`, with descriptor calls as maps.
pub(crate) fn described(call: &StepCall<'_>, name: &str) -> Result<Option<Value>, StepError> {
    match call.expr(name) {
        Some(expr) => walk(call, expr).map(Some),
        None => call.value(name),
    }
}

fn walk(call: &StepCall<'_>, expr: &Expr) -> Result<Value, StepError> {
    match &expr.kind {
        ExprKind::List(items) => items
            .iter()
            .map(|e| walk(call, e))
            .collect::<Result<_, _>>()
            .map(Value::List),
        ExprKind::Map(entries) => {
            let mut out = Vec::new();
            for e in entries {
                let key = match &e.key {
                    MapKey::Name(n) => n.name.clone(),
                    MapKey::Expr(k) => eval(k, call.build, call.scope)?.to_string(),
                };
                out.push((key, walk(call, &e.value)?));
            }
            Ok(Value::Map(out))
        }
        ExprKind::Call {
            callee,
            args,
            closure: None,
            ..
        } if callee.as_ident().is_some() => {
            let kind = callee.as_ident().unwrap_or_default();
            let mut out = vec![(DESCRIPTOR_KEY.to_owned(), Value::Str(kind.to_owned()))];
            for a in args {
                let v = walk(call, &a.value)?;
                let key = a.name.as_ref().map_or("value", |n| n.name.as_str());
                out.push((key.to_owned(), v));
            }
            Ok(Value::Map(out))
        }
        _ => eval(expr, call.build, call.scope),
    }
}

/// The kind of a descriptor map (`checkStyle`), if the value is one.
pub(crate) fn kind_of(value: &Value) -> Option<&str> {
    value.get(DESCRIPTOR_KEY).and_then(Value::as_str)
}
