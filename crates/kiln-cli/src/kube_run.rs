//! `kiln run --kubeconfig PATH FILE`: the build runs in a pod of that cluster when its
//! top-level agent is `kubernetes { }`, `docker { }` or, with `--dockerfile-repository`,
//! `dockerfile { }` (its image built with Kaniko in the cluster first unless the registry has
//! it); stages with such an agent of their own get pods of their own (kiln-engine's
//! `BackendAgents`), deleted when the stage is done. Both come from kiln-kube's
//! `KubeBackend`, through the execution-backend seam. The local workspace is uploaded into
//! the pod's workspace before the first stage (the agent's `yamlFile` is read from it).
//! `KILN_AGENT_IMAGE`, `KILN_AGENT_INSTALL` (the init container's command) and
//! `KILN_AGENT_PORT` override how the agent gets into the pod, `KILN_AGENT_ORPHAN_GRACE` how
//! long the agents outlive a killed `kiln run`; `kanikoBuild` runs in Kaniko pods of the
//! same cluster, with `KILN_KANIKO_IMAGE` and `KILN_KANIKO_SECRET` (a docker config secret
//! of the namespace, for registry credentials).

use anyhow::{Context as _, bail};
use kiln_backend::{AgentWanted, BackendError, ExecutionBackend, Lease, Notes, Placement};
use kiln_diagnostics::{Diagnostic, RenderOptions, SourceFile, render_all};
use kiln_kube::{DockerfileAgents, KanikoSettings, LocalRunOptions};
use kiln_types::{AgentSpec, AgentSpecKind};
use std::path::Path;
use std::sync::Arc;

/// Starts the build's pod for its top-level `agent`; errors carry the reason for the user
/// (the pod is deleted again).
pub async fn start(
    backend: &Arc<dyn ExecutionBackend>,
    agent: AgentSpec,
    source: &SourceFile,
    (job, build): (&str, u64),
    workspace: &Path,
) -> anyhow::Result<Lease> {
    let notes: Notes = Arc::new(|note| {
        eprintln!("{}", kiln_engine::LogMessage::from(note).text);
    });
    let kind = agent.kind.clone();
    let wanted = AgentWanted {
        agent,
        job: job.to_owned(),
        build,
        place: Placement::Build { timeout: None },
        workspace: workspace.to_path_buf(),
        notes,
    };
    let lease = match backend.acquire(wanted).await {
        Ok(Some(lease)) => lease,
        Ok(None) => match kind {
            AgentSpecKind::Docker(_) => {
                bail!("--kubeconfig: the docker agent's image must be a plain string here")
            }
            AgentSpecKind::Dockerfile(_) => {
                bail!("--kubeconfig: a dockerfile agent needs --dockerfile-repository")
            }
            other => bail!("--kubeconfig cannot run a `{}` agent", other.keyword()),
        },
        Err(BackendError::Settings(diagnostic)) => invalid(&[*diagnostic], source)?,
        Err(BackendError::Invalid(diagnostics)) => invalid(&diagnostics, source)?,
        Err(error @ BackendError::Image(_)) => bail!("{error}"),
        Err(error @ BackendError::Agent(_)) => {
            return Err(error).context("the build pod did not start");
        }
        Err(error) => return Err(error.into()),
    };
    let name = lease.name().map(|n| n.name).unwrap_or_default();
    eprintln!("Running in pod {name}");
    let uploaded = match lease.upload(workspace).await {
        Ok(n) => n,
        Err(error) => {
            backend
                .release(lease, kiln_engine::BuildResult::Failure)
                .await
                .ok();
            return Err(error).context("cannot upload the workspace into the pod");
        }
    };
    eprintln!("Uploaded {uploaded} workspace files into the pod");
    Ok(lease)
}

/// Shows a pod's diagnostics against the Jenkinsfile; always an error.
fn invalid(diagnostics: &[Diagnostic], source: &SourceFile) -> anyhow::Result<Lease> {
    eprint!(
        "{}",
        render_all(diagnostics, source, RenderOptions { color: false })
    );
    bail!("the pipeline's pod is invalid; nothing was run");
}

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
        kaniko: kaniko_settings(),
        dockerfile_agents,
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

/// Kaniko settings for `kanikoBuild` and dockerfile agents: the defaults,
/// `KILN_KANIKO_IMAGE`, `KILN_KANIKO_EXECUTOR` (the executor's path in the image) and
/// `KILN_KANIKO_SECRET`.
pub(crate) fn kaniko_settings() -> KanikoSettings {
    let mut kaniko = KanikoSettings::default();
    if let Ok(image) = std::env::var("KILN_KANIKO_IMAGE") {
        kaniko.image = image;
    }
    if let Ok(executor) = std::env::var("KILN_KANIKO_EXECUTOR") {
        kaniko.executor = executor;
    }
    kaniko.docker_config_secret = std::env::var("KILN_KANIKO_SECRET").ok();
    kaniko
}
