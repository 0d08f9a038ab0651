//! `when { }` conditions, as Jenkins evaluates them.

use crate::build::Build;
use crate::error::StepError;
use crate::eval::{eval, eval_string};
use crate::scope::Scope;
use kiln_executor::FileSet;
use kiln_model::{Comparator, Condition, ConditionKind, ScriptBlock, When};
use kiln_script::Value;
use kiln_syntax::ast::Expr;
use std::path::Path;

/// Whether every condition of `when` holds.
pub(crate) fn holds(when: &When, build: &Build, scope: &Scope) -> Result<bool, StepError> {
    for c in &when.conditions {
        if !condition(c, build, scope)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn condition(c: &Condition, build: &Build, scope: &Scope) -> Result<bool, StepError> {
    Ok(match &c.kind {
        ConditionKind::Branch {
            pattern,
            comparator,
        } => match scope.var("BRANCH_NAME") {
            Some(branch) => matches(&eval_string(pattern, build, scope)?, branch, *comparator)?,
            None => false,
        },
        ConditionKind::Tag {
            pattern,
            comparator,
        } => match (scope.var("TAG_NAME"), pattern) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(tag), Some(p)) => matches(&eval_string(p, build, scope)?, tag, *comparator)?,
        },
        ConditionKind::BuildingTag => scope.var("TAG_NAME").is_some(),
        // No build of kiln's is a restart from a stage.
        ConditionKind::IsRestartedRun => false,
        ConditionKind::ChangeRequest { fields, comparator } => {
            change_request(fields, *comparator, build, scope)?
        }
        ConditionKind::Environment {
            name,
            value,
            ignore_case,
        } => {
            let name = eval_string(name, build, scope)?;
            let expected = eval_string(value, build, scope)?;
            let actual = scope.var(&name).unwrap_or_default();
            if *ignore_case {
                actual.eq_ignore_ascii_case(&expected)
            } else {
                actual == expected
            }
        }
        ConditionKind::Equals { expected, actual } => {
            loose_eq(&eval(expected, build, scope)?, &eval(actual, build, scope)?)
        }
        ConditionKind::Expression(block) => expression(block, build, scope)?,
        ConditionKind::Not(inner) => !condition(inner, build, scope)?,
        ConditionKind::AllOf(all) => {
            for c in all {
                if !condition(c, build, scope)? {
                    return Ok(false);
                }
            }
            true
        }
        ConditionKind::AnyOf(any) => {
            for c in any {
                if condition(c, build, scope)? {
                    return Ok(true);
                }
            }
            false
        }
        ConditionKind::TriggeredBy { cause, detail } => {
            triggered_by(cause, detail.as_ref(), build, scope)?
        }
        ConditionKind::Changeset { .. } | ConditionKind::Changelog { .. } => {
            build.notice_once(
                "`when { changeset }` and `when { changelog }` are false: this build has no change log".to_owned(),
            );
            false
        }
    })
}

/// `changeRequest()` holds for change-request builds; each field given must match too.
fn change_request(
    fields: &[(String, Expr)],
    comparator: Comparator,
    build: &Build,
    scope: &Scope,
) -> Result<bool, StepError> {
    if scope.var("CHANGE_ID").is_none() {
        return Ok(false);
    }
    for (field, expr) in fields {
        let var = format!("CHANGE_{}", upper_snake(field));
        let expected = eval_string(expr, build, scope)?;
        let Some(actual) = scope.var(&var) else {
            return Ok(false);
        };
        if !matches(&expected, actual, comparator)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `authorDisplayName` -> `AUTHOR_DISPLAY_NAME`.
fn upper_snake(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() && !out.is_empty() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn triggered_by(
    cause: &Expr,
    detail: Option<&Expr>,
    build: &Build,
    scope: &Scope,
) -> Result<bool, StepError> {
    let wanted = eval_string(cause, build, scope)?;
    let actual = &build.spec.cause;
    if wanted != actual.class_name() && !actual.class_name().starts_with(&wanted) {
        return Ok(false);
    }
    Ok(match (detail, actual) {
        (None, _) => true,
        (Some(d), crate::BuildCause::User(user)) => eval_string(d, build, scope)? == *user,
        (Some(d), other) => other.description().contains(&eval_string(d, build, scope)?),
    })
}

/// `expression { ... }`: the block's value, by Groovy truth.
fn expression(block: &ScriptBlock, build: &Build, scope: &Scope) -> Result<bool, StepError> {
    crate::eval::condition(&block.statements, build, scope)
}

/// Groovy `==` for the values `equals` compares: numbers by value, the rest as written.
fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => {
            (*x as f64 - y).abs() < f64::EPSILON
        }
        _ => a == b,
    }
}

/// Compares a `branch`/`tag`/`changeRequest` pattern with a value.
fn matches(pattern: &str, value: &str, comparator: Comparator) -> Result<bool, StepError> {
    match comparator {
        Comparator::Equals => Ok(pattern == value),
        Comparator::Glob => {
            let set = FileSet::new(&[pattern.to_owned()], &[]).map_err(StepError::from)?;
            Ok(set.matches(Path::new(value)))
        }
        Comparator::Regexp => {
            let re = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
                StepError::failed(format!("invalid regular expression `{pattern}`: {e}"))
            })?;
            Ok(re.is_match(value))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_patterns() {
        assert!(matches("release-*", "release-1.0", Comparator::Glob).unwrap_or(false));
        assert!(!matches("feature/*", "feature/a/b", Comparator::Glob).unwrap_or(true));
        assert!(matches("feature/**", "feature/a/b", Comparator::Glob).unwrap_or(false));
        assert!(matches("rel.*", "release", Comparator::Regexp).unwrap_or(false));
        assert!(!matches("rel", "release", Comparator::Regexp).unwrap_or(true));
        assert_eq!(upper_snake("authorDisplayName"), "AUTHOR_DISPLAY_NAME");
    }
}
