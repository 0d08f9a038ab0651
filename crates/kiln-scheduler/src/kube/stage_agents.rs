//! Stage agents on Kubernetes: the scheduler's [`AgentProvider`]. A stage whose own agent is
//! `kubernetes { }` (or a `label` a pod template carries) gets a pod of its own from the
//! backend's [`kiln_kube::PodSource`] (a warm one when a pool serves it, after waiting for a
//! pod slot under `max_concurrent_pods`, unless the build holds a pod already: then it goes
//! over the limit, as Kaniko pods do), with the build's
//! prepared workspace uploaded into it unless the pipeline skips the default checkout; the
//! pod is released (clean after a successful stage, else dirty) when the stage is done.
//! A `dockerfile { }` agent, when `dockerfile_agents` is configured, runs as a pod of the
//! image kiln builds with Kaniko from the prepared workspace (not again when the registry
//! has it). Other agents are left to the build's executor.
//!
//! Every stage pod is recorded on the build (`BuildRecord::stage_pods`: the stage's path and
//! which of its agents it is, the pod's name) before the stage's steps run, and marked
//! released with the stage's result before it is released; both are stored before the
//! provider goes on. A build resumed after a controller restart ([`StagePodsBefore`]) asks
//! for its stages' agents again as its replay reaches them: a stage that had finished
//! before the restart, or whose recorded pod was released, is not run again
//! ([`Provision::Finished`] with its result: its pod, and the records of its processes, are
//! gone); a recorded pod still in use is taken over (same pod, token and workspace: no upload,
//! so no second checkout; its agents answer the processes that ran, follow the one that
//! runs, and run later ones); a recorded pod that is gone or cannot run steps fails the
//! stage with the reason, never running its steps a second time. Other stages get new pods.

use super::{BuildImages, KubeBackend};
use crate::recorder::{Control, StagePodChange};
use async_trait::async_trait;
use kiln_engine::{
    AgentError, AgentProvider, BuildResult, EnvChanges, LineKind, LogMessage, ProvidedAgent,
    Provision, ReleaseAgent,
};
use kiln_kube::{
    AgentRequest, BuildPod, KubeExecutor, PodIdentity, build_pod, dockerfile_request, pod_request,
};
use kiln_store::{BuildRecord, PodRecord, StagePodRecord, StageState};
use kiln_types::AgentSpecKind;
use kiln_types::StageOutcome;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// The provider of one build: the backend and the build's prepared workspace.
pub(crate) struct KubeStageAgents {
    backend: Arc<KubeBackend>,
    workspace: PathBuf,
    /// The build's own pod, if it runs in one: its stage pods then never wait for a pod
    /// slot, and a resumed build's pods share its replay.
    build_pod: Option<Arc<KubeExecutor>>,
    /// The build's recorder, which stores the stage pods on the build's record.
    record: mpsc::UnboundedSender<Control>,
    /// A resumed build: what its record said when the controller restarted.
    before: Option<StagePodsBefore>,
    /// Where `kanikoBuild` steps in the stage pods record what they do.
    images: BuildImages,
    /// How many agents each stage (by path) asked for so far.
    asked: Mutex<HashMap<Vec<String>, u32>>,
}

/// What the record of a build resumed after a controller restart says about its stages.
#[derive(Debug, Default)]
pub(crate) struct StagePodsBefore {
    pods: Vec<StagePodRecord>,
    /// The stages that had finished, by path, with their result.
    done: Vec<(Vec<String>, BuildResult)>,
}

impl StagePodsBefore {
    /// The stage pod agent `seq` of stage `path` had.
    fn pod(&self, path: &[String], seq: u32) -> Option<&StagePodRecord> {
        self.pods.iter().find(|p| p.stage == path && p.seq == seq)
    }

    /// The result of stage `path`, if it had finished, and the variables the build's
    /// scripts had set when its last pod was released.
    fn finished(&self, path: &[String]) -> Option<(BuildResult, EnvChanges)> {
        let result = self.done.iter().find(|(p, _)| p == path).map(|(_, r)| *r)?;
        let last = self.pods.iter().rev().find(|p| p.stage == path);
        Some((result, last.map(|p| p.env.clone()).unwrap_or_default()))
    }

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

impl KubeBackend {
    /// The stage agent provider of a build whose prepared workspace is `workspace` (and
    /// whose own pod is `build_pod`, if it has one), recording its stage pods through
    /// `record`; `before` for a resumed build; `images` records what `kanikoBuild` steps in
    /// its stage pods do.
    pub(crate) fn stage_agents(
        self: &Arc<Self>,
        workspace: PathBuf,
        build_pod: Option<Arc<KubeExecutor>>,
        record: mpsc::UnboundedSender<Control>,
        before: Option<StagePodsBefore>,
        images: BuildImages,
    ) -> Arc<dyn AgentProvider> {
        Arc::new(KubeStageAgents {
            backend: self.clone(),
            workspace,
            build_pod,
            record,
            before,
            images,
            asked: Mutex::new(HashMap::new()),
        })
    }

