//! Taking over a build that ran in a Kubernetes pod when the controller restarted. The pod
//! recorded on the build is reattached (its agents keep every process's output), the stored
//! log is loaded for the [`crate::replay::Replay`], and the build then runs as usual: the
//! engine runs the steps again, processes that already ran answer with their recorded output
//! and exit (their keys are the same), the one running at the restart is followed, and later
//! ones run fresh. When the pod is gone or unusable the build ends ABORTED with the reason.
//! Stages with a pod of their own (stage-level Kubernetes agents) are not taken over: a
//! resumed build in which such a stage had started ends ABORTED saying so (running it again
//! in a new pod would run its steps twice); stages of that kind that had not started run as
//! usual.
//! A controller that stops gracefully leaves such builds running in their pods
//! ([`BuildTask::detached`]), so the next start takes them over the same way.

use crate::kube::BuildPod;
use crate::recorder::blocking;
use crate::recovery::{RESTARTED, abort_record};
use crate::replay::MARKER_START;
use crate::runner::{BuildTask, Done};
use kiln_model::Agent;
use kiln_plan::Plan;
use kiln_store::{BuildResult, StageRecord, StageState, StoreError};

/// The start of the line a build left running in its pod gets when the controller stops.
pub(crate) const STOPPING: &str = "kiln: the controller is stopping;";

/// How much of the stored log is read at once.
const READ: usize = 1024 * 1024;

impl BuildTask {
    /// The build's pod, taken over, with the recorder set to replay the stored log; or why
    /// the build cannot be resumed.
    pub(crate) async fn take_over_pod(&mut self) -> Result<BuildPod, String> {
        let record = &self.recorder.record;
        let Some(pod) = record.pod.clone() else {
            return Err("the build has no pod to take over".to_owned());
        };
        let Some(kube) = self.shared.kube.clone() else {
            return Err(format!(
                "its pod {} is not taken over: executors.kubernetes is not configured",
                pod.name
            ));
        };
        let stored = self
            .stored_log()
            .await
            .map_err(|e| format!("cannot read the build's log to resume it: {e}"))?;
        let taken = tokio::select! {
            res = kube.reattach(&pod, record.id.job.as_str(), record.id.number) => res?,
            () = self.cancel.cancelled() => return Err("aborted while its pod was taken over".to_owned()),
        };
        tracing::info!(build = %record.id, pod = %pod.name, "build resumed in its pod after a controller restart");
        let marker = format!("{MARKER_START}{}", pod.name);
        self.recorder.resume(stored, marker);
        Ok(taken)
    }

    /// Ends a build that cannot be resumed: ABORTED, the log and the reason saying why.
    pub(crate) async fn abort_resume(mut self, why: &str) -> Done {
        tracing::warn!(build = %self.recorder.record.id, reason = why, "build aborted: the controller restarted while it ran");
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
            self.recorder.line(&format!(
                "{STOPPING} the build goes on in pod {pod} and is taken over at the next start"
            ));
        }
        self.recorder.flush().await;
        let now = self.recorder.now_ms();
        let started = self.recorder.record.started_at_ms.unwrap_or(now);
        Done {
            id,
            result: BuildResult::NotBuilt,
            duration_ms: now.saturating_sub(started),
            queued_ms: 0,
            info: None,
            detached: true,
        }
    }

    /// Why the resumed build cannot go on with this plan (a stage with a pod of its own had
    /// started before the restart), if so.
    pub(crate) fn cannot_resume(&self, plan: &Plan) -> Option<String> {
        let kube = self.shared.kube.as_ref()?;
        let stage = started_stage_with_own_pod(plan, &self.recorder.record.stages, |a| {
            kube.gives_own_pod(a)
        })?;
        Some(format!(
            "stage `{stage}` ran in a pod of its own, which is not taken over"
        ))
    }

    /// The build's whole stored log.
    async fn stored_log(&self) -> Result<Vec<u8>, StoreError> {
        let (store, id) = (self.shared.store.clone(), self.recorder.record.id.clone());
        blocking(move || {
            let mut log = Vec::new();
            loop {
                let slice = store.read_log(&id, log.len() as u64, READ)?;
                if slice.bytes.is_empty()
                    || log.len() as u64 + slice.bytes.len() as u64 >= slice.end
                {
                    log.extend(slice.bytes);
                    return Ok(log);
                }
                log.extend(slice.bytes);
            }
        })
        .await
    }
}

/// The path of the first stage that has an agent giving it a pod of its own (`own_pod`) and
/// had started, by the stored stage records.
fn started_stage_with_own_pod(
    plan: &Plan,
    stages: &[StageRecord],
    own_pod: impl Fn(&Agent) -> bool,
) -> Option<String> {
    let started = |node: usize| {
        stages
            .iter()
            .any(|s| s.node as usize == node && s.state != StageState::Pending)
    };
    plan.nodes
        .iter()
        .enumerate()
        .find(|(i, n)| n.agent.as_ref().is_some_and(&own_pod) && started(*i))
        .map(|(_, n)| n.path.join(" / "))
}

#[cfg(test)]
mod tests {
    use super::started_stage_with_own_pod;
    use kiln_model::AgentKind;
    use kiln_store::{StageRecord, StageState};

    const PIPELINE: &str = "pipeline {
  agent { kubernetes { yaml 'spec: {}' } }
  stages {
    stage('Build') { steps { sh 'make' } }
    stage('Test') {
      agent { kubernetes { yaml 'spec: {}' } }
      steps { sh 'make test' }
    }
  }
}";

    fn check(states: [StageState; 2], expected: Option<&str>) {
        let (doc, diags) = kiln_model::load(PIPELINE);
        assert!(diags.is_empty(), "{diags:?}");
        let kiln_model::Document::Declarative(pipeline) = doc.unwrap() else {
            panic!("not declarative");
        };
        let plan = kiln_plan::plan(&pipeline);
        let stages: Vec<StageRecord> = plan
            .nodes
            .iter()
            .zip(states)
            .enumerate()
            .map(|(i, (n, state))| StageRecord {
                node: i as u32,
                path: n.path.clone(),
                state,
                started_at_ms: None,
                duration_ms: None,
            })
            .collect();
        let own = |a: &kiln_model::Agent| matches!(a.kind, AgentKind::Kubernetes(_));
        let found = started_stage_with_own_pod(&plan, &stages, own);
        assert_eq!(found.as_deref(), expected);
    }

    #[test]
    fn a_stage_with_its_own_pod_blocks_a_resume_once_it_started() {
        use StageState::{Pending, Running};
        check([Running, Pending], None);
        check([Running, Running], Some("Test"));
        let done = StageState::Done(kiln_store::StageOutcome::Ran(
            kiln_store::BuildResult::Success,
        ));
        check([done, done], Some("Test"));
    }
}
