//! What the scheduler keeps for the execution backend, so a new controller takes over
//! builds that outlived the old one: the agents of a build's stages ([`StageAgentRecords`],
//! kept with the build's record through its recorder) and which builds are alive, with the
//! agents they recorded ([`StoreLive`], read from the store; the backend deletes the others).
//!
//! Every stage agent is recorded on the build (`BuildRecord::stage_pods`: the stage's path
//! and which of its agents it is, the agent's name) before the stage's steps run, and marked
//! released with the stage's result before it is released; both are stored before the
//! provider goes on.

use crate::image_records::kaniko_pods;
use crate::recorder::{Control, StagePodChange};
use async_trait::async_trait;
use kiln_backend::{AgentName, AgentRecords, EnvChanges, LiveAgents, LiveBuild, RecordedAgent};
use kiln_store::{BuildRecord, BuildStatus, StagePodRecord, StageState, Store};
use kiln_types::{BuildResult, StageOutcome};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// What the record of a build resumed after a controller restart says about its stages.
#[derive(Debug, Default)]
pub(crate) struct StagePodsBefore {
    pods: Vec<StagePodRecord>,
    /// The stages that had finished, by path, with their result.
    done: Vec<(Vec<String>, BuildResult)>,
}

impl StagePodsBefore {
    pub(crate) fn of(record: &BuildRecord) -> Self {
        let done = record.stages.iter().filter_map(|s| match s.state {
            StageState::Done(StageOutcome::Ran(result)) => Some((s.path.clone(), result)),
            StageState::Done(_) => Some((s.path.clone(), BuildResult::Success)),
            _ => None,
        });
        StagePodsBefore {
            pods: record.stage_pods.clone(),
            done: done.collect(),
        }
    }
}

/// The stage agents of one build, recorded through its recorder (`record`); `before` for a
/// resumed build.
pub(crate) struct StageAgentRecords {
    record: mpsc::UnboundedSender<Control>,
    before: Option<StagePodsBefore>,
}

impl StageAgentRecords {
    pub(crate) fn new(
        record: mpsc::UnboundedSender<Control>,
        before: Option<StagePodsBefore>,
    ) -> Self {
        StageAgentRecords { record, before }
    }

    /// Sends `change` to the recorder and waits until the record is stored (a build whose
    /// recorder is gone has nothing to store it in).
    async fn store(&self, change: StagePodChange) {
        let (ack, stored) = oneshot::channel();
        if self.record.send(Control::StagePod(change, ack)).is_ok() {
            let _ = stored.await;
        }
    }
}

#[async_trait]
impl AgentRecords for StageAgentRecords {
    fn recorded(&self, stage: &[String], seq: u32) -> Option<RecordedAgent> {
        let before = self.before.as_ref()?;
        let pod = before
            .pods
            .iter()
            .find(|p| p.stage == stage && p.seq == seq)?;
        Some(RecordedAgent {
            name: AgentName {
                namespace: Some(pod.namespace.clone()),
                name: pod.name.clone(),
            },
            released: pod.released,
            env: pod.env.clone(),
        })
    }

    fn finished(&self, stage: &[String]) -> Option<(BuildResult, EnvChanges)> {
        let before = self.before.as_ref()?;
        let result = before
            .done
            .iter()
            .find(|(p, _)| p == stage)
            .map(|(_, r)| *r)?;
        let last = before.pods.iter().rev().find(|p| p.stage == stage);
        Some((result, last.map(|p| p.env.clone()).unwrap_or_default()))
    }

    fn resumed(&self) -> bool {
        self.before.is_some()
    }

    async fn got(&self, stage: &[String], seq: u32, name: &AgentName) {
        self.store(StagePodChange::Got(StagePodRecord {
            stage: stage.to_vec(),
            seq,
            namespace: name.namespace.clone().unwrap_or_default(),
            name: name.name.clone(),
            released: None,
            env: EnvChanges::new(),
        }))
        .await;
    }

    async fn released(&self, stage: &[String], seq: u32, result: BuildResult, env: EnvChanges) {
        let change = StagePodChange::Released {
            stage: stage.to_vec(),
            seq,
            result,
            env,
        };
        self.store(change).await;
    }
}

/// The builds the store has running (or waiting for input), whose agents are not orphans.
pub(crate) struct StoreLive(pub Arc<dyn Store>);

#[async_trait]
impl LiveAgents for StoreLive {
    /// `None` (and a warning) when the store cannot tell.
    async fn live(&self) -> Option<Vec<LiveBuild>> {
        let store = self.0.clone();
        let running = tokio::task::spawn_blocking(move || {
            // In a shared store a queued build may be claimed (and start its pod) by another
            // controller at any moment: it is alive too.
            let mut live = vec![BuildStatus::Running, BuildStatus::WaitingForInput];
            if store.coordination().is_some() {
                live.push(BuildStatus::Queued);
            }
            store.builds_in(&live)
        })
        .await;
        // A live build's pods are the one it recorded, its stages' still in use and the
        // Kaniko pods its record names (which a resumed build takes over), or any while it
        // has not recorded its own yet.
        match running {
            Ok(Ok(builds)) => Some(
                builds
                    .iter()
                    .map(|b| LiveBuild {
                        job: b.id.job.as_str().to_owned(),
                        build: b.id.number,
                        agents: b.pod.as_ref().map(|p| {
                            let mut pods = vec![p.name.clone()];
                            pods.extend(kaniko_pods(&b.images));
                            let stages = b.stage_pods.iter().filter(|s| s.released.is_none());
                            pods.extend(stages.map(|s| s.name.clone()));
                            pods
                        }),
                    })
                    .collect(),
            ),
            _ => {
                tracing::warn!("cannot list the running builds: orphaned build pods are kept");
                None
            }
        }
    }

    /// The `reaper` lock of a shared store.
    async fn reaping(&self) -> Option<Box<dyn Send>> {
        let store = self.0.clone();
        let turn =
            tokio::task::spawn_blocking(move || {
                store.coordination()?.exclusive("reaper").map_err(|e| {
            tracing::warn!(error = %e, "cannot take the reaper's lock: reaping without it");
        }).ok()
            })
            .await;
        turn.ok().flatten()
    }
}