    /// What a stage's pod is made from; `None` for agents that do not run on Kubernetes
    /// (a `dockerfile` agent without `dockerfile_agents` configured among them). A
    /// dockerfile agent's image is built first unless the registry has it.
    async fn stage_request(
        &self,
        request: &kiln_engine::AgentRequest,
        workspace: &std::path::Path,
    ) -> Result<Option<AgentRequest>, AgentError> {
        let agent = &request.agent;
        let AgentSpecKind::Dockerfile(d) = &agent.kind else {
            let noted = pod_request(&self.config, agent, Some(workspace))
                .map_err(|d| AgentError(d.message))?;
            return Ok(noted.map(|(pod, notes)| {
                for note in notes {
                    let _ = request.log.send(note.into());
                }
                pod
            }));
        };
        let Some(settings) = &self.config.dockerfile_agents else {
            return Ok(None);
        };
        let builder = self
            .pods()
            .await
            .map_err(AgentError)?
            .image_builder(&request.job, request.build);
        let (image_log, mut lines) = tokio::sync::mpsc::unbounded_channel();
        let built = dockerfile_request(&builder, settings, (d, agent.span), workspace, &image_log);
        kiln_engine::forward_image_log(built, &mut lines, &request.log)
            .await
            .map(Some)
            .map_err(AgentError)
    }

    /// A running pod for a stage; errors say why not, naming the stage.
    async fn acquire_for_stage(
        &self,
        pod: &AgentRequest,
        request: &kiln_engine::AgentRequest,
        holds_pod: bool,
    ) -> Result<BuildPod, AgentError> {
        let stage = request.stage.join(" / ");
        let id = PodIdentity::new_pod(&request.job, request.build);
        let built = build_pod(&self.config, pod, &id).map_err(|diags| {
            let all: Vec<String> = diags.into_iter().map(|d| d.message).collect();
            AgentError(format!(
                "the pod of stage '{stage}' is invalid: {}",
                all.join("; ")
            ))
        })?;
        let mut built = built;
        built.start_log = crate::kube::start_log(&request.log);
        let source = self.pods().await.map_err(AgentError)?;
        let log = request.log.clone();
        let wait = move |counts| {
            let _ = log.send(LogMessage::new(
                LineKind::WaitingForPod,
                format!("Waiting for a pod: {counts}"),
            ));
        };
        let (job, build) = (request.job.as_str(), request.build);
        let acquired = if holds_pod {
            source.acquire_nested(built, job, build).await
        } else {
            source.acquire(built, job, build, wait).await
        };
        acquired.map_err(|e| AgentError(format!("the pod of stage '{stage}' did not start: {e}")))
    }
}

#[async_trait]
impl AgentProvider for KubeStageAgents {
    async fn provide(
        &self,
        request: kiln_engine::AgentRequest,
    ) -> Result<Option<ProvidedAgent>, AgentError> {
        match self.provision(request).await? {
            Provision::Agent(agent) => Ok(Some(agent)),
            Provision::NotServed => Ok(None),
            Provision::Finished(result, _) => Err(AgentError(format!(
                "the stage had ended {result} before the controller restarted"
            ))),
        }
    }

    async fn provision(&self, request: kiln_engine::AgentRequest) -> Result<Provision, AgentError> {
        let seq = self.next_seq(&request.stage);
        // A resumed build's recorded pod: taken over, or the stage was done with it. (Not
        // made again: a dockerfile agent's image is not looked for again.)
        let recorded = self
            .before
            .as_ref()
            .and_then(|b| b.pod(&request.stage, seq));
        if let Some(recorded) = recorded {
            return match recorded.released {
                Some(result) => Ok(Provision::Finished(result, recorded.env.clone())),
                None => self
                    .take_over(recorded, &request)
                    .await
                    .map(Provision::Agent),
            };
        }
        let stage_request = self.backend.stage_request(&request, &self.workspace);
        let Some(pod) = stage_request.await? else {
            return Ok(Provision::NotServed);
        };
        if let Some(result) = self
            .before
            .as_ref()
            .and_then(|b| b.finished(&request.stage))
        {
            let (result, env) = result;
            return Ok(Provision::Finished(result, env));
        }
        self.new_pod(&pod, request, seq).await.map(Provision::Agent)
    }
}

impl KubeStageAgents {
    /// The number of the agent stage `path` asks for now (1 for its first).
    fn next_seq(&self, path: &[String]) -> u32 {
        let mut asked = self
            .asked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = asked.entry(path.to_vec()).or_insert(0);
        *n += 1;
        *n
    }

    /// Stores a change of the build's stage pods on its record (waits until it is stored;
    /// a build whose recorder is gone has nothing to store it in).
    async fn store(&self, change: StagePodChange) {
        store_change(&self.record, change).await;
    }

