//! Builds on Kubernetes: the one module of the scheduler that knows kiln-kube. When the
//! configuration has `executors.kubernetes`, it is read with `KubeConfig::from_json` at
//! start (a bad section stops the start); the cluster is connected in the background
//! (kubeconfig or in-cluster service account), orphaned build pods are reaped (alive: a build
//! the store has Running) and the template pools start. A build whose top-level agent is
//! `kubernetes { }`, a `label` one of the templates carries, `docker { }`, or `dockerfile { }`
//! with `dockerfile_agents` configured (its image built with Kaniko first unless the registry
//! has it), takes a pod from the
//! [`PodSource`] (its `yamlFile` read from the build's prepared workspace first, waiting for a
//! pod slot when `max_concurrent_pods` are in use); the build's prepared workspace is
//! uploaded into it, and the pod is released (clean after SUCCESS, else dirty) when the
//! build ends.
//!
//! With `controller_url` (kiln runs in the cluster) the agents dial kiln: the server binds an
//! [`AgentListener`] on `agent_listen` at start (a busy or bad address refuses the start),
//! speaking TLS with kiln's own CA, kept in `DATA_DIR/agent-ca`.
//! Without it kiln reaches the agents through the API server's port-forward.

mod images;
mod stage_agents;

pub(crate) use images::{BuildImages, build_images, record_images};
pub(crate) use stage_agents::StagePodsBefore;

/// A build's pod as the runner holds it (the rest of the scheduler names no kiln-kube type).
pub(crate) use kiln_kube::BuildPod;

use crate::error::SchedulerError;
use kiln_config::Config;
use kiln_diagnostics::{Diagnostic, RenderOptions, SourceFile, render_all};
use kiln_engine::{BuildResult, LineKind, LogMessage};
use kiln_kube::{
    AgentCa, AgentInstall, AgentListener, AgentMode, ExecutorSettings, KubeConfig, LiveBuild,
    PodIdentity, PodOutcome, PodSource, build_pod, dockerfile_request, pod_request,
};
use kiln_model::Pipeline;
use kiln_store::{BuildStatus, PodRecord, StagePodRecord, Store};
use kiln_types::{AgentSpec, AgentSpecKind};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::{OnceCell, mpsc};

/// How build pods get the kiln agent and where it listens; the defaults suit a real cluster
/// (tests of a fake cluster whose containers are local processes override both).
#[derive(Clone, Debug)]
pub struct KubeAgent {
    /// The init container's command (default: `/kiln-agent --install /kiln/bin/kiln-agent`).
    pub install_command: Option<Vec<String>>,
    /// The first agent's port in the pod (port-forward mode).
    pub base_port: u16,
}

impl Default for KubeAgent {
    fn default() -> Self {
        KubeAgent {
            install_command: None,
            base_port: 7777,
        }
    }
}

/// The Kubernetes side of the scheduler.
pub(crate) struct KubeBackend {
    config: KubeConfig,
    settings: ExecutorSettings,
    store: Arc<dyn Store>,
    source: OnceCell<PodSource>,
}

