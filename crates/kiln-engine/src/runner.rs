//! The stage walk: stages one after the other (the roots, nested `stages`, a matrix cell's
//! stages) or side by side (`parallel` branches, matrix cells), with Jenkins' skipping rules.

use crate::build::Build;
use crate::error::StepError;
use crate::scope::Scope;
use crate::stage::run_node;
use crate::{BuildEvent, BuildResult, FailedStep, StageOutcome, StageSummary};
use kiln_model::OptionKind;
use kiln_plan::NodeId;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// How a group of stages ended: the error that escaped (if any) and the worst result of
/// the stages that ran.
#[derive(Debug)]
pub(crate) struct GroupEnd {
    pub(crate) error: Option<StepError>,
    pub(crate) worst: BuildResult,
}

impl GroupEnd {
    /// Counts a stage's result; aborted stages are left to the escaping error, so that
    /// branches a fail-fast failure aborted do not outweigh the failure itself.
    fn add(&mut self, result: BuildResult) {
        if result != BuildResult::Aborted {
            self.worst = self.worst.combine(result);
        }
    }
}

/// Runs stages in order. After an error the rest are skipped (as aborted when the error
/// was an interruption); with `skipStagesAfterUnstable` an unstable build skips them too.
pub(crate) async fn run_sequence(build: &Arc<Build>, ids: &[NodeId], scope: &Scope) -> GroupEnd {
    let skip_unstable = build
        .plan
        .pipeline
        .options
        .has(|o| matches!(o, OptionKind::SkipStagesAfterUnstable));
    let mut end = GroupEnd {
        error: None,
        worst: BuildResult::Success,
    };
    for &id in ids {
        let skip = match &end.error {
            Some(e) if e.is_interruption() => Some(StageOutcome::SkippedAborted),
            Some(_) => Some(StageOutcome::SkippedAfterFailure),
            None if scope.cancel.is_cancelled() => Some(StageOutcome::SkippedAborted),
            None if skip_unstable && build.result() == BuildResult::Unstable => {
                Some(StageOutcome::SkippedAfterFailure)
            }
            None => None,
        };
        if let Some(outcome) = skip {
            skip_tree(build, id, outcome);
            continue;
        }
        let node_end = run_node(Arc::clone(build), id, scope.clone()).await;
        end.add(node_end.result);
        end.error = node_end.error;
    }
    end
}

/// Runs stages at the same time, each in its own task. With `fail_fast`, the first branch
/// that fails aborts the others. A real failure is what escapes, rather than the aborts it
/// caused.
pub(crate) async fn run_parallel(
    build: &Arc<Build>,
    ids: &[NodeId],
    scope: &Scope,
    fail_fast: bool,
) -> GroupEnd {
    let token = scope.cancel.child_token();
    let branch_scope = Scope {
        cancel: token.clone(),
        ..scope.clone()
    };
    let mut tasks = JoinSet::new();
    for &id in ids {
        tasks.spawn(run_node(Arc::clone(build), id, branch_scope.clone()));
    }
    let mut end = GroupEnd {
        error: None,
        worst: BuildResult::Success,
    };
    while let Some(joined) = tasks.join_next().await {
        let node_end = joined.unwrap_or_else(|e| crate::stage::NodeEnd::crashed(&e));
        end.add(node_end.result);
        let Some(e) = node_end.error else { continue };
        if fail_fast && !e.is_interruption() && !token.is_cancelled() {
            build.log(
                scope.node,
                &format!("Failed in branch {}", node_end.name),
                scope.timestamps,
            );
            token.cancel();
        }
        end.error = match end.error.take() {
            Some(prev) if !prev.is_interruption() || e.is_interruption() => Some(prev),
            _ => Some(e),
        };
    }
    end
}

/// Records a stage that does not run, and everything inside it, with `outcome`.
pub(crate) fn skip_tree(build: &Build, id: NodeId, outcome: StageOutcome) {
    let node = build.plan.node(id);
    build.send(BuildEvent::StageStarted {
        node: id,
        path: node.path.clone(),
    });
    for &child in &node.children {
        skip_tree(build, child, outcome);
    }
    finish(build, id, outcome, Duration::ZERO);
}

/// Records a stage's outcome and reports it.
pub(crate) fn finish(build: &Build, id: NodeId, outcome: StageOutcome, duration: Duration) {
    finish_failed(build, id, outcome, duration, None);
}

/// Records a stage's outcome and reports it, with the step that failed in it.
pub(crate) fn finish_failed(
    build: &Build,
    id: NodeId,
    outcome: StageOutcome,
    duration: Duration,
    failed_step: Option<FailedStep>,
) {
    let path = build.stage_path(id);
    build.record_stage(StageSummary {
        node: id,
        path: path.clone(),
        outcome,
        duration,
        failed_step: failed_step.clone(),
    });
    build.send(BuildEvent::StageFinished {
        node: id,
        path,
        outcome,
        duration,
        failed_step,
    });
}
