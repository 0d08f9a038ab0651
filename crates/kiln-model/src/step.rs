use crate::{ScriptBlock, StepId};
use kiln_diagnostics::{Span, Spanned};
use kiln_syntax::ast::{Arg, Expr};
use serde::Serialize;

/// One step of a `steps { }` or `post { }` block.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    pub kind: StepKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum StepKind {
    /// A step kiln provides, with its arguments normalised to names (`sh 'x'` has the
    /// argument `script`) and its block, for steps that take one (`dir('x') { ... }`).
    Native {
        id: StepId,
        name: Spanned<String>,
        args: Vec<StepArg>,
        body: Option<Vec<Step>>,
    },
    /// `script { ... }`.
    Script(ScriptBlock),
    /// A step that is not kiln's own: a global of one of the pipeline's shared libraries
    /// (`vars/NAME`), resolved by the script layer when the build runs, or a step kiln does
    /// not provide, which fails the build when reached (lint warns about it).
    Library {
        name: Spanned<String>,
        args: Vec<Arg>,
        body: Option<Vec<Step>>,
    },
}

/// A named argument of a native step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepArg {
    pub name: &'static str,
    pub value: Expr,
}

impl Step {
    /// The argument named `name`, if it was given.
    pub fn arg(&self, name: &str) -> Option<&Expr> {
        match &self.kind {
            StepKind::Native { args, .. } => args.iter().find(|a| a.name == name).map(|a| &a.value),
            _ => None,
        }
    }

    /// The step's name as written (`script` for script blocks).
    pub fn name(&self) -> &str {
        match &self.kind {
            StepKind::Native { name, .. } | StepKind::Library { name, .. } => name,
            StepKind::Script(_) => "script",
        }
    }
}
