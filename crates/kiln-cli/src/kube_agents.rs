//! Stage-level `kubernetes { }`, `docker { }` and (with `--dockerfile-repository`)
//! `dockerfile { }` agents, and scripted `podTemplate` pods, for `kiln run --kubeconfig
//! PATH`: each such stage gets a pod of its own in that cluster (a dockerfile agent's image
//! built with Kaniko there first, unless the registry has it), with the local workspace
//! uploaded into it (unless the pipeline skips the default checkout), deleted when the stage
//! is done. Other stages run where the build runs (its own pod, or this machine).
//! `KILN_AGENT_IMAGE`, `KILN_AGENT_INSTALL` and `KILN_AGENT_PORT` override how the agent
//! gets into pods and where it listens; `KILN_AGENT_ORPHAN_GRACE` how long the agents outlive
//! a killed `kiln run`.

use anyhow::bail;
use async_trait::async_trait;
use kiln_engine::{
    AgentError, AgentProvider, BuildResult, LineKind, LogMessage, ProvidedAgent, ReleaseAgent,
};
use kiln_kube::{
    AgentRequest, DockerfileAgents, KubeConfig, KubeExecutor, LocalCluster, LocalRunError,
    LocalRunOptions, dockerfile_request, pod_request, upload_workspace,
};
use kiln_model::AgentKind;
use kiln_plan::Plan;
use kiln_types::AgentSpecKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How pods get the agent (from the environment), where `yamlFile`s are read from and
/// where dockerfile agents' images go. `KILN_KANIKO_AGENT_PORT` gives Kaniko pods' agents
/// another port (for clusters whose pods share one network, such as the test cluster).
pub fn run_options(
    workspace: &Path,
    dockerfile_agents: Option<DockerfileAgents>,
) -> anyhow::Result<LocalRunOptions> {
    let mut options = LocalRunOptions {
        agent_image: std::env::var("KILN_AGENT_IMAGE").ok(),
        install_command: std::env::var("KILN_AGENT_INSTALL")
            .ok()
            .map(|c| c.split_whitespace().map(str::to_owned).collect()),
        workspace: Some(workspace.to_path_buf()),
        kaniko: crate::kube_run::kaniko_settings(),
        dockerfile_agents,
        // The build pod starts before the build's log does: its Events go where `Running in
        // pod` goes (stage pods say theirs in the stage's log, see `LaptopPods::start`).
        start_log: kiln_kube::StartLog::new(|line| eprintln!("{line}")),
        ..LocalRunOptions::default()
    };
    if let Some(port) = port_from_env("KILN_AGENT_PORT")? {
        options.base_port = port;
    }
    options.kaniko_base_port = port_from_env("KILN_KANIKO_AGENT_PORT")?;
    if let Ok(grace) = std::env::var("KILN_AGENT_ORPHAN_GRACE") {
        let Ok(seconds) = grace.parse() else {
            bail!("KILN_AGENT_ORPHAN_GRACE must be whole seconds, not `{grace}`");
        };
        options.orphan_grace_seconds = Some(seconds);
    }
    Ok(options)
}

fn port_from_env(name: &str) -> anyhow::Result<Option<u16>> {
    let Ok(port) = std::env::var(name) else {
        return Ok(None);
    };
    let Ok(port) = port.parse() else {
        bail!("{name} must be a port number, not `{port}`");
    };
    Ok(Some(port))
}

/// Whether `agent` runs as a pod of the cluster: `kubernetes { }`, `docker { }`, and
/// `dockerfile { }` when a repository for its image is given.
pub fn runs_in_a_pod(agent: &kiln_model::Agent, options: &LocalRunOptions) -> bool {
    match agent.kind {
        AgentKind::Kubernetes(_) | AgentKind::Docker(_) => true,
        AgentKind::Dockerfile(_) => options.dockerfile_agents.is_some(),
        _ => false,
    }
}

/// Whether `plan` has a stage (or matrix) whose own agent runs as a pod (see
/// [`runs_in_a_pod`]).
pub fn has_stage_pods(plan: &Plan, options: &LocalRunOptions) -> bool {
    plan.nodes
        .iter()
        .any(|n| n.agent.as_ref().is_some_and(|a| runs_in_a_pod(a, options)))
}

