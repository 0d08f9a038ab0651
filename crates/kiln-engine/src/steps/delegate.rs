//! `step([$class: 'NAME', ...])`: Jenkins' generic form for build steps that predate their
//! own step names. kiln runs the two common ones as the steps they stand for
//! (`JUnitResultArchiver` as `junit`, `ArtifactArchiver` as `archiveArtifacts`); any other
//! class fails the step, naming it.

use super::{Args, StepCall, artifacts, files, junit};
use crate::error::StepError;
use kiln_script::Value;
use std::collections::BTreeMap;

/// The `$class` a Jenkins describable map names, with its other entries.
pub(crate) fn class_of(value: &Value) -> Option<(&str, BTreeMap<String, Value>)> {
    let Value::Map(entries) = value else {
        return None;
    };
    let class = value.get("$class")?.as_str()?;
    let rest = entries
        .iter()
        .filter(|(k, _)| k != "$class")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Some((class, rest))
}

/// What the step fails with for a `$class` kiln does not run.
pub(crate) fn unsupported_class(step: &str, class: &str) -> StepError {
    StepError::failed(format!(
        "`{step}` with `$class: '{class}'` is not provided by kiln"
    ))
}

pub(crate) async fn step(call: &StepCall<'_>) -> Result<Value, StepError> {
    let value = call.value("delegate")?.unwrap_or(Value::Null);
    let Some((class, args)) = class_of(&value) else {
        return Err(StepError::failed(format!(
            "`step` needs a map with `$class`, not {}",
            value.kind()
        )));
    };
    // The short class names Jenkins accepts, and their fully qualified spellings.
    match class.rsplit('.').next().unwrap_or(class) {
        "JUnitResultArchiver" => junit::junit(&call.with_args(Args::Script(&args), "junit")).await,
        "ArtifactArchiver" => {
            artifacts::archive(&call.with_args(Args::Script(&args), "archiveArtifacts")).await
        }
        // The Workspace Cleanup plugin's publisher, as its `cleanWs` step.
        "WsCleanup" => files::clean_ws(&call.with_args(Args::Script(&args), "cleanWs")).await,
        _ => Err(unsupported_class("step", class)),
    }
}
