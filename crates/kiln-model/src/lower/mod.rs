//! Lowering: syntax tree -> [`Document`]. One module per directive family.

mod agent;
pub(crate) use agent::IGNORED_KUBERNETES_KEYS;
mod cx;
mod directives;
mod environment;
mod matrix;
mod options;
mod outside_agent;
mod parameters;
mod post;
mod sections;
mod steps;
mod when;

use crate::{Document, LibraryRef, Preamble, ScriptBlock, Scripted};
use cx::{CallView, Cx};
use kiln_diagnostics::Diagnostic;
use kiln_syntax::ast::{ExprKind, File, StmtKind};

/// Parses and lowers a Jenkinsfile. The document is `None` only when the text holds no
/// pipeline at all; check the diagnostics for errors before running it.
pub fn load(text: &str) -> (Option<Document>, Vec<Diagnostic>) {
    let (file, mut diags) = kiln_syntax::parse(text);
    let (doc, more) = lower(&file);
    diags.extend(more);
    (doc, diags)
}

/// Lowers a parsed file into a [`Document`], collecting every problem found.
pub fn lower(file: &File) -> (Option<Document>, Vec<Diagnostic>) {
    let mut cx = Cx::default();
    let mut preamble = Preamble::default();
    let mut libraries = Vec::new();
    let mut pipeline_call = None;
    let mut others = Vec::new();
    // Every statement that runs, in order (for a scripted pipeline).
    let mut ordered = Vec::new();
    for stmt in &file.statements {
        match &stmt.kind {
            StmtKind::Annotated { annotation, .. } if annotation.name.name == "Library" => {
                libraries.extend(library_annotation(&mut cx, annotation));
            }
            // `@Field def x = ...`: a variable of the script that its functions see, as
            // the script layer makes it.
            StmtKind::Annotated { annotation, target }
                if annotation.name.name == "Field"
                    && matches!(target.kind, StmtKind::Var { .. }) =>
            {
                preamble.definitions.push(stmt.clone());
                ordered.push(stmt.clone());
            }
            // `@NonCPS def f() { }` and the like: the definition, without its annotation.
            StmtKind::Annotated { annotation, target }
                if matches!(
                    target.kind,
                    StmtKind::Function { .. } | StmtKind::Class { .. } | StmtKind::Var { .. }
                ) =>
            {
                cx.warn(
                    "ignored-annotation",
                    annotation.span,
                    format!("annotation `@{}` is ignored by kiln", annotation.name.name),
                    "the definition is kept; the annotation has no effect in kiln",
                );
                preamble.definitions.push((**target).clone());
                ordered.push((**target).clone());
            }
            StmtKind::Annotated { annotation, .. } => cx.warn(
                "ignored-annotation",
                annotation.span,
                format!("annotation `@{}` is ignored by kiln", annotation.name.name),
                "kiln only reads `@Library` before a pipeline",
            ),
            // Imports name the classes scripts use (kiln's script layer checks each use);
            // classes are defined for every script of the file.
            StmtKind::Import { .. }
            | StmtKind::Class { .. }
            | StmtKind::Var { .. }
            | StmtKind::MultiVar { .. }
            | StmtKind::Function { .. } => {
                preamble.definitions.push(stmt.clone());
                ordered.push(stmt.clone());
            }
            StmtKind::Expr(e) => match CallView::of_expr(e) {
                Some(call) if call.name.value == "pipeline" => {
                    if let Some(first) = pipeline_call.replace(call) {
                        cx.push(
                            Diagnostic::error(
                                "duplicate-pipeline",
                                "more than one `pipeline` block",
                            )
                            .with_primary(e.span, "second `pipeline` block")
                            .with_secondary(first.name.span, "first one here"),
                        );
                    }
                }
                // `NAME = value` beside the pipeline sets a script variable (Groovy's
                // binding) before the pipeline runs, as `def` does.
                _ if matches!(e.kind, kiln_syntax::ast::ExprKind::Assign { .. }) => {
                    preamble.definitions.push(stmt.clone());
                    ordered.push(stmt.clone());
                }
                // A step that sets the job's properties: beside a declarative pipeline it
                // runs before the pipeline (`Preamble::steps`), in a script where it stands.
                Some(call) if call.name.value == "properties" => {
                    preamble.steps.push(stmt.clone());
                    ordered.push(stmt.clone());
                }
                _ => {
                    others.push(stmt.clone());
                    ordered.push(stmt.clone());
                }
            },
            StmtKind::Error => {}
            _ => {
                others.push(stmt.clone());
                ordered.push(stmt.clone());
            }
        }
    }
    cx.libraries_loaded = !libraries.is_empty()
        || pipeline_call.as_ref().is_some_and(|c| {
            c.body()
                .iter()
                .any(|s| CallView::of_stmt(s).is_some_and(|d| d.name.value == "libraries"))
        });
    let doc = match pipeline_call {
        Some(call) => {
            for stmt in &others {
                cx.error(
                    "statement-outside-pipeline",
                    stmt.span,
                    "statement outside `pipeline { }`",
                    "only `def`, assignments, functions, classes, `import` and `@Library` may stand beside a declarative pipeline",
                );
            }
            let pipeline = directives::pipeline(&mut cx, &call, preamble, libraries);
            for d in pipeline.iter().flat_map(outside_agent::check) {
                cx.push(d);
            }
            pipeline.map(|p| Document::Declarative(Box::new(p)))
        }
        None if others.is_empty()
            && preamble.definitions.is_empty()
            && preamble.steps.is_empty() =>
        {
            cx.push(
                Diagnostic::error("missing-pipeline", "no pipeline found").with_primary(
                    file.span,
                    "expected `pipeline { ... }` or a scripted pipeline such as `node { ... }`",
                ),
            );
            None
        }
        None if nested_pipeline(&mut cx, &others) => None,
        None => Some(Document::Scripted(Box::new(Scripted {
            script: ScriptBlock {
                statements: ordered,
                span: file.span,
            },
            libraries,
        }))),
    };
    (doc, cx.diags)
}