impl KubeBackend {
    /// The backend of `config`, if it has `executors.kubernetes`.
    pub(crate) fn from_config(
        config: &Config,
        agent: KubeAgent,
        store: Arc<dyn Store>,
        data_dir: &Path,
    ) -> Result<Option<Arc<KubeBackend>>, SchedulerError> {
        let Some(json) = &config.executors.kubernetes else {
            return Ok(None);
        };
        let kube = KubeConfig::from_json(json).map_err(|diags| {
            SchedulerError::Kubernetes(
                diags
                    .into_iter()
                    .map(|d| d.message)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let mut install = AgentInstall::new(kube.agent_image.clone());
        install.workspace.clone_from(&kube.workspace_path);
        if let Some(command) = agent.install_command {
            install.command = command;
        }
        install.orphan_grace_seconds = kube.orphans.agent_grace_seconds;
        let mode = agent_mode(&kube, agent.base_port, data_dir)?;
        let settings = ExecutorSettings {
            start_deadline: std::time::Duration::from_secs(kube.pod_start_deadline_seconds),
            api_retry: kube.api_retry,
            active_deadline_seconds: kube.orphans.pod_active_deadline_seconds,
            pod_policy: Some(Arc::new(kiln_kube::PolicyCheck::new(&kube))),
            scale_up_window: std::time::Duration::from_secs(kube.scale_up_window_seconds),
            image_pull: kube.image_pull,
            ..ExecutorSettings::new(install, mode)
        };
        Ok(Some(Arc::new(KubeBackend {
            config: kube,
            settings,
            store,
            source: OnceCell::new(),
        })))
    }

    /// Connects in the background, so a reachable cluster is ready before the first build.
    pub(crate) fn connect_soon(self: &Arc<Self>) {
        let backend = self.clone();
        tokio::spawn(async move {
            if let Err(e) = backend.pods().await {
                tracing::error!(error = %e, "cannot connect to the Kubernetes cluster");
            }
        });
    }

    /// The pod of build `build` of `job` when its pipeline's top-level agent runs on
    /// Kubernetes (`None` otherwise): built from the request (`yamlFile` read from the
    /// prepared `workspace`), then started or taken from a pool. While it waits for a pod
    /// slot, a line saying so goes to `waiting`. Errors are log lines saying why not, with
    /// diagnostics rendered against `source` (the Jenkinsfile).
    pub(crate) async fn acquire(
        &self,
        pipeline: &Pipeline,
        source: Option<&SourceFile>,
        workspace: &Path,
        (job, build): (&str, u64),
        waiting: mpsc::UnboundedSender<LogMessage>,
    ) -> Option<Result<BuildPod, Vec<String>>> {
        let invalid = |diags: Vec<Diagnostic>| invalid_pod(&diags, source);
        // A top-level agent is read before the build runs: its values are its literals.
        let agent = kiln_plan::agent_spec(&pipeline.agent, &mut |e| e.as_plain_str());
        let request = if let AgentSpecKind::Dockerfile(d) = &agent.kind {
            let settings = self.config.dockerfile_agents.as_ref()?;
            let builder = match self.pods().await {
                Ok(pods) => pods.image_builder(job, build),
                Err(e) => return Some(Err(vec![format!("ERROR: {e}")])),
            };
            let (image_log, mut lines) = mpsc::unbounded_channel();
            let built =
                dockerfile_request(&builder, settings, (d, agent.span), workspace, &image_log);
            match kiln_engine::forward_image_log(built, &mut lines, &waiting).await {
                Ok(request) => request,
                Err(e) => return Some(Err(vec![format!("ERROR: {e}")])),
            }
        } else {
            match pod_request(&self.config, &agent, Some(workspace)).transpose()? {
                Ok((request, notes)) => {
                    for note in notes {
                        let _ = waiting.send(note.into());
                    }
                    request
                }
                Err(diag) => return Some(Err(invalid(vec![diag]))),
            }
        };
        let id = PodIdentity::new_pod(job, build);
        let mut built = match build_pod(&self.config, &request, &id) {
            Ok(built) => built,
            Err(diags) => return Some(Err(invalid(diags))),
        };
        if let Some(timeout) = pipeline.options.timeout().filter(|t| !t.activity) {
            let timeout = std::time::Duration::from_millis(timeout.millis);
            kiln_kube::set_build_timeout(&mut built.pod, timeout);
        }
        let pods = match self.pods().await {
            Ok(pods) => pods,
            Err(e) => return Some(Err(vec![format!("ERROR: {e}")])),
        };
        built.start_log = start_log(&waiting);
        let wait = |counts| {
            let _ = waiting.send(LogMessage::new(
                LineKind::WaitingForPod,
                format!("Waiting for a pod: {counts}"),
            ));
        };
        Some(
            pods.acquire(built, job, build, wait)
                .await
                .map_err(|e| vec![format!("ERROR: the build's pod did not start: {e}")]),
        )
    }

    /// Whether a stage declaring `agent` runs in a pod (of its own, or none at all for
    /// `agent none`) rather than on the controller's machine; an agent label that is not a
    /// plain string counts as the machine's, to be safe.
    pub(crate) fn runs_in_pod(&self, agent: &kiln_model::Agent) -> bool {
        let agent: AgentSpec = kiln_plan::agent_spec(agent, &mut |e| e.as_plain_str());
        let dockerfile_agents = self.config.dockerfile_agents.is_some();
        kiln_kube::runs_in_pod(&self.config, dockerfile_agents, &agent)
    }

    /// Takes over the pod of a build that ran when the controller restarted; errors say why
    /// not (the pod is gone, cannot run steps, or the cluster cannot be reached).
    /// With `replay_of` (the build's pod, for a stage's pod) the pods share the replay.
    pub(crate) async fn reattach(
        &self,
        pod: &PodRecord,
        (job, build): (&str, u64),
        replay_of: Option<&kiln_kube::KubeExecutor>,
    ) -> Result<BuildPod, String> {
        let source = self.pods().await?;
        source
            .reattach(&pod.namespace, &pod.name, (job, build), replay_of)
            .await
            .map_err(|e| e.to_string())
    }

    /// Deletes the recorded stage pods in `pods` that are still in use (not released): pods
    /// of a resumed build that ended without taking them over.
    pub(crate) async fn delete_stage_pods(&self, pods: &[StagePodRecord]) {
        let left: Vec<&StagePodRecord> = pods.iter().filter(|p| p.released.is_none()).collect();
        if left.is_empty() {
            return;
        }
        let source = match self.pods().await {
            Ok(source) => source,
            Err(e) => {
                tracing::warn!(error = %e, "cannot delete stage pods: no cluster");
                return;
            }
        };
        for pod in left {
            match source.delete(&pod.namespace, &pod.name).await {
                Ok(()) => tracing::info!(pod = %pod.name, "stage pod not taken over deleted"),
                Err(e) => tracing::warn!(pod = %pod.name, error = %e, "cannot delete a stage pod"),
            }
        }
    }

    /// Ends the build's use of its pod: a pooled pod goes back when the build succeeded.
    pub(crate) async fn release(&self, pod: BuildPod, result: BuildResult) {
        let outcome = if result == BuildResult::Success {
            PodOutcome::Clean
        } else {
            PodOutcome::Dirty
        };
        if let Some(source) = self.source.get()
            && let Err(e) = source.release(pod, outcome).await
        {
            tracing::warn!(error = %e, "cannot release a build pod");
        }
    }

    /// Deletes the Kaniko pods a resumed build's record names whose image it does not say
    /// was pushed, when the build ends: a step the resumed build did not run again (it was
    /// aborted, or took another path) would leave them running. One gone already is fine.
    pub(crate) async fn delete_unfinished_kaniko_pods(&self, images: &[kiln_store::ImageRecord]) {
        let names = images::unfinished_kaniko_pods(images);
        if names.is_empty() {
            return;
        }
        let Ok(source) = self.pods().await else {
            return;
        };
        for name in names {
            if let Err(e) = source.delete(&self.config.namespace, &name).await {
                tracing::warn!(pod = %name, error = %e, "cannot delete a Kaniko pod of a resumed build");
            }
        }
    }

    /// The pod source, connecting (and reaping orphans) the first time.
    async fn pods(&self) -> Result<&PodSource, String> {
        self.source
            .get_or_try_init(|| async {
                let live = self.live_builds().await;
                PodSource::connect(&self.config, self.settings.clone(), live)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
    }

    /// The builds the store has running (or waiting for input), whose pods are not
    /// orphans; `None` (and a warning) when the store cannot tell.
    async fn live_builds(&self) -> Option<Vec<LiveBuild>> {
        let store = self.store.clone();
        let live = [BuildStatus::Running, BuildStatus::WaitingForInput];
        let running = tokio::task::spawn_blocking(move || store.builds_in(&live)).await;
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
                        pods: b.pod.as_ref().map(|p| {
                            let mut pods = vec![p.name.clone()];
                            pods.extend(images::kaniko_pods(&b.images));
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
}

/// Agents dial `controller_url` when it is set (kiln in the cluster; the listener is bound
/// now, so a busy address refuses the start), over TLS with kiln's CA from `DATA_DIR/agent-ca`
/// (made at the first start) and a certificate for the URL's host; else kiln reaches them by
/// port-forward.
fn agent_mode(
    kube: &KubeConfig,
    base_port: u16,
    data_dir: &Path,
) -> Result<AgentMode, SchedulerError> {
    let (Some(url), Some(listen)) = (&kube.controller_url, kube.agent_listen_address()) else {
        tracing::info!("build pods' agents are reached through the API server's port-forward");
        return Ok(AgentMode::PortForward { base_port });
    };
    let parsed = parse_controller_url(url)?;
    if url.starts_with("tcp://") {
        tracing::warn!(controller_url = %url, "controller_url: tcp:// is the older spelling; the agent link is TLS (write {parsed})");
    }
    let tls_failed = |e: kiln_kube::AgentTlsError| {
        SchedulerError::Kubernetes(format!("agent link TLS: {}", error_chain(&e)))
    };
    let ca = AgentCa::load_or_create(&data_dir.join("agent-ca")).map_err(tls_failed)?;
    let tls = ca
        .server_tls(std::slice::from_ref(&parsed.host))
        .map_err(tls_failed)?;
    let listener = AgentListener::bind_now(&listen, tls).map_err(|e| {
        SchedulerError::Kubernetes(format!(
            "cannot listen for build agents on {listen} (agent_listen): {e}"
        ))
    })?;
    tracing::info!(controller_url = %parsed, listen = %listener.local_addr(), "build pods' agents dial kiln over TLS");
    Ok(AgentMode::Dial {
        agent_url: parsed.to_string(),
        listener,
    })
}

fn parse_controller_url(url: &str) -> Result<kiln_kube::ControllerUrl, SchedulerError> {
    kiln_kube::ControllerUrl::parse(url)
        .map_err(|e| SchedulerError::Kubernetes(format!("controller_url {e}")))
}

/// An error and its sources, `: `-separated.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
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

/// Uploads the build's prepared workspace into its pod; the number of files copied.
pub(crate) async fn upload_workspace(
    executor: &kiln_kube::KubeExecutor,
    workspace: &Path,
) -> Result<usize, String> {
    kiln_kube::upload_workspace(executor, workspace)
        .await
        .map_err(|e| e.to_string())
}

/// The build's log as the sink of a starting pod's Events and of the wait for it (lines a
/// resumed build does not write again, like the wait for a pod slot).
pub(crate) fn start_log(log: &mpsc::UnboundedSender<LogMessage>) -> kiln_kube::StartLog {
    let log = log.clone();
    kiln_kube::StartLog::new(move |line| {
        let _ = log.send(LogMessage::new(LineKind::WaitingForPod, line));
    })
}
