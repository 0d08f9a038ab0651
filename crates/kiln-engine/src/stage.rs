//! One stage (or matrix cell): `when`, options, `input`, environment, its steps or child
//! stages, and its `post` blocks, in Jenkins' order.

use crate::build::Build;
use crate::error::StepError;
use crate::runner::{finish, finish_failed, run_parallel, run_sequence, skip_tree};
use crate::scope::{Scope, StageResult};
use crate::stage_agent::{self, AgentSlot, Entered};
use crate::steps::{
    BoxFuture, acquire_lock, duration_of, lock_option, lock_variable, retryable, run_steps,
    with_timeout,
};
use crate::{BuildEvent, BuildResult, InputRequest, StageOutcome, env, post, when};
use kiln_model::OptionKind;
use kiln_plan::{NodeBody, NodeId, PlanNode};
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// How a stage ended, for the group it belongs to.
#[derive(Debug)]
pub(crate) struct NodeEnd {
    pub(crate) name: String,
    /// The stage's result (SUCCESS for a skipped stage).
    pub(crate) result: BuildResult,
    /// The error that escapes the stage: later stages are skipped.
    pub(crate) error: Option<StepError>,
}

impl NodeEnd {
    /// A branch task that panicked (a bug in kiln): the build fails instead of hanging.
    pub(crate) fn crashed(e: &tokio::task::JoinError) -> Self {
        tracing::error!(error = %e, "a parallel branch task failed");
        NodeEnd {
            name: "(unknown)".to_owned(),
            result: BuildResult::Failure,
            error: Some(StepError::failed(format!(
                "internal error in a parallel branch: {e}"
            ))),
        }
    }
}

/// What the guarded part of a stage amounted to.
enum Flow {
    Ran,
    SkippedByWhen,
    /// `options { lock(..., skipIfLocked: true) }` found the resources taken.
    SkippedLocked,
    /// The stage had ended before a controller restart (see [`crate::Provision::Finished`]).
    FinishedBefore(BuildResult),
}

/// Runs one stage of the plan and everything inside it.
pub(crate) fn run_node(
    build: Arc<Build>,
    id: NodeId,
    parent: Scope,
) -> BoxFuture<'static, NodeEnd> {
    Box::pin(async move {
        let node = build.plan.node(id);
        build.send(BuildEvent::StageStarted {
            node: id,
            path: node.path.clone(),
        });
        let started = Instant::now();
        let stage = StageResult::new();
        let mut scope = Scope {
            node: Some(id),
            stage: Arc::clone(&stage),
            ..parent
        };
        let slot = AgentSlot::default();
        let flow = guarded(&build, node, &mut scope, &slot).await;
        let mut error = match flow {
            Ok(flow @ (Flow::SkippedByWhen | Flow::SkippedLocked)) => {
                let outcome = match flow {
                    Flow::SkippedLocked => StageOutcome::SkippedLocked,
                    _ => StageOutcome::SkippedByWhen,
                };
                slot.release(&build, BuildResult::Success).await;
                for &child in &node.children {
                    skip_tree(&build, child, outcome);
                }
                finish(&build, id, outcome, started.elapsed());
                return NodeEnd {
                    name: node.name.clone(),
                    result: BuildResult::Success,
                    error: None,
                };
            }
            Ok(Flow::FinishedBefore(result)) => {
                return finished_before(&build, node, id, result, started);
            }
            Ok(Flow::Ran) => None,
            Err(e) => Some(e),
        };
        if let Some(e) = &error {
            stage.worsen(e.result());
            if !e.is_interruption() {
                build.worsen(BuildResult::Failure);
            }
        }
        if !node.post.blocks.is_empty() {
            let post_scope = fresh_if_cancelled(&scope);
            if let Some(e) = post::run_post(&build, &node.post, &post_scope, || stage.get()).await {
                error.get_or_insert(e);
            }
        }
        let result = stage.get();
        slot.release(&build, result).await;
        let failed_step = error.as_ref().and_then(|e| e.failed_step_in(id));
        finish_failed(
            &build,
            id,
            StageOutcome::Ran(result),
            started.elapsed(),
            failed_step,
        );
        NodeEnd {
            name: node.name.clone(),
            result,
            error,
        }
    })
}

