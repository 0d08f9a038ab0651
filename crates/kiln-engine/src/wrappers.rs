//! Block steps used as options (`options { withCredentials([...]) }`): Jenkins runs the
//! pipeline's or a stage's stages inside them, outermost first. They are entered and left
//! exactly as the same step in `steps { }` is, so bindings and clean-up are shared.

use crate::build::Build;
use crate::error::StepError;
use crate::scope::Scope;
use crate::steps::{After, Args, BoxFuture, StepCall, enter_block, exit_block};
use kiln_model::{Step, StepKind};
use std::sync::Arc;

/// What runs inside the wrappers, given the innermost scope.
pub(crate) type Inner<'a, T> =
    Box<dyn FnOnce(Scope) -> BoxFuture<'a, Result<T, StepError>> + Send + 'a>;

/// Runs `inner` inside the block steps `wrappers`, the first outermost.
pub(crate) fn within<'a, T: Send + 'a>(
    build: &'a Arc<Build>,
    wrappers: &'a [&'a Step],
    scope: Scope,
    inner: Inner<'a, T>,
) -> BoxFuture<'a, Result<T, StepError>> {
    Box::pin(async move {
        let Some((first, rest)) = wrappers.split_first() else {
            return inner(scope).await;
        };
        let StepKind::Native { id, name, args, .. } = &first.kind else {
            return Err(StepError::failed(
                "an option used as a wrapper must be one of kiln's block steps",
            ));
        };
        let call = StepCall {
            build,
            scope: &scope,
            name: &name.value,
            args: Args::Model(args),
            body: None,
        };
        let mut entered = enter_block(*id, &call).await?;
        let result = within(build, rest, entered.scope.clone(), inner).await;
        let (value, outcome) = match result {
            Ok(v) => (Some(v), Ok(())),
            Err(e) => (None, Err(e)),
        };
        let after = exit_block(&call, &mut entered, outcome).await;
        match (value, after) {
            (_, After::Done(Err(e))) => Err(e),
            (Some(v), _) => Ok(v),
            // The wrappers kiln allows as options never swallow an error or run again.
            (None, _) => Err(StepError::failed(format!(
                "`{}` used as an option ended its block without a result",
                name.value
            ))),
        }
    })
}
