//! A build's agents on the execution backend: the build's own agent when its top-level
//! agent is one the backend serves (e.g. `kubernetes { }`, a `label` a pod template carries,
//! `docker { }`, or `dockerfile { }` with `dockerfile_agents` configured), acquired with its
//! `yamlFile` read from the prepared workspace, waiting for a slot when `max_concurrent_pods`
//! are in use; the prepared workspace is uploaded into it and its name stored before the
//! first step runs, and it is released (clean after SUCCESS, else dirty) when the build ends.
//! Stages with agents of their own get them from kiln-engine's `BackendAgents`, recorded
//! through `agent_records.rs`.

use crate::cause;
use crate::image_records::unfinished_kaniko_pods;
use crate::runner::BuildTask;
use kiln_backend::{AgentName, AgentWanted, BackendError, Lease, Notes, Placement};
use kiln_diagnostics::{Diagnostic, RenderOptions, SourceFile, render_all};
use kiln_engine::{LogMessage, Prepared};
use kiln_store::{LogEventKind, PodRecord, StagePodRecord};
use kiln_types::BuildResult;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::mpsc;

impl BuildTask {
    /// The build's own agent, when the backend serves its top-level agent: acquired (or
    /// taken from a warm pool) with the prepared workspace uploaded into it. Errors are log
    /// lines saying why not.
    pub(crate) async fn backend_agent(
        &mut self,
        prepared: &Prepared,
        workspace: &Path,
    ) -> Result<Option<Lease>, Vec<String>> {
        let Some(backend) = self.shared.backend.clone() else {
            return Ok(None);
        };
        let id = self.recorder.record.id.clone();
        let (waiting_tx, mut waiting) = mpsc::unbounded_channel();
        let notes: Notes = Arc::new(move |note| {
            let _ = waiting_tx.send(LogMessage::from(note));
        });
        let pipeline = &prepared.pipeline;
        // A top-level agent is read before the build runs: its values are its literals.
        let agent = kiln_plan::agent_spec(&pipeline.agent, &mut |e| e.as_plain_str());
        let timeout = pipeline.options.timeout().filter(|t| !t.activity);
        let wanted = AgentWanted {
            agent,
            job: id.job.as_str().to_owned(),
            build: id.number,
            place: Placement::Build {
                timeout: timeout.map(|t| std::time::Duration::from_millis(t.millis)),
            },
            workspace: workspace.to_path_buf(),
            notes,
        };
        let acquire = backend.acquire(wanted);
        tokio::pin!(acquire);
        let lease = loop {
            tokio::select! {
                res = &mut acquire => match res {
                    Ok(Some(lease)) => break lease,
                    Ok(None) => return Ok(None),
                    Err(e) => return Err(acquire_failed(e, prepared.scripts.source.as_deref())),
                },
                Some(line) = waiting.recv() => {
                    let cause = cause::of(&self.recorder.record).description();
                    self.recorder.line_before_engine(&cause, &line);
                    self.recorder.flush().await;
                }
                () = self.cancel.cancelled() => return Err(vec!["Aborted while the build's pod was starting".to_owned()]),
            }
        };
        let name = lease.name().map(|n| n.name).unwrap_or_default();
        let line = format!("Running in pod {name}");
        self.recorder
            .after_first_line(LogEventKind::RunningInPod { pod: name }, &line);
        match lease.upload(workspace).await {
            Ok(n) => {
                self.recorder.after_first_line(
                    LogEventKind::WorkspaceUploaded,
                    &format!("Uploaded {n} workspace files into the pod"),
                );
                // Stored before the first step runs: a new controller takes the pod over.
                self.recorder.record.pod = lease.name().map(|n| PodRecord {
                    namespace: n.namespace.unwrap_or_default(),
                    name: n.name,
                });
                self.recorder.touch();
                self.recorder.flush().await;
                Ok(Some(lease))
            }
            Err(e) => {
                self.release_agent(lease, BuildResult::Failure).await;
                Err(vec![format!(
                    "ERROR: cannot upload the workspace into the pod: {e}"
                )])
            }
        }
    }

    /// Ends the build's use of its own agent.
    pub(crate) async fn release_agent(&self, lease: Lease, result: BuildResult) {
        if let Some(backend) = &self.shared.backend
            && let Err(e) = backend.release(lease, result).await
        {
            tracing::warn!(error = %e, "cannot release a build pod");
        }
    }

    /// Deletes the recorded stage agents still in use (not released): those of a resumed
    /// build that ended without taking them over.
    pub(crate) async fn discard_stage_agents(&self) {
        let Some(backend) = &self.shared.backend else {
            return;
        };
        let left: Vec<AgentName> = (self.recorder.record.stage_pods.iter())
            .filter(|p| p.released.is_none())
            .map(stage_agent_name)
            .collect();
        backend.discard(&left).await;
    }

    /// Deletes the Kaniko pods a resumed build's record names whose image it does not say
    /// was pushed, when the build ends: a step the resumed build did not run again (it was
    /// aborted, or took another path) would leave them running. One gone already is fine.
    pub(crate) async fn discard_unfinished_builders(&self) {
        let Some(backend) = &self.shared.backend else {
            return;
        };
        let names: Vec<AgentName> = unfinished_kaniko_pods(&self.recorder.record.images)
            .into_iter()
            .map(|name| AgentName {
                namespace: None,
                name,
            })
            .collect();
        backend.discard(&names).await;
    }
}

/// The agent name of a recorded stage pod.
pub(crate) fn stage_agent_name(pod: &StagePodRecord) -> AgentName {
    AgentName {
        namespace: Some(pod.namespace.clone()),
        name: pod.name.clone(),
    }
}

/// The log lines of a build whose own agent could not be acquired.
fn acquire_failed(error: BackendError, source: Option<&SourceFile>) -> Vec<String> {
    match error {
        BackendError::Settings(diag) => invalid_pod(&[*diag], source),
        BackendError::Invalid(diags) => invalid_pod(&diags, source),
        BackendError::Agent(e) => vec![format!("ERROR: the build's pod did not start: {e}")],
        other => vec![format!("ERROR: {other}")],
    }
}

/// Log lines for a pod the pipeline's settings make invalid: the diagnostics rendered
/// against the Jenkinsfile (their notes name places inside a `yamlFile`).
fn invalid_pod(diags: &[Diagnostic], source: Option<&SourceFile>) -> Vec<String> {
    let mut lines = vec!["ERROR: the build's pod is invalid".to_owned()];
    match source {
        Some(file) => lines.extend(
            render_all(diags, file, RenderOptions { color: false })
                .lines()
                .map(str::to_owned),
        ),
        None => lines.extend(diags.iter().map(|d| format!("error: {}", d.message))),
    }
    lines
}