/// A stage that had run to its end (its `post` included) before a controller restart, as
/// it ended then: its result counts for the build again, and a failure or an interruption
/// escapes it again (so later stages are skipped as they were). A stage whose `catchError`
/// left it failed without an error escaping cannot be told from one that failed.
fn finished_before(
    build: &Build,
    node: &PlanNode,
    id: NodeId,
    result: BuildResult,
    started: Instant,
) -> NodeEnd {
    let why = format!(
        "stage '{}' had ended {result} before the controller restarted",
        node.name
    );
    let error = match result {
        BuildResult::Failure => Some(StepError::failed(why)),
        BuildResult::Aborted => Some(StepError::aborted(why)),
        _ => None,
    };
    if result != BuildResult::Aborted {
        build.worsen(result);
    }
    finish(build, id, StageOutcome::Ran(result), started.elapsed());
    NodeEnd {
        name: node.name.clone(),
        result,
        error,
    }
}

/// Post blocks run even after an abort or timeout, with a token of their own.
pub(crate) fn fresh_if_cancelled(scope: &Scope) -> Scope {
    if scope.cancel.is_cancelled() {
        Scope {
            cancel: CancellationToken::new(),
            ..scope.clone()
        }
    } else {
        scope.clone()
    }
}

/// `when` (with `beforeOptions`), then the stage's options around the rest.
async fn guarded(
    build: &Arc<Build>,
    node: &PlanNode,
    scope: &mut Scope,
    slot: &AgentSlot,
) -> Result<Flow, StepError> {
    let before_options = node.when.as_ref().is_some_and(|w| w.before_options);
    if before_options && !check_when(build, node, scope)? {
        return Ok(Flow::SkippedByWhen);
    }
    if node.options.has(|o| matches!(o, OptionKind::Timestamps)) {
        scope.timestamps = true;
    }
    let Some(lock) = node.options.iter().find_map(lock_option) else {
        return attempts(build, node, scope, slot, before_options).await;
    };
    let variable = lock.variable.clone();
    let Some(held) = acquire_lock(build, scope, lock).await? else {
        return Ok(Flow::SkippedLocked);
    };
    let outer = scope.clone();
    *scope = lock_variable(scope, variable.as_deref(), &held);
    let result = attempts(build, node, scope, slot, before_options).await;
    held.release(build, &outer);
    result
}

/// The stage's attempts (`retry`), each inside its `timeout`.
async fn attempts(
    build: &Arc<Build>,
    node: &PlanNode,
    scope: &mut Scope,
    slot: &AgentSlot,
    before_options: bool,
) -> Result<Flow, StepError> {
    let tries = node.options.retry().unwrap_or(1).max(1);
    let mut attempt = 1;
    loop {
        let mut try_scope = scope.clone();
        let result = match node.options.timeout() {
            Some(t) => {
                let token = scope.cancel.child_token();
                try_scope.cancel = token.clone();
                let limit =
                    duration_of(i64::try_from(t.millis).unwrap_or(i64::MAX), "MILLISECONDS")?;
                let log = |line: &str| build.log(scope.node, line, scope.timestamps);
                with_timeout(
                    inner(build, node, &mut try_scope, before_options, slot),
                    &token,
                    limit,
                    log,
                )
                .await
            }
            None => inner(build, node, &mut try_scope, before_options, slot).await,
        };
        // An attempt that had failed before a controller restart is retried as it was.
        let result = match result {
            Ok(Flow::FinishedBefore(BuildResult::Failure)) if attempt < tries => Err(
                StepError::failed("the attempt had failed before the controller restarted"),
            ),
            other => other,
        };
        scope.env = try_scope.env;
        match result {
            Err(e) if attempt < tries && retryable(&e, scope) => {
                // Each attempt gets a new agent (a new pod), as in Jenkins.
                slot.release(build, BuildResult::Failure).await;
                build.log(
                    scope.node,
                    &format!("Retrying stage (attempt {} of {tries})", attempt + 1),
                    scope.timestamps,
                );
                attempt += 1;
            }
            other => {
                // The stage's `post` runs where the stage ran.
                scope.site = try_scope.site;
                scope.cwd = try_scope.cwd;
                scope.container = try_scope.container;
                return other;
            }
        }
    }
}

