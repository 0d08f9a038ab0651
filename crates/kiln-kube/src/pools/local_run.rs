//! `kiln run --kubeconfig PATH`: a pipeline's `kubernetes` agent run in a cluster from a
//! laptop. kiln is outside the cluster, so it reaches the agents through the API server's
//! port-forward, and the local workspace is uploaded into the pod's workspace first. The
//! agent's `yamlFile` is read from the local workspace, and `kanikoBuild` runs in Kaniko pods
//! of the same cluster (Kaniko settings from [`LocalRunOptions`]).

use crate::agent::install::AgentInstall;
use crate::agent::link::AgentMode;
use crate::config::KubeConfig;
use crate::config::dockerfile_agents::DockerfileAgents;
use crate::config::kaniko::KanikoSettings;
use crate::error::KubeError;
use crate::exec::executor::{ExecutorSettings, KubeExecutor, PodRequest};
use crate::image::build::ImageBuilder;
use crate::pod::agent_spec::pod_request;
use crate::pod::build::{AgentRequest, BuiltPod, PodIdentity, build_pod};
use kiln_diagnostics::{Diagnostic, Span};
use kiln_executor::{ExecError, Executor, FileSet};
use kiln_types::{AgentSpec, AgentSpecKind, KubernetesSpec};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why `kiln run --kubeconfig` could not start the build's pod.
#[derive(Debug, thiserror::Error)]
pub enum LocalRunError {
    #[error("cannot read kubeconfig {path}: {message}")]
    Kubeconfig { path: String, message: String },
    #[error("the pipeline's pod is invalid")]
    Pod(Vec<Diagnostic>),
    #[error(transparent)]
    Kube(#[from] KubeError),
}

/// How the agent gets into the pod and where it listens.
#[derive(Clone, Debug)]
pub struct LocalRunOptions {
    /// The init container's image (default: the configuration default).
    pub agent_image: Option<String>,
    /// The init container's command (default: `/kiln-agent --install /kiln/bin/kiln-agent`).
    pub install_command: Option<Vec<String>>,
    /// The first agent's port in the pod (7777).
    pub base_port: u16,
    /// The first agent's port in Kaniko pods (default: `base_port`; tests of the fake
    /// cluster, whose pods share the host's network, give another).
    pub kaniko_base_port: Option<u16>,
    /// The local workspace, where the agent's `yamlFile` is read from.
    pub workspace: Option<PathBuf>,
    /// How `kanikoBuild` runs (image, executor, registry credentials secret, template).
    pub kaniko: KanikoSettings,
    /// Where dockerfile agents' images are pushed (unset: they run where the build runs).
    pub dockerfile_agents: Option<DockerfileAgents>,
    /// The agents exit when `kiln run` has been gone this long (killed without deleting
    /// its pods); default: `orphans.agent_grace_seconds`' default.
    pub orphan_grace_seconds: Option<u64>,
    /// Where a new pod's Events and the wait for it are said (the build's log).
    pub start_log: crate::start_log::StartLog,
}

impl Default for LocalRunOptions {
    fn default() -> Self {
        LocalRunOptions {
            agent_image: None,
            install_command: None,
            base_port: 7777,
            kaniko_base_port: None,
            workspace: None,
            kaniko: KanikoSettings::default(),
            dockerfile_agents: None,
            orphan_grace_seconds: None,
            start_log: crate::start_log::StartLog::none(),
        }
    }
}

/// A cluster reached with a kubeconfig file.
pub struct LocalCluster {
    client: kube::Client,
    namespace: String,
}

impl LocalCluster {
    /// Reads the kubeconfig (its current context) and makes a client.
    pub async fn connect(path: &Path) -> Result<LocalCluster, LocalRunError> {
        let failed = |message: String| LocalRunError::Kubeconfig {
            path: path.display().to_string(),
            message,
        };
        let config = crate::api::client::kubeconfig(path, None)
            .await
            .map_err(failed)?;
        let namespace = config.default_namespace.clone();
        let client =
            crate::api::client::limited_client(config, &crate::config::ApiLimits::default())
                .map_err(|e| failed(e.to_string()))?;
        // Pods an earlier `kiln run` left behind (killed before it could delete them) whose
        // agents have since exited: one list request, and a delete for each.
        match crate::api::reaper::collect_finished(client.clone(), &namespace, LOCAL_FINISHED_GRACE)
            .await
        {
            Ok(pods) if !pods.is_empty() => {
                tracing::info!(pods = pods.len(), "finished build pods deleted");
            }
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, "cannot collect finished build pods"),
        }
        Ok(LocalCluster { client, namespace })
    }

    /// Builds the pod for `agent` (its values as the caller read them; `yamlFile` is read from
    /// `options.workspace`), starts it and connects to its agents. The executor runs
    /// `kanikoBuild` in Kaniko pods of this cluster.
    pub async fn start(
        &self,
        agent: &KubernetesSpec,
        span: Span,
        job: &str,
        build: u64,
        options: LocalRunOptions,
    ) -> Result<KubeExecutor, LocalRunError> {
        let request = agent_request(agent, span, options.workspace.as_deref())?;
        self.start_request(&request, job, build, options).await
    }

    /// [`LocalCluster::start`] for an agent whose settings the caller evaluated and whose
    /// `yamlFile` it read (a stage's own `kubernetes { }` agent).
    pub async fn start_request(
        &self,
        request: &AgentRequest,
        job: &str,
        build: u64,
        options: LocalRunOptions,
    ) -> Result<KubeExecutor, LocalRunError> {
        let (config, _) = self.settings(&options);
        let id = PodIdentity::new_pod(job, build);
        let built = build_pod(&config, request, &id).map_err(LocalRunError::Pod)?;
        Ok(self.start_built(built, job, build, &options).await?)
    }

