use crate::{Agent, Condition, Options, Parameter, Step, ToolRef, Trigger};
use kiln_diagnostics::{Span, Spanned};
use kiln_syntax::ast::{Expr, Stmt};
use serde::Serialize;

/// A validated Jenkinsfile.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Document {
    /// `pipeline { ... }`.
    Declarative(Box<Pipeline>),
    /// A script without `pipeline {}` (`node { stage('x') { ... } }`): run by the script layer.
    Scripted(Box<Scripted>),
}

/// A scripted pipeline: the whole file as one script, and the libraries its `@Library`
/// annotations load.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scripted {
    pub script: ScriptBlock,
    pub libraries: Vec<LibraryRef>,
}

/// A declarative pipeline: `pipeline { agent ...; stages { ... } }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pipeline {
    pub preamble: Preamble,
    pub agent: Agent,
    pub environment: Vec<EnvEntry>,
    pub options: Options,
    pub parameters: Vec<Parameter>,
    pub triggers: Vec<Trigger>,
    pub tools: Vec<ToolRef>,
    /// Libraries from `@Library` before the pipeline and from `libraries { lib(...) }`.
    pub libraries: Vec<LibraryRef>,
    pub stages: Vec<Stage>,
    pub post: Post,
    pub span: Span,
}

/// Statements before `pipeline { }` that the script layer runs first: `def` variables and
/// function definitions, then the `properties([...])` steps written there.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Preamble {
    pub definitions: Vec<Stmt>,
    /// `properties([...])` calls beside the pipeline, run (as steps) after `definitions`
    /// when the build starts; values computed at start never see them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Stmt>,
}

/// `@Library('name@ref')` or `lib('name@ref')`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LibraryRef {
    pub name: String,
    /// The version after `@`, if any (a branch, tag or commit).
    pub version: Option<String>,
    /// `lib("helpers@${BRANCH_NAME}")`: the name written as an expression, evaluated when
    /// the build starts (see [`LibraryRef::parse`]); until then `name` is empty.
    pub computed: Option<Box<Expr>>,
    pub span: Span,
}

impl LibraryRef {
    /// `name` or `name@version`.
    pub fn parse(text: &str, span: Span) -> LibraryRef {
        let (name, version) = match text.split_once('@') {
            Some((name, version)) => (name, Some(version.to_string())),
            None => (text, None),
        };
        LibraryRef {
            name: name.to_string(),
            version,
            computed: None,
            span,
        }
    }
}

/// One `NAME = value` of an `environment { }` block.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EnvEntry {
    pub name: Spanned<String>,
    pub value: EnvValue,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum EnvValue {
    /// A value evaluated when the stage starts (a string, a GString, an expression).
    Expr(Expr),
    /// `credentials('id')`: the secret's value, masked in the log. The id is evaluated
    /// when the stage starts, as Jenkins does (`credentials("${params.TOKEN_ID}")`).
    Credentials { id: Expr },
}

/// A stage: `stage('Build') { ... }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stage {
    pub name: Spanned<String>,
    pub agent: Option<Agent>,
    pub environment: Vec<EnvEntry>,
    pub options: Options,
    pub when: Option<When>,
    pub input: Option<Input>,
    pub tools: Vec<ToolRef>,
    pub body: StageBody,
    pub post: Post,
    /// `failFast true` on a stage with `parallel` or `matrix`.
    pub fail_fast: bool,
    pub span: Span,
}

/// What a stage does: exactly one of `steps`, `parallel`, `stages`, `matrix`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum StageBody {
    Steps(Vec<Step>),
    Parallel(Vec<Stage>),
    Sequential(Vec<Stage>),
    Matrix(Box<Matrix>),
}

/// `matrix { axes { ... } excludes { ... } stages { ... } }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Matrix {
    pub axes: Vec<Axis>,
    pub excludes: Vec<Exclude>,
    pub agent: Option<Agent>,
    pub environment: Vec<EnvEntry>,
    pub options: Options,
    pub when: Option<When>,
    pub tools: Vec<ToolRef>,
    pub stages: Vec<Stage>,
    pub post: Post,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Axis {
    pub name: Spanned<String>,
    pub values: Vec<Spanned<String>>,
}

/// One `exclude { axis { ... } ... }`: a cell is excluded when every axis matches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Exclude {
    pub axes: Vec<ExcludeAxis>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExcludeAxis {
    pub name: Spanned<String>,
    pub values: Vec<String>,
    /// `notValues`: matches when the cell's value is none of `values`.
    pub negated: bool,
}

/// `when { ... }`: all conditions must hold.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct When {
    pub conditions: Vec<Condition>,
    pub before_agent: bool,
    pub before_input: bool,
    pub before_options: bool,
    pub span: Span,
}

/// `input { message '...'; ok '...'; submitter '...'; parameters { ... } }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Input {
    pub message: Expr,
    pub id: Option<String>,
    pub ok: Option<String>,
    pub submitter: Option<String>,
    pub submitter_parameter: Option<String>,
    pub parameters: Vec<Parameter>,
    pub span: Span,
}

/// `post { always { } failure { } ... }`, blocks kept in Jenkins' evaluation order.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Post {
    pub blocks: Vec<PostBlock>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PostBlock {
    pub condition: PostCondition,
    pub steps: Vec<Step>,
    pub span: Span,
}

/// Post conditions in the order Jenkins evaluates them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum PostCondition {
    Always,
    Changed,
    Fixed,
    Regression,
    Aborted,
    Failure,
    Success,
    Unstable,
    Unsuccessful,
    NotBuilt,
    Cleanup,
}

impl PostCondition {
    pub const ALL: [PostCondition; 11] = [
        PostCondition::Always,
        PostCondition::Changed,
        PostCondition::Fixed,
        PostCondition::Regression,
        PostCondition::Aborted,
        PostCondition::Failure,
        PostCondition::Success,
        PostCondition::Unstable,
        PostCondition::Unsuccessful,
        PostCondition::NotBuilt,
        PostCondition::Cleanup,
    ];

    pub fn keyword(self) -> &'static str {
        match self {
            PostCondition::Always => "always",
            PostCondition::Changed => "changed",
            PostCondition::Fixed => "fixed",
            PostCondition::Regression => "regression",
            PostCondition::Aborted => "aborted",
            PostCondition::Failure => "failure",
            PostCondition::Success => "success",
            PostCondition::Unstable => "unstable",
            PostCondition::Unsuccessful => "unsuccessful",
            PostCondition::NotBuilt => "notBuilt",
            PostCondition::Cleanup => "cleanup",
        }
    }

    pub fn from_keyword(word: &str) -> Option<PostCondition> {
        PostCondition::ALL.into_iter().find(|c| c.keyword() == word)
    }
}

/// Groovy code kiln runs through the script layer: a `script { }` body, a
/// `when { expression { } }` body, or a whole scripted pipeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScriptBlock {
    pub statements: Vec<Stmt>,
    pub span: Span,
}