/// A `pipeline { }` inside another block (`timeout(...) { pipeline { } }`): Jenkins refuses
/// it, since a declarative pipeline must stand at the top level. Reports each; true if any.
fn nested_pipeline(cx: &mut Cx, stmts: &[kiln_syntax::ast::Stmt]) -> bool {
    let mut found = false;
    for stmt in stmts {
        let Some(call) = CallView::of_stmt(stmt) else {
            continue;
        };
        if call.name.value == "pipeline" && call.closure.is_some() {
            cx.error(
                "nested-pipeline",
                call.name.span,
                "`pipeline { }` must stand at the top level of the Jenkinsfile",
                "move it out of the enclosing block",
            );
            found = true;
        } else {
            found |= nested_pipeline(cx, call.body());
        }
    }
    found
}

/// `@Library('a@v1')`, `@Library(['a', 'b@v2'])`, `@Library(value = 'a', changelog = false)`.
fn library_annotation(cx: &mut Cx, annotation: &kiln_syntax::ast::Annotation) -> Vec<LibraryRef> {
    let mut out = Vec::new();
    for arg in &annotation.args {
        if arg.name.as_ref().is_some_and(|n| n.name != "value") {
            continue;
        }
        let items: Vec<&kiln_syntax::ast::Expr> = match &arg.value.kind {
            ExprKind::List(items) => items.iter().collect(),
            _ => vec![&arg.value],
        };
        for item in items {
            if let Some(text) = cx.literal_string(item, "a library name") {
                out.push(library_ref(&text, item.span));
            }
        }
    }
    if out.is_empty() {
        cx.error(
            "missing-library-name",
            annotation.span,
            "`@Library` names no library",
            "expected `@Library('name')` or `@Library('name@version')`",
        );
    }
    out
}

pub(crate) fn library_ref(text: &str, span: kiln_diagnostics::Span) -> LibraryRef {
    LibraryRef::parse(text, span)
}
