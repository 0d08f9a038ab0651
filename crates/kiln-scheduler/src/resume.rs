//! Taking over a build that ran in a Kubernetes pod when the controller restarted. The pod
//! recorded on the build is reattached (its agents keep every process's output), the stored
//! log is loaded for the [`crate::replay::Replay`], and the build then runs as usual: the
//! engine runs the steps again, processes that already ran answer with their recorded output
//! and exit (their keys are the same), the one running at the restart is followed, and later
//! ones run fresh. When the pod is gone or unusable the build ends ABORTED with the reason
//! (its recorded stage pods still in use are deleted).
//!
//! Stages with a pod of their own (stage-level `kubernetes`, `docker` or template `label`
//! agents, scripted `node` blocks) are resumed by the build's stage agent provider
//! (kiln-engine's `BackendAgents`, recording through `agent_records.rs`), from the stage pods the record holds (`BuildRecord::stage_pods`,
//! stored before the stage's steps run and marked released before the pod is released):
//! - a stage that had finished before the restart (or whose pod was released) is not run
//!   again: its pod is gone, and with it the records of its processes, so its stored result,
//!   state, times and log stand (`kiln_engine::Provision::Finished`; a failure still skips
//!   the later stages). The variables the build's scripts had set when it was done with its
//!   pod (`env.X = ...`, kept with the released pod's record) are set again; the test
//!   results it recorded are not known again;
//! - a stage whose recorded pod still runs gets that pod back (same token, same workspace,
//!   nothing uploaded, no second checkout): its agents answer the processes that ran, the
//!   running one is followed, later ones run fresh; parallel stages each get theirs;
//! - a stage whose recorded pod is gone (deleted, evicted) fails with the reason; its steps
//!   are not run again;
//! - stages that had not got a pod get a new one as usual.
//!
//! A build without a pod of its own (`agent none`, or a scripted pipeline whose `node`
//! blocks run in pods) whose stage pod was in use is resumed the same way, its other steps
//! running again on the controller; unless it ran processes on the controller's machine
//! (they would run again: a stage that had started with an agent kiln gives no pod, or a
//! scripted pipeline's process outside `node`, which `controller_work.rs` records): then it
//! ends ABORTED saying so.
//!
//! Recorded stage pods the resumed run does not reach are deleted when it ends. Taken-over
//! pods count against `max_concurrent_pods` (they exist already: they take a slot even above
//! it), and the orphan reaper at start keeps a live build's recorded pods still in use.
//!
//! A controller that stops gracefully leaves such builds running in their pods
//! ([`BuildTask::detached`]), so the next start takes them over the same way.

use crate::build_agent::stage_agent_name;
use crate::image_records::unfinished_kaniko_pods;
use crate::recorder::blocking;
use crate::recovery::{RESTART, RESTARTED, TAKEN_OVER, abort_record};
use crate::replay::MARKER_START;
use crate::runner::{BuildTask, Done};
use kiln_backend::{AgentName, ExecutionBackend, Lease};
use kiln_plan::Plan;
use kiln_store::{LogEvent, LogEventKind, StageState, StoreError};
use kiln_types::BuildResult;

/// Why a resumed build without a recorded pod in use runs from its start.
const NO_POD: &str = "the controller stopped before a pod was recorded for the build's steps, \
                      so none ran in one; pods it had made for them were deleted";

/// The start of the line a build left running in its pod gets when the controller stops.
pub(crate) const STOPPING: &str = "kiln: the controller is stopping;";

