use crate::build::Build;
use crate::error::StepError;
use crate::eval::{eval, eval_string};
use crate::scope::Scope;
use kiln_executor::Executor;
use kiln_model::{Step, StepArg};
use kiln_script::Value;
use kiln_syntax::ast::Expr;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One step being run: its arguments (evaluated on demand), its block, and where it runs.
pub(crate) struct StepCall<'a> {
    pub(crate) build: &'a Arc<Build>,
    pub(crate) scope: &'a Scope,
    pub(crate) name: &'a str,
    pub(crate) args: Args<'a>,
    pub(crate) body: Option<&'a [Step]>,
}

/// Where a step's arguments come from.
#[derive(Clone, Copy)]
pub(crate) enum Args<'a> {
    /// Expressions written in `steps { }`, evaluated when the step reads them.
    Model(&'a [StepArg]),
    /// Values a `script { }` block passed (already evaluated).
    Script(&'a BTreeMap<String, Value>),
}

impl<'a> StepCall<'a> {
    /// The executor of the step's site; refused outside any agent.
    pub(crate) fn executor(&self) -> Result<&'a Arc<dyn Executor>, StepError> {
        self.scope.executor(self.build, self.name)
    }

    /// The argument as written, for steps that read its shape (`checkout scm`, bindings);
    /// `None` for arguments from scripts.
    pub(crate) fn expr(&self, name: &str) -> Option<&'a Expr> {
        match self.args {
            Args::Model(args) => args.iter().find(|a| a.name == name).map(|a| &a.value),
            Args::Script(_) => None,
        }
    }

    /// Whether the argument was given at all.
    pub(crate) fn has(&self, name: &str) -> bool {
        match self.args {
            Args::Model(_) => self.expr(name).is_some(),
            Args::Script(values) => values.contains_key(name),
        }
    }

    pub(crate) fn value(&self, name: &str) -> Result<Option<Value>, StepError> {
        match self.args {
            Args::Model(_) => self
                .expr(name)
                .map(|e| eval(e, self.build, self.scope))
                .transpose(),
            Args::Script(values) => Ok(values.get(name).cloned()),
        }
    }

    pub(crate) fn string(&self, name: &str) -> Result<Option<String>, StepError> {
        match self.args {
            Args::Model(_) => self
                .expr(name)
                .map(|e| eval_string(e, self.build, self.scope))
                .transpose(),
            Args::Script(_) => Ok(self.value(name)?.map(|v| match v {
                Value::Str(s) => s,
                other => other.to_string(),
            })),
        }
    }

    pub(crate) fn req_string(&self, name: &str) -> Result<String, StepError> {
        self.string(name)?.ok_or_else(|| self.missing(name))
    }

    pub(crate) fn bool(&self, name: &str, default: bool) -> Result<bool, StepError> {
        Ok(match self.value(name)? {
            None => default,
            Some(Value::Bool(b)) => b,
            Some(Value::Str(s)) if s == "true" || s == "false" => s == "true",
            Some(other) => return Err(self.wrong_type(name, "a boolean", &other)),
        })
    }

    pub(crate) fn int(&self, name: &str) -> Result<Option<i64>, StepError> {
        Ok(match self.value(name)? {
            None => None,
            Some(Value::Int(i)) => Some(i),
            Some(Value::Str(s)) if s.trim().parse::<i64>().is_ok() => s.trim().parse().ok(),
            Some(other) => return Err(self.wrong_type(name, "a number", &other)),
        })
    }

    /// A list of strings; a single string counts as a list of one.
    pub(crate) fn string_list(&self, name: &str) -> Result<Vec<String>, StepError> {
        Ok(match self.value(name)? {
            None => Vec::new(),
            Some(Value::List(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::Str(s) => s,
                    other => other.to_string(),
                })
                .collect(),
            Some(Value::Str(s)) => vec![s],
            Some(other) => return Err(self.wrong_type(name, "a list of strings", &other)),
        })
    }

    /// The same call with other arguments, for a step that runs as another (`archive` as
    /// `archiveArtifacts`, `step([$class: ...])` as the step the class stands for).
    pub(crate) fn with_args<'b>(&'b self, args: Args<'b>, name: &'b str) -> StepCall<'b> {
        StepCall {
            build: self.build,
            scope: self.scope,
            name,
            args,
            body: self.body,
        }
    }

    /// The step's block (an empty one when the step was written without one).
    pub(crate) fn body(&self) -> &'a [Step] {
        self.body.unwrap_or(&[])
    }

    /// Writes a line to the step's log.
    pub(crate) fn log(&self, line: &str) {
        if let Some(tee) = &self.scope.tee {
            tee.line(line);
        }
        self.build.log(self.scope.node, line, self.scope.timestamps);
    }

    /// Writes a line of a given kind to the step's log.
    pub(crate) fn message(&self, kind: crate::LineKind, line: &str) {
        self.build
            .message(self.scope.node, kind, line, self.scope.timestamps);
    }

    fn missing(&self, name: &str) -> StepError {
        StepError::failed(format!("`{}` needs `{name}`", self.name))
    }

    fn wrong_type(&self, name: &str, expected: &str, got: &Value) -> StepError {
        StepError::failed(format!(
            "`{name}` of `{}` must be {expected}, not {}",
            self.name,
            got.kind()
        ))
    }
}
