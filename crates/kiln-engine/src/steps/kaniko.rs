//! `kanikoBuild`: an image build handed to the executor ([`Executor::build_image`]); the
//! Kubernetes backend runs it in Kaniko pods, other executors say that they cannot.
//!
//! [`Executor::build_image`]: kiln_executor::Executor::build_image

use super::StepCall;
use crate::LogMessage;
use crate::error::StepError;
use kiln_executor::{ImageBuild, ImageLogLine};
use kiln_script::Value;
use std::path::Path;

pub(crate) async fn kaniko_build(call: &StepCall<'_>) -> Result<Value, StepError> {
    // A process place of the stage, like a process's: a resumed build's replay of the step
    // gets the same key, by which the executor knows what the step had done.
    let slot = call.build.process_keys.next(call.scope.node);
    let mut build = ImageBuild {
        context: call.string("context")?.unwrap_or_else(|| ".".to_owned()),
        dockerfile: call
            .string("dockerfile")?
            .unwrap_or_else(|| "Dockerfile".to_owned()),
        destinations: call.string_list("destinations")?,
        cache: call.bool("cache", false)?,
        cache_repo: call.string("cacheRepo")?,
        build_args: build_args(call.value("buildArgs")?)?,
        platforms: call.string_list("platforms")?,
        insecure_registries: call.string_list("insecureRegistries")?,
        key: None,
        docker_config: None,
    };
    if build.destinations.is_empty() {
        return Err(StepError::failed(
            "`kanikoBuild` needs at least one destination",
        ));
    }
    let mut what = vec![
        "kanikoBuild".to_owned(),
        build.context.clone(),
        build.dockerfile.clone(),
    ];
    what.extend(build.destinations.iter().cloned());
    what.extend(build.platforms.iter().cloned());
    let key = slot.key(&what, Path::new(&build.context), None);
    build.key = Some(key.clone());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let running = call.executor()?.build_image(build, tx);
    tokio::pin!(running);
    let built = loop {
        tokio::select! {
            Some(line) = rx.recv() => log_image_line(call, &key, line),
            result = &mut running => break result,
        }
    };
    while let Ok(line) = rx.try_recv() {
        log_image_line(call, &key, line);
    }
    let built = built?;
    for image in &built.images {
        let platform = image
            .platform
            .as_deref()
            .unwrap_or("the builder's platform");
        call.log(&format!(
            "kanikoBuild: pushed {} for {platform}",
            image.digest
        ));
    }
    for (destination, digest) in &built.indexes {
        call.log(&format!(
            "kanikoBuild: pushed the image index {destination}@{digest}"
        ));
    }
    Ok(Value::Null)
}

/// Writes what the image build said to the step's log, with its kind (see
/// [`LogMessage::image`]).
pub(crate) fn log_image_line(call: &StepCall<'_>, key: &str, line: ImageLogLine) {
    let message = LogMessage::image(line, Some(key));
    call.message(message.kind, &message.text);
}

/// `buildArgs`: a map (`[VERSION: '1.0']`) or a list of `NAME=value` strings.
fn build_args(value: Option<Value>) -> Result<Vec<String>, StepError> {
    let text = |v: Value| match v {
        Value::Str(s) => s,
        other => other.to_string(),
    };
    Ok(match value {
        None => Vec::new(),
        Some(Value::Map(entries)) => entries
            .into_iter()
            .map(|(k, v)| format!("{k}={}", text(v)))
            .collect(),
        Some(Value::List(items)) => items.into_iter().map(text).collect(),
        Some(Value::Str(s)) => vec![s],
        Some(other) => {
            return Err(StepError::failed(format!(
                "`buildArgs` of `kanikoBuild` must be a map or a list of NAME=value strings, not {}",
                other.kind()
            )));
        }
    })
}
