//! `post { }` blocks of stages and of the pipeline, with Jenkins' conditions and order.

use crate::BuildResult;
use crate::build::Build;
use crate::error::StepError;
use crate::scope::Scope;
use crate::steps::run_steps;
use kiln_model::{Post, PostCondition};
use std::sync::Arc;

/// Runs the blocks whose condition holds, in the model's (Jenkins') order. Each condition
/// is checked against the result at the time its turn comes, so an earlier block that fails
/// counts. A failing block makes the result FAILURE; the remaining blocks still run.
/// Returns the first error, for the caller to propagate.
pub(crate) async fn run_post(
    build: &Arc<Build>,
    post: &Post,
    scope: &Scope,
    current: impl Fn() -> BuildResult,
) -> Option<StepError> {
    let mut first_error = None;
    for block in &post.blocks {
        if !meets(block.condition, current(), build.spec.previous_result) {
            continue;
        }
        if let Err(e) = run_steps(build, &block.steps, scope).await {
            build.log(
                scope.node,
                &format!(
                    "ERROR: {e} (in post condition `{}`)",
                    block.condition.keyword()
                ),
                scope.timestamps,
            );
            build.worsen(BuildResult::Failure);
            scope.stage.worsen(BuildResult::Failure);
            first_error.get_or_insert(StepError::Failed(e.to_string()));
        }
    }
    first_error
}

/// Jenkins' post conditions. Without a previous build, `changed` holds (as in Jenkins) and
/// `fixed`/`regression` do not.
pub(crate) fn meets(
    condition: PostCondition,
    current: BuildResult,
    previous: Option<BuildResult>,
) -> bool {
    use BuildResult as R;
    match condition {
        PostCondition::Always | PostCondition::Cleanup => true,
        PostCondition::Changed => previous.is_none_or(|p| p != current),
        PostCondition::Fixed => {
            current == R::Success && matches!(previous, Some(R::Failure | R::Unstable))
        }
        PostCondition::Regression => {
            matches!(current, R::Failure | R::Unstable | R::Aborted) && previous == Some(R::Success)
        }
        PostCondition::Aborted => current == R::Aborted,
        PostCondition::Failure => current == R::Failure,
        PostCondition::Success => current == R::Success,
        PostCondition::Unstable => current == R::Unstable,
        PostCondition::Unsuccessful => current != R::Success,
        PostCondition::NotBuilt => current == R::NotBuilt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BuildResult as R;
    use PostCondition as C;

    #[track_caller]
    fn check(c: C, current: R, previous: Option<R>, expected: bool) {
        assert_eq!(
            meets(c, current, previous),
            expected,
            "{c:?} {current:?} {previous:?}"
        );
    }

    #[test]
    fn follows_jenkins_conditions() {
        check(C::Changed, R::Success, None, true);
        check(C::Changed, R::Success, Some(R::Success), false);
        check(C::Changed, R::Failure, Some(R::Success), true);
        check(C::Fixed, R::Success, Some(R::Unstable), true);
        check(C::Fixed, R::Success, Some(R::Aborted), false);
        check(C::Regression, R::Aborted, Some(R::Success), true);
        check(C::Regression, R::Failure, None, false);
        check(C::Unsuccessful, R::Unstable, None, true);
        check(C::Unsuccessful, R::Success, None, false);
        check(C::NotBuilt, R::NotBuilt, None, true);
        check(C::Cleanup, R::Aborted, None, true);
    }
}
