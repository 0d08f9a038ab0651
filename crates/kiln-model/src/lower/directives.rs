//! `pipeline { }`, `stages { }` and `stage('x') { }`: which directives go where.

use super::cx::{CallView, Cx};
use super::{
    agent, environment, library_ref, matrix, options, parameters, post, sections, steps, when,
};
use crate::{Agent, AgentKind, Computed, LibraryRef, Pipeline, Post, Preamble, Stage, StageBody};
use kiln_diagnostics::{Diagnostic, Span, Spanned};
use kiln_syntax::ast::Stmt;
use std::collections::HashMap;

const PIPELINE_DIRECTIVES: &[&str] = &[
    "agent",
    "environment",
    "options",
    "parameters",
    "triggers",
    "tools",
    "libraries",
    "stages",
    "post",
];

const STAGE_DIRECTIVES: &[&str] = &[
    "agent",
    "environment",
    "options",
    "when",
    "input",
    "tools",
    "steps",
    "parallel",
    "stages",
    "matrix",
    "post",
    "failFast",
];

/// Where a directive that is not allowed here does belong, for a helpful message.
fn belongs(name: &str) -> Option<&'static str> {
    Some(match name {
        "steps" | "when" | "input" | "parallel" | "matrix" | "failFast" => "in a `stage`",
        "stage" => "inside `stages { }`",
        "parameters" | "triggers" | "libraries" => "at the top of `pipeline { }`",
        "axes" | "excludes" => "in a `matrix`",
        _ => return None,
    })
}

/// Statements that are not directive calls.
fn not_a_directive(cx: &mut Cx, stmt: &Stmt, place: &str) {
    cx.error(
        "expected-directive",
        stmt.span,
        format!("expected a directive in {place}"),
        "Groovy code belongs in a `script { }` step",
    );
}

/// Reports a directive that is unknown or misplaced.
fn misplaced(cx: &mut Cx, call: &CallView<'_>, place: &str, known: &[&str]) {
    match belongs(call.name.value) {
        Some(home) => cx.error(
            "misplaced-directive",
            call.name.span,
            format!("`{}` is not allowed in {place}", call.name.value),
            format!("`{}` belongs {home}", call.name.value),
        ),
        None => cx.unknown("unknown-directive", "directive", call.name, known),
    }
}

/// Whether an unknown directive is a misspelling of `directive` (`stagess` for `stages`), so
/// lint goes on to check what is inside it.
fn meant(call: &CallView<'_>, directive: &str) -> bool {
    call.closure.is_some()
        && belongs(call.name.value).is_none()
        && kiln_diagnostics::did_you_mean(call.name.value, [directive]).is_some()
}

/// Records that a directive was seen; reports a second occurrence.
fn once(
    cx: &mut Cx,
    seen: &mut HashMap<&'static str, Span>,
    name: &'static str,
    span: Span,
) -> bool {
    if let Some(first) = seen.insert(name, span) {
        cx.push(
            Diagnostic::error("duplicate-directive", format!("`{name}` is given twice"))
                .with_primary(span, "second occurrence")
                .with_secondary(first, "first occurrence"),
        );
        return false;
    }
    true
}

