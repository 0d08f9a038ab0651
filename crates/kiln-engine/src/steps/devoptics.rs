//! `gateProducesArtifact(file:, id:, type:, label:)` and `gateConsumesArtifact(...)`
//! (CloudBees DevOptics): a build says which artifact it made or used, a workspace file
//! (fingerprinted by its content) or an artifact named by `id` and `type`;
//! `gateConsumesRun(jobName:, runId:)` says it used what another job's run made (recorded
//! as a consumed artifact of type `run`, id `JOB#RUN`, or `JOB` for its last run). kiln has no
//! DevOptics service to tell; it records the artifact with the build (its summary's
//! reports: direction, id, type, label, file and SHA-256) and says in the log that no
//! DevOptics service is connected, so nothing is sent anywhere.

use super::StepCall;
use super::utility::{Digest, hex_digest};
use super::workspace_path::confined;
use crate::error::StepError;
use crate::{GateArtifact, GateDirection};
use kiln_script::Value;

pub(crate) async fn gate_artifact(
    call: &StepCall<'_>,
    direction: GateDirection,
) -> Result<Value, StepError> {
    let text = |key: &str| -> Result<Option<String>, StepError> {
        Ok(call.string(key)?.filter(|v| !v.trim().is_empty()))
    };
    let (file, id, kind, label) = (text("file")?, text("id")?, text("type")?, text("label")?);
    let artifact = match (file, id) {
        (Some(file), id) => {
            let path = confined(call, &file, &format!("{} file", call.name))?;
            let executor = call.executor()?;
            if !executor.file_exists(&path).await? {
                return Err(StepError::failed(format!(
                    "{}: file `{file}` does not exist in the workspace",
                    call.name
                )));
            }
            let sha256 = hex_digest(Digest::Sha256, &executor.read_file(&path).await?);
            GateArtifact {
                direction,
                id: id.unwrap_or_else(|| sha256.clone()),
                kind: kind.unwrap_or_else(|| "file".to_owned()),
                label,
                file: Some(file),
                sha256: Some(sha256),
            }
        }
        (None, Some(id)) => GateArtifact {
            direction,
            kind: kind.ok_or_else(|| {
                StepError::failed(format!(
                    "{}: an artifact given by `id` needs its `type` too",
                    call.name
                ))
            })?,
            id,
            label,
            file: None,
            sha256: None,
        },
        (None, None) => {
            return Err(StepError::failed(format!(
                "{}: give the artifact's `file`, or its `id` and `type`",
                call.name
            )));
        }
    };
    record(call, artifact);
    Ok(Value::Null)
}

/// `gateConsumesRun(jobName:, runId:, masterUrl:)`.
pub(crate) fn gate_run(call: &StepCall<'_>) -> Result<Value, StepError> {
    let job = call.req_string("jobName")?;
    let id = match call.string("runId")?.filter(|r| !r.trim().is_empty()) {
        Some(run) => format!("{job}#{run}"),
        None => job,
    };
    if let Some(url) = call.string("masterUrl")?.filter(|u| !u.is_empty()) {
        call.log(&format!(
            "gateConsumesRun: masterUrl {url} is not used: kiln records the run with this build"
        ));
    }
    record(
        call,
        GateArtifact {
            direction: GateDirection::Consumes,
            id,
            kind: "run".to_owned(),
            label: None,
            file: None,
            sha256: None,
        },
    );
    Ok(Value::Null)
}

/// Logs the artifact, says that no DevOptics service hears of it, and records it.
fn record(call: &StepCall<'_>, artifact: GateArtifact) {
    let verb = match artifact.direction {
        GateDirection::Produces => "produced",
        GateDirection::Consumes => "consumed",
    };
    let mut line = format!(
        "{}: recorded with the build as {verb}: id {}, type {}",
        call.name, artifact.id, artifact.kind
    );
    if let Some(label) = &artifact.label {
        line.push_str(&format!(", label '{label}'"));
    }
    if let (Some(file), Some(sha)) = (&artifact.file, &artifact.sha256) {
        line.push_str(&format!(", file {file} (sha256 {sha})"));
    }
    call.log(&line);
    call.build.notice_once(
        "gateProducesArtifact/gateConsumesArtifact/gateConsumesRun: no CloudBees DevOptics service is connected to kiln; the artifacts are recorded with the build only"
            .to_owned(),
    );
    call.build
        .add_reports(move |reports| reports.gate_artifacts.push(artifact));
}
