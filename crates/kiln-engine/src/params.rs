use kiln_model::{ParameterKind, Pipeline};
use std::collections::BTreeMap;

/// A build parameter's value after type checking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamValue {
    /// `string`, `text` and `choice` parameters.
    String(String),
    Bool(bool),
    /// A `password` parameter: masked in the log like a credential.
    Password(String),
}

/// The parameters as scripts see them in `params`: booleans as booleans, the rest as text.
pub(crate) fn script_params(
    params: &BTreeMap<String, ParamValue>,
) -> BTreeMap<String, kiln_script::Value> {
    params
        .iter()
        .map(|(k, v)| {
            let value = match v {
                ParamValue::Bool(b) => kiln_script::Value::Bool(*b),
                other => kiln_script::Value::Str(other.as_env()),
            };
            (k.clone(), value)
        })
        .collect()
}

impl ParamValue {
    /// The value as an environment variable holds it (`true`/`false` for booleans).
    pub fn as_env(&self) -> String {
        match self {
            ParamValue::String(s) | ParamValue::Password(s) => s.clone(),
            ParamValue::Bool(b) => b.to_string(),
        }
    }
}

/// Checks `-p NAME=VALUE` values against the pipeline's `parameters` and fills in defaults.
/// Before the build starts, parameters whose names are computed are left out (and given
/// names are not checked): the build resolves them again once their names are known.
/// Every problem is reported: unknown names, booleans that are not `true`/`false`, choices
/// that are not among the choices.
pub fn resolve_params(
    pipeline: &Pipeline,
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, ParamValue>, Vec<String>> {
    let mut errors = Vec::new();
    // A name computed from an expression is only known when the build starts, where the
    // parameters are resolved again with it.
    let names_known = pipeline
        .parameters
        .iter()
        .all(|p| p.at_start.name.is_none());
    for name in given.keys() {
        if names_known && !pipeline.parameters.iter().any(|p| p.name.value == *name) {
            let known: Vec<&str> = pipeline
                .parameters
                .iter()
                .map(|p| p.name.value.as_str())
                .collect();
            errors.push(if known.is_empty() {
                format!("unknown parameter `{name}`: this pipeline has no parameters")
            } else {
                format!(
                    "unknown parameter `{name}` (parameters: {})",
                    known.join(", ")
                )
            });
        }
    }
    let mut out = BTreeMap::new();
    for p in pipeline
        .parameters
        .iter()
        .filter(|p| p.at_start.name.is_none())
    {
        let name = &p.name.value;
        let value = match given.get(name) {
            Some(v) => check(name, &p.kind, v),
            None => Ok(default_of(&p.kind)),
        };
        match value {
            Ok(v) => {
                out.insert(name.clone(), v);
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn default_of(kind: &ParameterKind) -> ParamValue {
    match kind {
        ParameterKind::Boolean { default } => ParamValue::Bool(*default),
        ParameterKind::Password { default } => ParamValue::Password(default.clone()),
        other => ParamValue::String(other.default_value()),
    }
}

fn check(name: &str, kind: &ParameterKind, value: &str) -> Result<ParamValue, String> {
    match kind {
        ParameterKind::String { trim, .. } => Ok(ParamValue::String(if *trim {
            value.trim().to_owned()
        } else {
            value.to_owned()
        })),
        ParameterKind::Text { .. } => Ok(ParamValue::String(value.to_owned())),
        ParameterKind::Password { .. } => Ok(ParamValue::Password(value.to_owned())),
        ParameterKind::Boolean { .. } => match value {
            "true" => Ok(ParamValue::Bool(true)),
            "false" => Ok(ParamValue::Bool(false)),
            _ => Err(format!(
                "parameter `{name}` is a boolean: expected `true` or `false`, got `{value}`"
            )),
        },
        ParameterKind::Choice { choices } => {
            if choices.iter().any(|c| c == value) {
                Ok(ParamValue::String(value.to_owned()))
            } else {
                Err(format!(
                    "parameter `{name}` must be one of {}, got `{value}`",
                    choices
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        }
    }
}
