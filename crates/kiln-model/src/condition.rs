use crate::ScriptBlock;
use kiln_diagnostics::Span;
use kiln_syntax::ast::Expr;
use serde::Serialize;

/// One condition of a `when { }` block.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Condition {
    pub kind: ConditionKind,
    pub span: Span,
}

/// How a `branch`/`tag` pattern is compared, as Jenkins' `comparator:` argument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum Comparator {
    /// Ant-style wildcards: `release-*`, `feature/**`.
    #[default]
    Glob,
    Regexp,
    Equals,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ConditionKind {
    Branch {
        pattern: Expr,
        comparator: Comparator,
    },
    /// `tag` with no pattern matches any tag.
    Tag {
        pattern: Option<Expr>,
        comparator: Comparator,
    },
    BuildingTag,
    /// `isRestartedRun()`: true in a build restarted from a stage; kiln has no restart from
    /// a stage (a build resumed after a controller restart is the same run), so it is false.
    IsRestartedRun,
    /// `changeRequest()` or `changeRequest target: 'main'`; the fields given must match.
    ChangeRequest {
        fields: Vec<(String, Expr)>,
        comparator: Comparator,
    },
    Environment {
        name: Expr,
        value: Expr,
        ignore_case: bool,
    },
    Equals {
        expected: Expr,
        actual: Expr,
    },
    Expression(ScriptBlock),
    Not(Box<Condition>),
    AllOf(Vec<Condition>),
    AnyOf(Vec<Condition>),
    /// `triggeredBy 'TimerTrigger'` / `triggeredBy cause: 'UserIdCause'`.
    TriggeredBy {
        cause: Expr,
        detail: Option<Expr>,
    },
    Changeset {
        pattern: Expr,
        case_sensitive: bool,
        comparator: Comparator,
    },
    Changelog {
        pattern: Expr,
    },
}
