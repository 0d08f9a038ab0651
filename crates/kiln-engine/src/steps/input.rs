//! `input`: asks the build's [`crate::InputHandler`] to proceed or abort.

use super::StepCall;
use crate::build::Build;
use crate::error::StepError;
use crate::eval::eval_string;
use crate::scope::Scope;
use crate::{InputAnswer, InputRequest};
use kiln_script::Value;
use kiln_syntax::ast::{Expr, ExprKind};
use std::collections::BTreeMap;

pub(crate) async fn input(call: &StepCall<'_>) -> Result<Value, StepError> {
    let message = call.req_string("message")?;
    let id = call.string("id")?;
    let ok = call.string("ok")?;
    let submitter = call.string("submitter")?;
    let parameters = match (call.args, call.expr("parameters")) {
        (super::Args::Script(_), _) => script_parameters(call)?,
        (_, Some(e)) => parameters(e, call.build, call.scope)?,
        (_, None) => Vec::new(),
    };
    let names: Vec<String> = parameters.iter().map(|(n, _)| n.clone()).collect();
    let req = InputRequest {
        id: id.unwrap_or_else(|| default_id(&message)),
        message,
        ok: ok.unwrap_or_else(|| "Proceed".to_owned()),
        parameters,
        submitter,
    };
    let values = ask(call.build, call.scope, req).await?;
    Ok(match names.as_slice() {
        [] => Value::Null,
        [one] => values
            .get(one)
            .map_or(Value::Null, |v| Value::Str(v.clone())),
        _ => Value::Map(
            values
                .into_iter()
                .map(|(k, v)| (k, Value::Str(v)))
                .collect(),
        ),
    })
}

/// Asks and waits (or stops when the scope is cancelled); an abort ends the block ABORTED.
pub(crate) async fn ask(
    build: &Build,
    scope: &Scope,
    req: InputRequest,
) -> Result<BTreeMap<String, String>, StepError> {
    build.log(
        scope.node,
        &format!("{} ({} or Abort)", req.message, req.ok),
        scope.timestamps,
    );
    let defaults: BTreeMap<String, String> = req.parameters.iter().cloned().collect();
    let answer = tokio::select! {
        a = build.spec.input.request(req) => a,
        () = scope.cancel.cancelled() => return Err(StepError::aborted("the input was cancelled")),
    };
    match answer {
        InputAnswer::Proceed { values, by } => {
            build.log(scope.node, &format!("Approved by {by}"), scope.timestamps);
            let mut all = defaults;
            all.extend(values);
            Ok(all)
        }
        InputAnswer::Abort { by } => {
            build.log(scope.node, &format!("Rejected by {by}"), scope.timestamps);
            Err(StepError::aborted(format!("rejected by {by}")))
        }
    }
}

/// Jenkins' default id: the message's first word-ish characters, capitalised.
fn default_id(message: &str) -> String {
    let mut id: String = message
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(32)
        .collect();
    if let Some(first) = id.get(..1) {
        id = first.to_ascii_uppercase() + &id[1..];
    }
    if id.is_empty() {
        "Input".to_owned()
    } else {
        id
    }
}

/// `[string(name: 'X', defaultValue: 'y'), booleanParam(...), choice(choices: [...])]`:
/// names and default values.
fn parameters(
    expr: &Expr,
    build: &Build,
    scope: &Scope,
) -> Result<Vec<(String, String)>, StepError> {
    let items: Vec<&Expr> = match &expr.kind {
        ExprKind::List(items) => items.iter().collect(),
        _ => vec![expr],
    };
    let mut out = Vec::new();
    for item in items {
        let ExprKind::Call { callee, args, .. } = &item.kind else {
            return Err(StepError::failed(
                "input: expected parameters such as `string(name: 'X', defaultValue: '')`",
            ));
        };
        let kind = callee.as_ident().unwrap_or_default();
        let mut name = None;
        let mut default = String::new();
        for a in args {
            let Some(n) = &a.name else { continue };
            match n.name.as_str() {
                "name" => name = Some(eval_string(&a.value, build, scope)?),
                "defaultValue" => default = eval_string(&a.value, build, scope)?,
                "choices" if kind == "choice" => default = first_choice(&a.value, build, scope)?,
                _ => {}
            }
        }
        let name = name
            .ok_or_else(|| StepError::failed(format!("input: parameter `{kind}` needs `name`")))?;
        out.push((name, default));
    }
    Ok(out)
}

/// `parameters: [...]` as a script passes them: the descriptor maps of `string(...)`,
/// `choice(...)` and the like (a script's input used to lose them, and then took any answer).
fn script_parameters(call: &StepCall<'_>) -> Result<Vec<(String, String)>, StepError> {
    let items = match call.value("parameters")? {
        None => return Ok(Vec::new()),
        Some(Value::List(items)) => items,
        Some(one) => vec![one],
    };
    let mut out = Vec::new();
    for item in items {
        let name = item.get("name").map(ToString::to_string).ok_or_else(|| {
            StepError::failed(
                "input: expected parameters such as `string(name: 'X', defaultValue: '')`",
            )
        })?;
        let default = match (item.get("defaultValue"), item.get("choices")) {
            (Some(v), _) => v.to_string(),
            (None, Some(Value::List(choices))) => {
                choices.first().map(ToString::to_string).unwrap_or_default()
            }
            (None, Some(other)) => other
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
            (None, None) => String::new(),
        };
        out.push((name, default));
    }
    Ok(out)
}

fn first_choice(expr: &Expr, build: &Build, scope: &Scope) -> Result<String, StepError> {
    Ok(match crate::eval::eval(expr, build, scope)? {
        Value::List(items) => items.first().map(ToString::to_string).unwrap_or_default(),
        other => other
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
    })
}
