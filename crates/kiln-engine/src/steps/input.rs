//! `input`: asks the build's [`crate::InputHandler`] to proceed or abort.

use super::StepCall;
use crate::build::Build;
use crate::error::StepError;
use crate::eval::eval_string;
use crate::scope::Scope;
use crate::{InputAnswer, InputKind, InputParameter, InputRequest};
use kiln_script::Value;
use kiln_syntax::ast::{Expr, ExprKind};
use std::collections::BTreeMap;

pub(crate) async fn input(call: &StepCall<'_>) -> Result<Value, StepError> {
    let message = call.req_string("message")?;
    let id = call.string("id")?;
    let ok = call.string("ok")?;
    let submitter = call.string("submitter")?;
    let submitter_parameter = call.string("submitterParameter")?.filter(|s| !s.is_empty());
    let parameters = match (call.args, call.expr("parameters")) {
        (super::Args::Script(_), _) => script_parameters(call)?,
        (_, Some(e)) => parameters(e, call.build, call.scope)?,
        (_, None) => Vec::new(),
    };
    let mut names: Vec<String> = parameters.iter().map(|p| p.name.clone()).collect();
    names.extend(submitter_parameter.clone());
    let req = InputRequest {
        id: id.unwrap_or_else(|| default_id(&message)),
        message,
        ok: ok.unwrap_or_else(|| "Proceed".to_owned()),
        parameters,
        submitter,
        submitter_parameter,
    };
    let values = ask(call.build, call.scope, req).await?;
    // As Jenkins: nothing asked gives null, one value that value, more a map.
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
/// The values are the parameters' defaults overridden by the answer's, and the approver's
/// name under `submitterParameter` when the input names one.
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
    let mut all = req.defaults();
    let submitter_parameter = req.submitter_parameter.clone();
    let answer = tokio::select! {
        a = build.spec.input.request(req) => a,
        () = scope.cancel.cancelled() => return Err(StepError::aborted("the input was cancelled")),
    };
    match answer {
        InputAnswer::Proceed { values, by } => {
            build.log(scope.node, &format!("Approved by {by}"), scope.timestamps);
            all.extend(values);
            if let Some(name) = submitter_parameter {
                all.insert(name, by);
            }
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
/// names, kinds, defaults, choices and descriptions.
fn parameters(expr: &Expr, build: &Build, scope: &Scope) -> Result<Vec<InputParameter>, StepError> {
    let items: Vec<&Expr> = match &expr.kind {
        ExprKind::List(items) => items.iter().collect(),
        _ => vec![expr],
    };
    let mut out = Vec::new();
    for item in items {
        let ExprKind::Call { callee, args, .. } = &item.kind else {
            return Err(bad_parameter());
        };
        let keyword = callee.as_ident().unwrap_or_default();
        let mut p = InputParameter::string(String::new(), String::new());
        p.kind = kind_of(keyword)?;
        let mut named = false;
        for a in args {
            let Some(n) = &a.name else { continue };
            match n.name.as_str() {
                "name" => {
                    p.name = eval_string(&a.value, build, scope)?;
                    named = true;
                }
                "defaultValue" => p.default = eval_string(&a.value, build, scope)?,
                "description" => p.description = Some(eval_string(&a.value, build, scope)?),
                "choices" if p.kind == InputKind::Choice => {
                    p.choices = choices(crate::eval::eval(&a.value, build, scope)?);
                }
                _ => {}
            }
        }
        if !named {
            return Err(StepError::failed(format!(
                "input: parameter `{keyword}` needs `name`"
            )));
        }
        out.push(finished(p));
    }
    Ok(out)
}

/// `parameters: [...]` as a script passes them: the descriptor maps of `string(...)`,
/// `choice(...)` and the like (a script's input used to lose them, and then took any answer).
fn script_parameters(call: &StepCall<'_>) -> Result<Vec<InputParameter>, StepError> {
    let items = match call.value("parameters")? {
        None => return Ok(Vec::new()),
        Some(Value::List(items)) => items,
        Some(one) => vec![one],
    };
    let mut out = Vec::new();
    for item in items {
        let name = item
            .get("name")
            .map(ToString::to_string)
            .ok_or_else(bad_parameter)?;
        let keyword = item
            .get(super::scripted::DESCRIPTOR_KEY)
            .and_then(Value::as_str)
            .unwrap_or("string")
            .to_owned();
        let mut p = InputParameter::string(name, String::new());
        p.kind = kind_of(&keyword)?;
        if let Some(v) = item.get("defaultValue") {
            p.default = v.to_string();
        }
        if let Some(d) = item.get("description") {
            p.description = Some(d.to_string());
        }
        if let Some(c) = item.get("choices") {
            p.choices = choices(c.clone());
        }
        out.push(finished(p));
    }
    Ok(out)
}

fn kind_of(keyword: &str) -> Result<InputKind, StepError> {
    InputKind::from_keyword(keyword).ok_or_else(|| {
        StepError::failed(format!(
            "input: parameter kind `{keyword}` is not supported; use string, text, booleanParam, choice or password"
        ))
    })
}

/// A parameter's default made consistent with its kind: a choice's is its first choice, a
/// boolean's `true` or `false`.
fn finished(mut p: InputParameter) -> InputParameter {
    match p.kind {
        InputKind::Choice => p.default = p.choices.first().cloned().unwrap_or_default(),
        InputKind::Boolean => p.default = (p.default == "true").to_string(),
        _ => {}
    }
    p
}

/// Choices as a list, or as lines of one string (both as Jenkins takes them).
fn choices(value: Value) -> Vec<String> {
    match value {
        Value::List(items) => items.iter().map(ToString::to_string).collect(),
        other => other.to_string().lines().map(str::to_owned).collect(),
    }
}

fn bad_parameter() -> StepError {
    StepError::failed("input: expected parameters such as `string(name: 'X', defaultValue: '')`")
}