impl BuildTask {
    /// The build's pod, taken over, with the recorder set to replay the stored log (`None`
    /// for a build without a pod of its own whose stages' pods are to be taken over); or
    /// why the build cannot be resumed.
    pub(crate) async fn take_over_pod(&mut self) -> Result<Option<Lease>, String> {
        let Some(backend) = self.shared.backend.clone() else {
            return Err(
                "its pods are not taken over: executors.kubernetes is not configured".to_owned(),
            );
        };
        let stored = self
            .stored_log()
            .await
            .map_err(|e| format!("cannot read the build's log to resume it: {e}"))?;
        self.discard_unrecorded_agents(backend.as_ref()).await;
        let record = &self.recorder.record;
        let Some(pod) = record.pod.clone() else {
            let (len, events) = stored;
            if !record.stage_pods.iter().any(|p| p.released.is_none()) {
                // No pod had been recorded: no step ran in one. The build runs from its start
                // in new pods (unless it ran work here, see `cannot_resume_without_pod`).
                tracing::info!(build = %record.id, "build resumed from its start after a controller restart: it had recorded no pod in use");
                self.recorder
                    .resume(len, events, format!("{MARKER_START}new pods: {NO_POD}"));
                return Ok(None);
            }
            tracing::info!(build = %record.id, "build resumed in its stage pods after a controller restart");
            self.recorder
                .resume(len, events, format!("{MARKER_START}its stage pods"));
            return Ok(None);
        };
        let name = AgentName {
            namespace: Some(pod.namespace.clone()),
            name: pod.name.clone(),
        };
        let build = (record.id.job.as_str(), record.id.number);
        let taken = tokio::select! {
            res = backend.resume(&name, build, None) => res.map_err(|e| e.to_string())?,
            () = self.cancel.cancelled() => return Err("aborted while its pod was taken over".to_owned()),
        };
        tracing::info!(build = %record.id, pod = %pod.name, "build resumed in its pod after a controller restart");
        let marker = format!("{MARKER_START}pod {}", pod.name);
        let (len, events) = stored;
        self.recorder.resume(len, events, marker);
        Ok(Some(taken))
    }

    /// Deletes the agents a previous driver of the build made for it and did not record (it
    /// stopped in between, before any step ran in them): all but the recorded build pod,
    /// the recorded stage pods still in use, and the image builders still to be taken over.
    async fn discard_unrecorded_agents(&self, backend: &dyn ExecutionBackend) {
        let record = &self.recorder.record;
        let own = record.pod.iter().map(|p| AgentName {
            namespace: Some(p.namespace.clone()),
            name: p.name.clone(),
        });
        let stages = (record.stage_pods.iter())
            .filter(|p| p.released.is_none())
            .map(stage_agent_name);
        let builders = unfinished_kaniko_pods(&record.images)
            .into_iter()
            .map(|name| AgentName {
                namespace: None,
                name,
            });
        let keep: Vec<AgentName> = own.chain(stages).chain(builders).collect();
        let build = (record.id.job.as_str(), record.id.number);
        let deleted = backend.discard_unrecorded(build, &keep).await;
        if !deleted.is_empty() {
            tracing::info!(build = %record.id, pods = ?deleted, "deleted the pods a previous driver made for the build and did not record");
        }
    }

    /// Why a resumed build without a pod of its own cannot go on, if so: work it did on the
    /// controller's machine would be done again (a process a scripted pipeline ran outside
    /// its `node` pods, see `controller_work.rs`, or a stage that had started with an agent
    /// kiln gives no pod, e.g. `agent any`); stages in pods and steps outside any agent
    /// (which need no workspace) are resumed.
    pub(crate) fn cannot_resume_without_pod(&self, plan: &Plan, scripted: bool) -> Option<String> {
        if scripted {
            return self.recorder.record.ran_on_controller.then(|| {
                "the pipeline ran processes on the controller's machine, which are not resumed"
                    .to_owned()
            });
        }
        let backend = self.shared.backend.as_ref()?;
        // A stage with `agent none` runs nowhere of its own: nothing ran on this machine.
        let in_pod = |agent: &kiln_model::Agent| {
            let agent = kiln_plan::agent_spec(agent, &mut |e| e.as_plain_str());
            matches!(agent.kind, kiln_types::AgentSpecKind::None) || backend.serves(&agent)
        };
        // Steps of a build whose own agent the backend does not serve ran on this machine
        // (a build that runs in a pod of its own records it before its first step).
        if !in_pod(&plan.pipeline.agent) {
            let own = kiln_plan::agent_spec(&plan.pipeline.agent, &mut |e| e.as_plain_str());
            return Some(format!(
                "its agent `{}` runs on the controller's machine, which is not resumed",
                own.kind.keyword()
            ));
        }
        let stages = &self.recorder.record.stages;
        let started = |node: usize| {
            stages
                .iter()
                .any(|s| s.node as usize == node && s.state != StageState::Pending)
        };
        let local = plan
            .nodes
            .iter()
            .enumerate()
            .find(|(i, n)| n.agent.as_ref().is_some_and(|a| !in_pod(a)) && started(*i))?;
        Some(format!(
            "stage `{}` ran on the controller's machine, which is not resumed",
            local.1.path.join(" / ")
        ))
    }