/// `input`, the environment and `when` in Jenkins' order (`beforeInput`/`beforeAgent`
/// move `when` earlier), then the body.
async fn inner(
    build: &Arc<Build>,
    node: &PlanNode,
    scope: &mut Scope,
    when_done: bool,
    slot: &AgentSlot,
) -> Result<Flow, StepError> {
    let w = node.when.as_ref();
    let mut when_done = when_done;
    if !when_done && w.is_some_and(|w| w.before_input) {
        if !check_when(build, node, scope)? {
            return Ok(Flow::SkippedByWhen);
        }
        when_done = true;
    }
    if node.input.is_some() {
        let values = ask_input(build, node, scope).await?;
        *scope = scope.with_env(values);
    }
    if !when_done && w.is_some_and(|w| w.before_agent) {
        if !check_when(build, node, scope)? {
            return Ok(Flow::SkippedByWhen);
        }
        when_done = true;
    }
    // The agent sees the stage's name and axis values (`label "${PLATFORM}-agent"`).
    let mut vars = vec![("STAGE_NAME".to_owned(), node.name.clone())];
    vars.extend(node.axis_values.iter().cloned());
    *scope = scope.with_env(vars);
    if let Entered::FinishedBefore(result) = stage_agent::enter(build, node, scope, slot).await? {
        return Ok(Flow::FinishedBefore(result));
    }
    if let Some(layered) = scope.layered(build) {
        *scope = layered;
    }
    if let Err(e) = env::apply(&node.environment, build, scope).await {
        return Err(reported(build, scope, e));
    }
    if !when_done && !check_when(build, node, scope)? {
        return Ok(Flow::SkippedByWhen);
    }
    let wrappers = node.options.wrappers();
    if wrappers.is_empty() {
        return body(build, node, scope).await.map(|()| Flow::Ran);
    }
    // The body's errors are reported where they happen; the wrappers' own here.
    let inner: crate::wrappers::Inner<'_, Result<(), StepError>> =
        Box::new(move |s: Scope| Box::pin(async move { Ok(body(build, node, &s).await) }));
    match crate::wrappers::within(build, &wrappers, scope.clone(), inner).await {
        Ok(result) => result.map(|()| Flow::Ran),
        Err(e) => Err(reported(build, scope, e)),
    }
}

async fn body(build: &Arc<Build>, node: &PlanNode, scope: &Scope) -> Result<(), StepError> {
    let always_fail_fast = build
        .plan
        .pipeline
        .options
        .has(|o| matches!(o, OptionKind::ParallelsAlwaysFailFast));
    let end = match &node.body {
        NodeBody::Steps(steps) => {
            return run_steps(build, steps, scope)
                .await
                .map_err(|e| reported(build, scope, e));
        }
        NodeBody::Sequential | NodeBody::Cell => run_sequence(build, &node.children, scope).await,
        NodeBody::Parallel | NodeBody::Matrix => {
            run_parallel(
                build,
                &node.children,
                scope,
                node.fail_fast || always_fail_fast,
            )
            .await
        }
    };
    scope.stage.worsen(end.worst);
    end.error.map_or(Ok(()), Err)
}

/// Logs an error where it happened (interruptions say why where they are raised).
fn reported(build: &Build, scope: &Scope, e: StepError) -> StepError {
    if !e.is_interruption() {
        build.log(scope.node, &format!("ERROR: {e}"), scope.timestamps);
    }
    e
}

fn check_when(build: &Build, node: &PlanNode, scope: &Scope) -> Result<bool, StepError> {
    let Some(w) = &node.when else { return Ok(true) };
    let holds = when::holds(w, build, scope).map_err(|e| reported(build, scope, e))?;
    if !holds {
        build.log(
            scope.node,
            &format!("Stage \"{}\" skipped due to when conditional", node.name),
            scope.timestamps,
        );
    }
    Ok(holds)
}

/// The stage's `input`: the answer's parameter values (and, with `submitterParameter`, the
/// approver's name) become environment variables. Parameter names and defaults written as
/// expressions are evaluated now, in the stage's scope, as Jenkins evaluates the `input`
/// directive when the stage is reached.
async fn ask_input(
    build: &Build,
    node: &PlanNode,
    scope: &Scope,
) -> Result<Vec<(String, String)>, StepError> {
    let Some(input) = &node.input else {
        return Ok(Vec::new());
    };
    let message = crate::eval::eval_string(&input.message, build, scope)
        .map_err(|e| reported(build, scope, e))?;
    let mut parameters = Vec::with_capacity(input.parameters.len());
    for p in &input.parameters {
        let computed = |e: &Option<Box<kiln_syntax::ast::Expr>>, written: String| match e {
            Some(e) => crate::eval::eval_string(e, build, scope),
            None => Ok(written),
        };
        let name = computed(&p.at_start.name, p.name.value.clone())
            .map_err(|e| reported(build, scope, e))?;
        let default = computed(&p.at_start.default, p.kind.default_value())
            .map_err(|e| reported(build, scope, e))?;
        parameters.push(crate::InputParameter {
            name,
            default,
            ..crate::InputParameter::of(p)
        });
    }
    let req = InputRequest {
        id: input.id.clone().unwrap_or_else(|| node.name.clone()),
        message,
        ok: input.ok.clone().unwrap_or_else(|| "Proceed".to_owned()),
        parameters,
        submitter: input.submitter.clone(),
        submitter_parameter: input.submitter_parameter.clone(),
    };
    let values = crate::steps::ask(build, scope, req).await?;
    Ok(values.into_iter().collect())
}
