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

use super::{KubeBackend, pod_name};
use async_trait::async_trait;
use kiln_engine::{AgentError, AgentProvider, BuildResult, ProvidedAgent, ReleaseAgent};
use kiln_kube::{
    AgentRequest, BuildPod, PodIdentity, build_pod, docker_request, dockerfile_request,
    read_yaml_file,
};
use kiln_model::AgentKind;
use std::path::PathBuf;
use std::sync::Arc;

/// The provider of one build: the backend and the build's prepared workspace.
pub(crate) struct KubeStageAgents {
    backend: Arc<KubeBackend>,
    workspace: PathBuf,
    /// The build runs in a pod of its own: its stage pods never wait for a pod slot.
    build_pod: bool,
}

impl KubeBackend {
    /// The stage agent provider of a build whose prepared workspace is `workspace` (and
    /// which holds a pod of its own when `build_pod`).
    pub(crate) fn stage_agents(
        self: &Arc<Self>,
        workspace: PathBuf,
        build_pod: bool,
    ) -> Arc<dyn AgentProvider> {
        Arc::new(KubeStageAgents {
            backend: self.clone(),
            workspace,
            build_pod,
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
        match &agent.kind {
            AgentKind::Kubernetes(k) => {
                let mut pod = AgentRequest::from_model(k, agent.span, |e| request.string(e));
                pod.yaml_file = read_yaml_file(k, workspace, |e| request.string(e))
                    .map_err(|d| AgentError(d.message))?;
                Ok(Some(pod))
            }
            AgentKind::Label(e) => {
                let Some(label) = request.string(e) else {
                    return Ok(None);
                };
                let known = self
                    .config
                    .templates
                    .iter()
                    .any(|t| t.labels.contains(&label));
                Ok(known.then(|| AgentRequest {
                    label: Some(kiln_diagnostics::Spanned::new(label, e.span)),
                    span: agent.span,
                    ..AgentRequest::default()
                }))
            }
            AgentKind::Docker(d) => {
                let Some((pod, notes)) = docker_request(d, agent.span, |e| request.string(e))
                else {
                    return Ok(None);
                };
                for note in notes {
                    let _ = request.log.send(note);
                }
                Ok(Some(pod))
            }
            AgentKind::Dockerfile(d) => {
                let Some(settings) = &self.config.dockerfile_agents else {
                    return Ok(None);
                };
                let builder = self
                    .pods()
                    .await
                    .map_err(AgentError)?
                    .image_builder(&request.job, request.build);
                let log = &request.log;
                let agent = (d, agent.span);
                dockerfile_request(
                    &builder,
                    settings,
                    agent,
                    |e| request.string(e),
                    workspace,
                    log,
                )
                .await
                .map(Some)
                .map_err(AgentError)
            }
            _ => Ok(None),
        }
    }

    /// A running pod for a stage; errors say why not, naming the stage.
    async fn acquire_for_stage(
        &self,
        pod: &AgentRequest,
        request: &kiln_engine::AgentRequest,
        holds_pod: bool,
    ) -> Result<BuildPod, AgentError> {
        let stage = request.stage.join(" / ");
        let id = PodIdentity {
            name: pod_name(&request.job, request.build),
            job: request.job.clone(),
            build: request.build,
        };
        let built = build_pod(&self.config, pod, &id).map_err(|diags| {
            let all: Vec<String> = diags.into_iter().map(|d| d.message).collect();
            AgentError(format!(
                "the pod of stage '{stage}' is invalid: {}",
                all.join("; ")
            ))
        })?;
        let source = self.pods().await.map_err(AgentError)?;
        let log = request.log.clone();
        let wait = move |counts| {
            let _ = log.send(format!("Waiting for a pod: {counts}"));
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
        let stage_request = self.backend.stage_request(&request, &self.workspace);
        let Some(pod) = stage_request.await? else {
            return Ok(None);
        };
        let holds_pod = self.build_pod || request.nested;
        let pod = self
            .backend
            .acquire_for_stage(&pod, &request, holds_pod)
            .await?;
        let executor = pod.executor();
        let mut log = vec![format!("Running in pod {}", executor.pod_name())];
        if let Some(template) = pod.pool() {
            log.push(format!(
                "The pod came from the warm pool of template '{template}'"
            ));
        }
        if request.checkout {
            match kiln_kube::upload_workspace(&executor, &self.workspace).await {
                Ok(n) => log.push(format!("Uploaded {n} workspace files into the pod")),
                Err(e) => {
                    let name = executor.pod_name().to_owned();
                    self.backend.release(pod, BuildResult::Failure).await;
                    return Err(AgentError(format!(
                        "cannot upload the workspace into pod {name}: {e}"
                    )));
                }
            }
        }
        Ok(Some(ProvidedAgent {
            executor,
            log,
            release: Box::new(KubeRelease {
                backend: self.backend.clone(),
                pod,
            }),
        }))
    }
}

/// Gives a stage's pod back when the stage is done.
struct KubeRelease {
    backend: Arc<KubeBackend>,
    pod: BuildPod,
}

#[async_trait]
impl ReleaseAgent for KubeRelease {
    async fn release(self: Box<Self>, result: BuildResult) {
        self.backend.release(self.pod, result).await;
    }
}