/// The provider of `kiln run --kubeconfig`'s stage pods.
pub async fn provider(
    kubeconfig: &Path,
    workspace: &Path,
    options: LocalRunOptions,
) -> anyhow::Result<Arc<LaptopPods>> {
    Ok(Arc::new(LaptopPods {
        cluster: LocalCluster::connect(kubeconfig).await?,
        options,
        workspace: workspace.to_path_buf(),
    }))
}

pub struct LaptopPods {
    cluster: LocalCluster,
    options: LocalRunOptions,
    workspace: PathBuf,
}

impl LaptopPods {
    /// Starts the stage's pod; errors name the stage.
    async fn start(
        &self,
        pod: &AgentRequest,
        request: &kiln_engine::AgentRequest,
    ) -> Result<KubeExecutor, AgentError> {
        let stage = request.stage.join(" / ");
        let log = request.log.clone();
        let options = LocalRunOptions {
            start_log: kiln_kube::StartLog::new(move |line| {
                let _ = log.send(LogMessage::new(LineKind::WaitingForPod, line));
            }),
            ..self.options.clone()
        };
        let started = self
            .cluster
            .start_request(pod, &request.job, request.build, options)
            .await;
        started.map_err(|e| match e {
            LocalRunError::Pod(diagnostics) => {
                let all: Vec<String> = diagnostics.into_iter().map(|d| d.message).collect();
                AgentError(format!(
                    "the pod of stage '{stage}' is invalid: {}",
                    all.join("; ")
                ))
            }
            other => AgentError(format!("the pod of stage '{stage}' did not start: {other}")),
        })
    }
}

#[async_trait]
impl AgentProvider for LaptopPods {
    async fn provide(
        &self,
        request: kiln_engine::AgentRequest,
    ) -> Result<Option<ProvidedAgent>, AgentError> {
        let agent = &request.agent;
        let (pod, notes) = match &agent.kind {
            AgentSpecKind::Dockerfile(d) => {
                let Some(settings) = &self.options.dockerfile_agents else {
                    return Ok(None);
                };
                let builder =
                    self.cluster
                        .image_builder(&request.job, request.build, &self.options);
                let (image_log, mut lines) = tokio::sync::mpsc::unbounded_channel();
                let workspace = &self.workspace;
                let built =
                    dockerfile_request(&builder, settings, (d, agent.span), workspace, &image_log);
                let built = kiln_engine::forward_image_log(built, &mut lines, &request.log).await;
                (built.map_err(AgentError)?, Vec::new())
            }
            // No pod templates here: a `label` agent runs where the build runs.
            _ => match pod_request(&KubeConfig::default(), agent, Some(&self.workspace)) {
                Ok(Some(noted)) => noted,
                Ok(None) => return Ok(None),
                Err(d) => return Err(AgentError(d.message)),
            },
        };
        let executor = self.start(&pod, &request).await?;
        let mut log: Vec<LogMessage> = notes.into_iter().map(LogMessage::from).collect();
        let name = executor.pod_name().to_owned();
        log.push(LogMessage::new(
            LineKind::RunningInPod { pod: name.clone() },
            format!("Running in pod {name}"),
        ));
        if request.checkout {
            match upload_workspace(&executor, &self.workspace).await {
                Ok(n) => log.push(LogMessage::new(
                    LineKind::WorkspaceUploaded,
                    format!("Uploaded {n} workspace files into the pod"),
                )),
                Err(e) => {
                    let name = executor.pod_name().to_owned();
                    executor.cleanup().await.ok();
                    return Err(AgentError(format!(
                        "cannot upload the workspace into pod {name}: {e}"
                    )));
                }
            }
        }
        let executor = Arc::new(executor);
        Ok(Some(ProvidedAgent {
            executor: executor.clone(),
            log,
            release: Box::new(DeletePod(executor)),
        }))
    }
}

/// Deletes a stage's pod when the stage is done.
struct DeletePod(Arc<KubeExecutor>);

#[async_trait]
impl ReleaseAgent for DeletePod {
    async fn release(self: Box<Self>, _result: BuildResult) {
        if let Err(e) = self.0.cleanup().await {
            eprintln!(
                "warning: the stage pod {} was not deleted: {e}",
                self.0.pod_name()
            );
        }
    }
}