    /// Ends a build taken over after its steps had ended (its controller stopped while it
    /// released its pods or kept its files): the pods made for it are deleted, and it
    /// finishes with the result its steps ended with (its log says so already); nothing
    /// runs again.
    pub(crate) async fn finish_ended(mut self, result: BuildResult) -> Done {
        tracing::info!(build = %self.recorder.record.id, %result, "build finished after a controller restart: its steps had ended");
        if let Some(backend) = self.shared.backend.clone() {
            let build = &self.recorder.record.id;
            let build = (build.job.as_str(), build.number);
            backend.discard_unrecorded(build, &[]).await;
        }
        self.recorder.end_replay();
        self.finish(result, None).await
    }

    /// Ends a build resumed without any pod in use that did work on the controller's
    /// machine: ABORTED as the builds a lost controller leaves that way always were
    /// (`recovery.rs`): the same line and reason.
    pub(crate) async fn abort_interrupted(mut self) -> Done {
        // A claimed build was taken over from a lost controller; else this one restarted.
        let interrupted = match self.claim {
            Some(_) => &TAKEN_OVER,
            None => &RESTART,
        };
        tracing::warn!(build = %self.recorder.record.id, reason = interrupted.reason, "build aborted: its controller is gone");
        for line in interrupted.lines("").lines() {
            self.recorder.line(line);
        }
        let now = self.recorder.now_ms();
        abort_record(&mut self.recorder.record, interrupted.reason, now);
        self.finish(BuildResult::Aborted, None).await
    }

    /// Ends a build that cannot be resumed: ABORTED, the log and the reason saying why.
    pub(crate) async fn abort_resume(mut self, why: &str) -> Done {
        tracing::warn!(build = %self.recorder.record.id, reason = why, "build aborted: the controller restarted while it ran");
        self.discard_stage_agents().await;
        self.recorder.line(&format!(
            "kiln: the controller restarted while this build was running; {why}; the build was aborted"
        ));
        self.recorder
            .line(&format!("Finished: {}", BuildResult::Aborted));
        let now = self.recorder.now_ms();
        abort_record(
            &mut self.recorder.record,
            &format!("{RESTARTED}: {why}"),
            now,
        );
        self.finish(BuildResult::Aborted, None).await
    }

    /// Leaves the build running in its pod (the controller is stopping): what was written is
    /// stored, the record stays running with its pod, nothing is killed or deleted.
    pub(crate) async fn detached(mut self) -> Done {
        let id = self.recorder.record.id.clone();
        let pod = self.recorder.record.pod.as_ref().map(|p| p.name.clone());
        let pod = pod.unwrap_or_default();
        tracing::info!(build = %id, pod = %pod, "controller stopping: build left running in its pod");
        // A resumed build still repeating its stored log has nothing new to say.
        if !self.recorder.replaying() {
            self.recorder.message(
                LogEventKind::ControllerStopping,
                &format!(
                    "{STOPPING} the build goes on in pod {pod} and is taken over at the next start"
                ),
            );
        }
        self.recorder.flush().await;
        self.not_ended()
    }

    /// The build's stored log: its length and its events.
    async fn stored_log(&self) -> Result<(u64, Vec<LogEvent>), StoreError> {
        let (store, id) = (self.shared.store.clone(), self.recorder.record.id.clone());
        blocking(move || {
            let events = store.read_log_events(&id)?;
            let len = store.read_log(&id, 0, 0)?.end;
            Ok((len, events))
        })
        .await
    }
}
