//! Checking a pipeline's Groovy before it runs: every `script { }` block, every
//! `when { expression { } }`, the preamble and a whole scripted pipeline go through
//! kiln-script's translation, so unsupported Groovy fails at lint time with its position.
//!
//! It lives here because the engine is the crate that sees both the model and the script
//! layer (kiln-model must not depend on kiln-script).

use kiln_diagnostics::Diagnostic;
use kiln_model::{
    Condition, ConditionKind, Document, Pipeline, Post, ScriptBlock, Stage, StageBody, Step,
    StepKind,
};
use kiln_script::ScriptEngine;

/// The translation problems of every script in `doc`, in file order.
pub fn check_scripts(doc: &Document) -> Vec<Diagnostic> {
    let engine = ScriptEngine::new();
    let mut blocks: Vec<&ScriptBlock> = Vec::new();
    let mut preamble = Vec::new();
    let libraries = match doc {
        Document::Scripted(s) => {
            blocks.push(&s.script);
            !s.libraries.is_empty()
        }
        Document::Declarative(p) => {
            preamble.clone_from(&p.preamble.definitions);
            preamble.extend(p.preamble.steps.iter().cloned());
            pipeline(p, &mut blocks);
            !p.libraries.is_empty()
        }
    };
    let mut out = Vec::new();
    // Classes defined beside a declarative pipeline are usable in all its scripts.
    let classes = ScriptEngine::defined_classes(&preamble);
    if !preamble.is_empty() {
        out.extend(engine.check_block(&preamble));
    }
    for b in blocks {
        out.extend(engine.check_block_with_classes(&b.statements, &classes));
    }
    // A shared library's `src/` may define the classes the file does not.
    if libraries {
        out.retain(|d| d.code != kiln_script::UNKNOWN_CLASS);
    }
    out.sort_by_key(|d| d.primary_span().start);
    out
}

fn pipeline<'a>(p: &'a Pipeline, out: &mut Vec<&'a ScriptBlock>) {
    for s in &p.stages {
        stage(s, out);
    }
    post(&p.post, out);
}

fn stage<'a>(s: &'a Stage, out: &mut Vec<&'a ScriptBlock>) {
    if let Some(w) = &s.when {
        for c in &w.conditions {
            condition(c, out);
        }
    }
    match &s.body {
        StageBody::Steps(list) => steps(list, out),
        StageBody::Parallel(list) | StageBody::Sequential(list) => {
            for child in list {
                stage(child, out);
            }
        }
        StageBody::Matrix(m) => {
            if let Some(w) = &m.when {
                for c in &w.conditions {
                    condition(c, out);
                }
            }
            for child in &m.stages {
                stage(child, out);
            }
            post(&m.post, out);
        }
    }
    post(&s.post, out);
}

fn condition<'a>(c: &'a Condition, out: &mut Vec<&'a ScriptBlock>) {
    match &c.kind {
        ConditionKind::Expression(b) => out.push(b),
        ConditionKind::Not(inner) => condition(inner, out),
        ConditionKind::AllOf(list) | ConditionKind::AnyOf(list) => {
            for inner in list {
                condition(inner, out);
            }
        }
        _ => {}
    }
}

fn post<'a>(p: &'a Post, out: &mut Vec<&'a ScriptBlock>) {
    for b in &p.blocks {
        steps(&b.steps, out);
    }
}

fn steps<'a>(list: &'a [Step], out: &mut Vec<&'a ScriptBlock>) {
    for s in list {
        match &s.kind {
            StepKind::Script(b) => out.push(b),
            StepKind::Native { body, .. } | StepKind::Library { body, .. } => {
                if let Some(body) = body {
                    steps(body, out);
                }
            }
        }
    }
}