fn static_name(known: &[&'static str], name: &str) -> Option<&'static str> {
    known.iter().copied().find(|k| *k == name)
}

/// State shared while lowering the stages of one pipeline.
pub(super) struct StageCx {
    /// The stage names of the `stages` (or `parallel`) block being lowered, for the
    /// uniqueness rule.
    names: HashMap<String, Span>,
    /// The pipeline's agent is `none`: stages with steps need their own.
    top_agent_none: bool,
}

pub(super) fn pipeline(
    cx: &mut Cx,
    call: &CallView<'_>,
    preamble: Preamble,
    mut libraries: Vec<LibraryRef>,
) -> Option<Pipeline> {
    if call.closure.is_none() {
        cx.error(
            "expected-block",
            call.span,
            "`pipeline` needs a block",
            "expected `pipeline { ... }`",
        );
        return None;
    }
    let mut seen = HashMap::new();
    let mut agent_ = None;
    let mut env = Vec::new();
    let mut opts = crate::Options::default();
    let mut params = Vec::new();
    let mut triggers = Vec::new();
    let mut tools = Vec::new();
    let mut stages_call = None;
    let mut misspelled_stages = None;
    let mut post_ = Post::default();
    for stmt in call.body() {
        let Some(d) = CallView::of_stmt(stmt) else {
            not_a_directive(cx, stmt, "`pipeline`");
            continue;
        };
        let Some(name) = static_name(PIPELINE_DIRECTIVES, d.name.value) else {
            misplaced(cx, &d, "`pipeline`", PIPELINE_DIRECTIVES);
            if meant(&d, "stages") {
                misspelled_stages = Some(d);
            }
            continue;
        };
        if !once(cx, &mut seen, name, d.name.span) || !sections::well_formed(cx, &d) {
            continue;
        }
        match name {
            "agent" => agent_ = agent::agent(cx, &d),
            "environment" => env = environment::environment(cx, &d),
            "options" => opts = options::options(cx, &d, options::Level::Pipeline),
            "parameters" => params = parameters::parameters(cx, &d),
            "triggers" => triggers = parameters::triggers(cx, &d),
            "tools" => tools = parameters::tools(cx, &d),
            "libraries" => libraries.extend(libraries_directive(cx, &d)),
            "stages" => stages_call = Some(d),
            _ => post_ = post::post(cx, &d),
        }
    }
    let agent_missing = agent_.is_none();
    let agent_ = agent_.unwrap_or(Agent {
        kind: AgentKind::Any,
        span: call.name.span,
    });
    let mut scx = StageCx {
        names: HashMap::new(),
        top_agent_none: agent_.kind == AgentKind::None,
    };
    let stages = match (&stages_call, &misspelled_stages) {
        (Some(s), _) => stages(cx, &mut scx, s, false, false),
        // `stagess { }`: its content is still checked, though the pipeline has no stages.
        (None, Some(s)) => {
            stages(cx, &mut scx, s, false, false);
            Vec::new()
        }
        (None, None) => Vec::new(),
    };
    let missing_stages = stages_call.is_none().then(|| {
        Diagnostic::error("missing-stages", "`pipeline` has no `stages`").with_primary(
            call.name.span,
            "add `stages { stage('Build') { steps { ... } } }`",
        )
    });
    // Reported after the problems inside the block, which are often their cause
    // (`agnet any`, `stagess { }`).
    if agent_missing {
        cx.error(
            "missing-agent",
            call.name.span,
            "`pipeline` has no `agent`",
            "add `agent any`, or `agent none` and an agent in each stage",
        );
    }
    if let Some(d) = missing_stages {
        cx.push(d);
    }
    Some(Pipeline {
        preamble,
        agent: agent_,
        environment: env,
        options: opts,
        parameters: params,
        triggers,
        tools,
        libraries,
        stages,
        post: post_,
        span: call.span,
    })
}

/// `libraries { lib('name@ref') }`.
fn libraries_directive(cx: &mut Cx, call: &CallView<'_>) -> Vec<LibraryRef> {
    let mut out = Vec::new();
    for stmt in call.body() {
        match CallView::of_stmt(stmt) {
            Some(l) if l.name.value == "lib" => {
                if let Some(arg) = l.single() {
                    match cx.computed_string(arg, "a library name") {
                        Some(Computed::Literal(text)) => out.push(library_ref(&text, arg.span)),
                        // Evaluated when the build starts, with its environment and
                        // parameters, then loaded like a literal name.
                        Some(Computed::AtStart(e)) => {
                            out.push(LibraryRef {
                                name: String::new(),
                                version: None,
                                computed: Some(e),
                                span: arg.span,
                            });
                        }
                        None => {}
                    }
                } else {
                    cx.error(
                        "wrong-arguments",
                        l.span,
                        "`lib` takes one library name",
                        "expected `lib('name@version')`",
                    );
                }
            }
            Some(l) => cx.unknown(
                "unknown-directive",
                "entry in `libraries`",
                l.name,
                &["lib"],
            ),
            None => not_a_directive(cx, stmt, "`libraries`"),
        }
    }
    out
}

/// `stages { stage('a') { } ... }`; `in_parallel` forbids further parallel/matrix.
pub(super) fn stages(
    cx: &mut Cx,
    scx: &mut StageCx,
    call: &CallView<'_>,
    has_agent: bool,
    in_parallel: bool,
) -> Vec<Stage> {
    let out = stage_list(cx, scx, call, has_agent, in_parallel);
    if out.is_empty() && call.closure.is_some() {
        cx.error(
            "empty-stages",
            call.name.span,
            format!("`{}` has no stages", call.name.value),
            "add at least one `stage('name') { ... }`",
        );
    }
    out
}

fn stage_list(
    cx: &mut Cx,
    scx: &mut StageCx,
    call: &CallView<'_>,
    has_agent: bool,
    in_parallel: bool,
) -> Vec<Stage> {
    if call.closure.is_none() {
        cx.error(
            "expected-block",
            call.span,
            format!("`{}` needs a block of stages", call.name.value),
            format!(
                "expected `{} {{ stage('name') {{ ... }} }}`",
                call.name.value
            ),
        );
        return Vec::new();
    }
    // Jenkins requires names to differ among the stages of one block only (a nested stage
    // may share its parent's name, as may stages of different blocks).
    let outer_names = std::mem::take(&mut scx.names);
    let mut out = Vec::new();
    for stmt in call.body() {
        match CallView::of_stmt(stmt) {
            Some(s) if s.name.value == "stage" => {
                if let Some(st) = stage(cx, scx, &s, has_agent, in_parallel) {
                    out.push(st);
                }
            }
            Some(s) => cx.unknown(
                "expected-stage",
                &format!("entry in `{}`", call.name.value),
                s.name,
                &["stage"],
            ),
            None => not_a_directive(cx, stmt, &format!("`{}`", call.name.value)),
        }
    }
    scx.names = outer_names;
    out
}

fn stage_name(cx: &mut Cx, scx: &mut StageCx, call: &CallView<'_>) -> Spanned<String> {
    let Some(arg) = call.single() else {
        cx.error(
            "missing-stage-name",
            call.span,
            "`stage` needs a name",
            "expected `stage('name') { ... }`",
        );
        return Spanned::new(String::new(), call.name.span);
    };
    let name = cx.literal_string(arg, "a stage name").unwrap_or_default();
    if name.trim().is_empty() {
        cx.error(
            "empty-stage-name",
            arg.span,
            "stage name is empty",
            "give the stage a name",
        );
    } else if let Some(first) = scx.names.insert(name.clone(), arg.span) {
        cx.push(
            Diagnostic::error("duplicate-stage", format!("duplicate stage name `{name}`"))
                .with_primary(arg.span, "used again here")
                .with_secondary(first, "first used here")
                .with_note("help: the stages of one block must have different names"),
        );
    }
    Spanned::new(name, arg.span)
}

pub(super) fn stage(
    cx: &mut Cx,
    scx: &mut StageCx,
    call: &CallView<'_>,
    parent_has_agent: bool,
    in_parallel: bool,
) -> Option<Stage> {
    let name = stage_name(cx, scx, call);
    if call.closure.is_none() {
        cx.error(
            "expected-block",
            call.span,
            format!("stage `{}` needs a block", name.value),
            "expected `stage('name') { steps { ... } }`",
        );
        return None;
    }
    let mut seen = HashMap::new();
    let mut st = Stage {
        name,
        agent: None,
        environment: Vec::new(),
        options: crate::Options::default(),
        when: None,
        input: None,
        tools: Vec::new(),
        body: StageBody::Steps(Vec::new()),
        post: Post::default(),
        fail_fast: false,
        span: call.span,
    };
    // The body directive is lowered after the others, once the agent is known.
    let mut bodies: Vec<CallView<'_>> = Vec::new();
    for stmt in call.body() {
        let Some(d) = CallView::of_stmt(stmt) else {
            not_a_directive(cx, stmt, "a stage");
            continue;
        };
        let Some(dname) = static_name(STAGE_DIRECTIVES, d.name.value) else {
            misplaced(cx, &d, "a stage", STAGE_DIRECTIVES);
            if meant(&d, "steps") {
                // `stepss { }`: its steps are still checked.
                steps::steps_block(cx, &d);
            }
            continue;
        };
        if !once(cx, &mut seen, dname, d.name.span) || !sections::well_formed(cx, &d) {
            continue;
        }
        match dname {
            "agent" => st.agent = agent::agent(cx, &d),
            "environment" => st.environment = environment::environment(cx, &d),
            "options" => st.options = options::options(cx, &d, options::Level::Stage),
            "when" => st.when = when::when(cx, &d),
            "input" => st.input = parameters::input(cx, &d),
            "tools" => st.tools = parameters::tools(cx, &d),
            "post" => st.post = post::post(cx, &d),
            "failFast" => {
                st.fail_fast = d
                    .single()
                    .and_then(|e| cx.literal_bool(e, "`failFast`"))
                    .unwrap_or(false);
            }
            _ => bodies.push(d),
        }
    }
    let has_agent = parent_has_agent
        || !scx.top_agent_none
        || st.agent.as_ref().is_some_and(|a| a.kind != AgentKind::None);
    st.body = stage_body(cx, scx, &st, &bodies, has_agent, in_parallel)?;
    if matches!(st.body, StageBody::Parallel(_) | StageBody::Matrix(_)) {
        fan_out_directives(cx, &st, &seen);
    }
    if st.fail_fast && !matches!(st.body, StageBody::Parallel(_) | StageBody::Matrix(_)) {
        cx.warn(
            "fail-fast-without-parallel",
            call.name.span,
            format!("`failFast` has no effect on stage `{}`", st.name.value),
            "it applies to stages with `parallel` or `matrix`",
        );
    }
    Some(st)
}

/// Jenkins refuses `agent` and `tools` on a stage whose body is `parallel` or `matrix`:
/// each branch (or the matrix itself) has its own.
fn fan_out_directives(cx: &mut Cx, st: &Stage, seen: &HashMap<&'static str, Span>) {
    let body = if matches!(st.body, StageBody::Matrix(_)) {
        "matrix"
    } else {
        "parallel"
    };
    for name in ["agent", "tools"] {
        if let Some(span) = seen.get(name) {
            cx.error(
                "directive-on-fan-out",
                *span,
                format!(
                    "stage `{}` has `{body}`, so it cannot have `{name}`",
                    st.name.value
                ),
                format!("give each of its stages an `{name}`"),
            );
        }
    }
}

fn stage_body(
    cx: &mut Cx,
    scx: &mut StageCx,
    st: &Stage,
    bodies: &[CallView<'_>],
    has_agent: bool,
    in_parallel: bool,
) -> Option<StageBody> {
    let [body] = bodies else {
        if bodies.is_empty() {
            cx.error(
                "missing-steps",
                st.span,
                format!("stage `{}` has nothing to do", st.name.value),
                "expected one of `steps`, `parallel`, `stages` or `matrix`",
            );
        } else {
            let names: Vec<String> = bodies
                .iter()
                .map(|b| format!("`{}`", b.name.value))
                .collect();
            cx.error(
                "conflicting-stage-body",
                bodies[1].name.span,
                format!("stage `{}` has both {}", st.name.value, names.join(" and ")),
                "a stage has exactly one of `steps`, `parallel`, `stages` or `matrix`",
            );
        }
        return None;
    };
    if in_parallel && matches!(body.name.value, "parallel" | "matrix") {
        cx.error(
            "nested-parallel",
            body.name.span,
            format!(
                "`{}` is not allowed inside a parallel branch or matrix",
                body.name.value
            ),
            "parallel stages cannot contain further `parallel` or `matrix` stages",
        );
        return None;
    }
    Some(match body.name.value {
        // Under `agent none` a stage without an agent runs its steps outside any agent, as
        // in Jenkins; `outside_agent` warns about the steps that need a workspace.
        "steps" => {
            // Jenkins reports a stage whose only step is an empty `parallel()` as a stage
            // with nothing to execute, at the stage.
            if let Some(parallel) = steps::empty_parallel(body) {
                cx.push(
                    Diagnostic::error(
                        "empty-parallel",
                        format!(
                            "stage `{}` has nothing to do: its `parallel` has no branches",
                            st.name.value
                        ),
                    )
                    .with_primary(st.name.span, "this stage runs nothing")
                    .with_secondary(
                        parallel,
                        "expected `parallel(first: { ... }, second: { ... })`",
                    ),
                );
                return Some(StageBody::Steps(Vec::new()));
            }
            StageBody::Steps(steps::steps_block(cx, body))
        }
        "parallel" => StageBody::Parallel(stages(cx, scx, body, has_agent, true)),
        "stages" => StageBody::Sequential(stages(cx, scx, body, has_agent, in_parallel)),
        _ => StageBody::Matrix(Box::new(matrix::matrix(cx, scx, body, has_agent)?)),
    })
}
