use crate::Computed;
use kiln_diagnostics::{Span, Spanned};
use kiln_syntax::ast::Expr;
use serde::Serialize;

/// One build parameter of `parameters { }` (or of an `input`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Parameter {
    pub name: Spanned<String>,
    pub kind: ParameterKind,
    pub description: Option<String>,
    /// The parts written as expressions, which Jenkins evaluates when the build starts.
    pub at_start: ParameterExprs,
    pub span: Span,
}

/// A parameter's name or default written as an expression (`name: "${PREFIX}_FLAG"`,
/// `defaultValue: "${someVar}"`), evaluated when the build starts: until then `name` is
/// empty, or the default of `kind` is the empty string.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ParameterExprs {
    pub name: Option<Box<Expr>>,
    pub default: Option<Box<Expr>>,
}

impl ParameterExprs {
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.default.is_none()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ParameterKind {
    String {
        default: String,
        trim: bool,
    },
    Text {
        default: String,
    },
    Boolean {
        default: bool,
    },
    /// The first choice is the default, as in Jenkins.
    Choice {
        choices: Vec<String>,
    },
    Password {
        default: String,
    },
}

impl ParameterKind {
    pub fn keyword(&self) -> &'static str {
        match self {
            ParameterKind::String { .. } => "string",
            ParameterKind::Text { .. } => "text",
            ParameterKind::Boolean { .. } => "booleanParam",
            ParameterKind::Choice { .. } => "choice",
            ParameterKind::Password { .. } => "password",
        }
    }

    /// The value used when the build is started without this parameter.
    pub fn default_value(&self) -> String {
        match self {
            ParameterKind::String { default, .. }
            | ParameterKind::Text { default }
            | ParameterKind::Password { default } => default.clone(),
            ParameterKind::Boolean { default } => default.to_string(),
            ParameterKind::Choice { choices } => choices.first().cloned().unwrap_or_default(),
        }
    }
}

/// `triggers { cron('H 4 * * 1-5') }` and friends; the server schedules them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trigger {
    pub kind: TriggerKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum TriggerKind {
    /// The schedule; an expression is evaluated by the build, which records the schedule
    /// for the job (an empty one: no trigger).
    Cron(Computed<String>),
    PollScm(Computed<String>),
    /// `parameterizedCron('H 4 * * * %GREETING=Hola')` (Parameterized Scheduler plugin):
    /// schedule lines with the parameter values their builds start with
    /// ([`crate::parse_param_cron`]); an expression is evaluated by the build, like `cron`.
    ParameterizedCron(Computed<String>),
    Upstream {
        projects: Vec<String>,
        threshold: String,
    },
    /// `githubPush()`: builds on a GitHub push webhook.
    GithubPush,
    /// `issueCommentTrigger('.*rebuild.*')` (GitHub PR Comment Build plugin): a comment on
    /// the pull request matching the pattern (whole, any case) rebuilds it.
    IssueComment(String),
    /// A trigger from a plugin kiln does not provide (`gitlab`, `GenericTrigger`, ...): accepted, as Jenkins users write them; lint warns and a
    /// build names it in its log as having no effect.
    Plugin(String),
}

/// `tools { maven 'Maven 3.9' }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolRef {
    pub kind: Spanned<String>,
    pub name: Expr,
}