    /// Starts `built` (made with [`LocalCluster::config`]) and connects to its agents.
    pub(crate) async fn start_built(
        &self,
        built: BuiltPod,
        job: &str,
        build: u64,
        options: &LocalRunOptions,
    ) -> Result<KubeExecutor, KubeError> {
        let (_, settings) = self.settings(options);
        let request = PodRequest {
            pod: built.pod,
            namespace: built.namespace,
            default_container: Some(built.default_container),
            start_log: options.start_log.clone(),
        };
        let executor = KubeExecutor::start(self.client.clone(), &settings, request).await?;
        Ok(executor.with_image_builder(self.image_builder(job, build, options)))
    }

    /// The configuration `options` make for pods of this cluster (its namespace, no
    /// templates).
    pub(crate) fn config(&self, options: &LocalRunOptions) -> KubeConfig {
        self.settings(options).0
    }

    /// Deletes build pod `name` and its Secret; a missing one is fine.
    pub(crate) async fn delete(&self, namespace: &str, name: &str) -> Result<(), KubeError> {
        let pods = kube::Api::namespaced(self.client.clone(), namespace);
        let secrets = kube::Api::namespaced(self.client.clone(), namespace);
        let secret = crate::api::reaper::secret_name(name);
        crate::api::lifecycle::delete(&pods, &secrets, name, Some(&secret), 0).await
    }

    /// What runs Kaniko builds of build `build` of `job` in this cluster: `kanikoBuild`
    /// in its pods, and the images of dockerfile agents.
    pub fn image_builder(&self, job: &str, build: u64, options: &LocalRunOptions) -> ImageBuilder {
        let (config, mut settings) = self.settings(options);
        settings.mode = AgentMode::PortForward {
            base_port: options.kaniko_base_port.unwrap_or(options.base_port),
        };
        ImageBuilder {
            client: self.client.clone(),
            settings,
            config: Arc::new(config),
            job: job.to_owned(),
            build,
            slots: None,
            records: None,
        }
    }

    /// The configuration and executor settings `options` make for pods of this cluster.
    fn settings(&self, options: &LocalRunOptions) -> (KubeConfig, ExecutorSettings) {
        let mut config = KubeConfig {
            namespace: self.namespace.clone(),
            kaniko: options.kaniko.clone(),
            dockerfile_agents: options.dockerfile_agents.clone(),
            ..KubeConfig::default()
        };
        if let Some(image) = &options.agent_image {
            config.agent_image.clone_from(image);
        }
        let mut install = AgentInstall::new(config.agent_image.clone());
        install.workspace.clone_from(&config.workspace_path);
        if let Some(command) = &options.install_command {
            install.command.clone_from(command);
        }
        if let Some(grace) = options.orphan_grace_seconds {
            install.orphan_grace_seconds = grace;
        }
        let mode = AgentMode::PortForward {
            base_port: options.base_port,
        };
        let settings = ExecutorSettings {
            start_deadline: std::time::Duration::from_secs(config.pod_start_deadline_seconds),
            ..ExecutorSettings::new(install, mode)
        };
        (config, settings)
    }
}

/// How long a build pod of another `kiln run` must have been finished before a `kiln run`
/// deletes it (a live run deletes its own at once).
const LOCAL_FINISHED_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// The agent's settings as written, with its `yamlFile` read from `workspace`.
fn agent_request(
    agent: &KubernetesSpec,
    span: Span,
    workspace: Option<&Path>,
) -> Result<AgentRequest, LocalRunError> {
    let spec = AgentSpec {
        kind: AgentSpecKind::Kubernetes(Box::new(agent.clone())),
        span,
    };
    match pod_request(&KubeConfig::default(), &spec, workspace) {
        Ok(Some((request, _))) => Ok(request),
        Ok(None) => Ok(AgentRequest::from_spec(agent, span)),
        Err(d) => Err(LocalRunError::Pod(vec![d])),
    }
}

/// Copies the files below `local` (without `.git` and `.kiln`) into the executor's workspace;
/// returns how many. File modes are not kept except that executables stay executable (a
/// `chmod +x` in the pod afterwards).
pub async fn upload_workspace(executor: &KubeExecutor, local: &Path) -> Result<usize, ExecError> {
    let set = FileSet::new(&[], &["**/.git/**".to_owned(), "**/.kiln/**".to_owned()])?;
    let dir = local.to_path_buf();
    let files = tokio::task::spawn_blocking(move || set.scan(&dir))
        .await
        .map_err(|source| ExecError::Task {
            what: "listing the workspace",
            source,
        })??;
    let mut executables = Vec::new();
    for entry in &files {
        let source = local.join(&entry.path);
        let bytes = tokio::fs::read(&source)
            .await
            .map_err(|e| ExecError::File {
                op: "read",
                path: source.clone(),
                source: e,
            })?;
        executor.write_file(&entry.path, &bytes).await?;
        if is_executable(&source) {
            executables.push(entry.path.to_string_lossy().into_owned());
        }
    }
    if !executables.is_empty() {
        let mut argv = vec!["chmod".to_owned(), "+x".to_owned()];
        argv.extend(executables);
        let spec = kiln_executor::ProcessSpec::new(argv).cwd(executor.workspace());
        let status = executor.spawn(spec).await?.wait().await?;
        if !status.success() {
            return Err(ExecError::Setup(
                "cannot mark the uploaded executables executable".to_owned(),
            ));
        }
    }
    Ok(files.len())
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}