    /// A new pod for the stage, with the workspace uploaded when the stage checks out,
    /// recorded on the build before the stage's steps run.
    async fn new_pod(
        &self,
        pod: &AgentRequest,
        request: kiln_engine::AgentRequest,
        seq: u32,
    ) -> Result<ProvidedAgent, AgentError> {
        let holds_pod = self.build_pod.is_some() || request.nested;
        let pod = self
            .backend
            .acquire_for_stage(pod, &request, holds_pod)
            .await?;
        let executor = pod.executor();
        if let (Some(_), Some(build_pod)) = (&self.before, &self.build_pod) {
            // A stage that had no pod before the restart starts: the replay is over.
            build_pod.end_replay();
        }
        let name = executor.pod_name().to_owned();
        let mut log = vec![LogMessage::new(
            LineKind::RunningInPod { pod: name.clone() },
            format!("Running in pod {name}"),
        )];
        if let Some(template) = pod.pool() {
            log.push(LogMessage::new(
                LineKind::PodFromWarmPool,
                format!("The pod came from the warm pool of template '{template}'"),
            ));
        }
        if request.checkout {
            match kiln_kube::upload_workspace(&executor, &self.workspace).await {
                Ok(n) => log.push(LogMessage::new(
                    LineKind::WorkspaceUploaded,
                    format!("Uploaded {n} workspace files into the pod"),
                )),
                Err(e) => {
                    let name = executor.pod_name().to_owned();
                    self.backend.release(pod, BuildResult::Failure).await;
                    return Err(AgentError(format!(
                        "cannot upload the workspace into pod {name}: {e}"
                    )));
                }
            }
        }
        self.store(StagePodChange::Got(StagePodRecord {
            stage: request.stage.clone(),
            seq,
            namespace: executor.namespace().to_owned(),
            name: executor.pod_name().to_owned(),
            released: None,
            env: EnvChanges::new(),
        }))
        .await;
        Ok(self.provided(pod, log, request.stage, seq))
    }

    /// The stage's recorded pod, taken over after a controller restart: its workspace is
    /// the stage's (nothing uploaded), and its agents know the processes that ran.
    async fn take_over(
        &self,
        recorded: &StagePodRecord,
        request: &kiln_engine::AgentRequest,
    ) -> Result<ProvidedAgent, AgentError> {
        let record = PodRecord {
            namespace: recorded.namespace.clone(),
            name: recorded.name.clone(),
        };
        let taken = self
            .backend
            .reattach(
                &record,
                (&request.job, request.build),
                self.build_pod.as_deref(),
            )
            .await;
        let pod = match taken {
            Ok(pod) => pod,
            Err(e) => {
                // Done with: a later restart does not look for it again.
                let released = StagePodChange::Released {
                    stage: recorded.stage.clone(),
                    seq: recorded.seq,
                    result: BuildResult::Failure,
                    env: EnvChanges::new(),
                };
                self.store(released).await;
                return Err(AgentError(format!(
                    "the pod {} of stage '{}' cannot be taken over after the controller restarted: {e}; the stage's steps are not run again",
                    recorded.name,
                    request.stage.join(" / ")
                )));
            }
        };
        tracing::info!(pod = %recorded.name, stage = %request.stage.join(" / "), "stage pod taken over after a controller restart");
        let log = vec![LogMessage::new(
            LineKind::RunningInPod {
                pod: recorded.name.clone(),
            },
            format!("Running in pod {}", recorded.name),
        )];
        Ok(self.provided(pod, log, request.stage.clone(), recorded.seq))
    }

    fn provided(
        &self,
        pod: BuildPod,
        log: Vec<LogMessage>,
        stage: Vec<String>,
        seq: u32,
    ) -> ProvidedAgent {
        super::record_images(&pod, &self.images);
        ProvidedAgent {
            executor: pod.executor(),
            log,
            release: Box::new(KubeRelease {
                backend: self.backend.clone(),
                pod,
                record: self.record.clone(),
                stage,
                seq,
            }),
        }
    }
}

/// Sends `change` to the recorder and waits until the record is stored.
async fn store_change(record: &mpsc::UnboundedSender<Control>, change: StagePodChange) {
    let (ack, stored) = oneshot::channel();
    if record.send(Control::StagePod(change, ack)).is_ok() {
        let _ = stored.await;
    }
}

/// Gives a stage's pod back when the stage is done (recorded as released first).
struct KubeRelease {
    backend: Arc<KubeBackend>,
    pod: BuildPod,
    record: mpsc::UnboundedSender<Control>,
    stage: Vec<String>,
    seq: u32,
}

#[async_trait]
impl ReleaseAgent for KubeRelease {
    async fn release(self: Box<Self>, result: BuildResult) {
        self.release_with_env(result, EnvChanges::new()).await;
    }

    async fn release_with_env(self: Box<Self>, result: BuildResult, env: EnvChanges) {
        let change = StagePodChange::Released {
            stage: self.stage,
            seq: self.seq,
            result,
            env,
        };
        store_change(&self.record, change).await;
        self.backend.release(self.pod, result).await;
    }
}
