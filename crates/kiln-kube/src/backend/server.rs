//! The server's Kubernetes backend, made from the configuration's `executors.kubernetes`:
//! how build pods get the agent ([`KubeAgent`]), and where the agents are reached.

use crate::agent::install::AgentInstall;
use crate::agent::link::{AgentListener, AgentMode};
use crate::config::KubeConfig;
use crate::exec::executor::ExecutorSettings;

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

/// Why the server's Kubernetes backend cannot be made (the server does not start).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// `executors.kubernetes` is not valid (every problem, joined).
    #[error("invalid `executors.kubernetes` in the configuration: {0}")]
    Config(String),
    /// The agents' listening address cannot be bound.
    #[error(
        "invalid `executors.kubernetes` in the configuration: cannot listen for build agents on {address} (agent_listen)"
    )]
    Listen {
        address: String,
        #[source]
        source: std::io::Error,
    },
}

/// The configuration `json` (`executors.kubernetes`) and the executor settings it makes for
/// the server's pods. With `controller_url` the agents' listener is bound now, so a busy
/// address refuses the start.
pub(crate) fn server_settings(
    json: &serde_json::Value,
    agent: KubeAgent,
) -> Result<(KubeConfig, ExecutorSettings), SetupError> {
    let kube = KubeConfig::from_json(json).map_err(|diags| {
        let all: Vec<String> = diags.into_iter().map(|d| d.message).collect();
        SetupError::Config(all.join("; "))
    })?;
    let mut install = AgentInstall::new(kube.agent_image.clone());
    install.workspace.clone_from(&kube.workspace_path);
    if let Some(command) = agent.install_command {
        install.command = command;
    }
    install.orphan_grace_seconds = kube.orphans.agent_grace_seconds;
    let mode = agent_mode(&kube, agent.base_port)?;
    let settings = ExecutorSettings {
        start_deadline: std::time::Duration::from_secs(kube.pod_start_deadline_seconds),
        api_retry: kube.api_retry,
        active_deadline_seconds: kube.orphans.pod_active_deadline_seconds,
        pod_policy: Some(std::sync::Arc::new(crate::policy::PolicyCheck::new(&kube))),
        scale_up_window: std::time::Duration::from_secs(kube.scale_up_window_seconds),
        image_pull_window: std::time::Duration::from_secs(kube.image_pull_window_seconds),
        ..ExecutorSettings::new(install, mode)
    };
    Ok((kube, settings))
}

/// Agents dial `controller_url` when it is set (kiln in the cluster; the listener is bound
/// now, so a busy address refuses the start), else kiln reaches them by port-forward.
fn agent_mode(kube: &KubeConfig, base_port: u16) -> Result<AgentMode, SetupError> {
    let (Some(url), Some(listen)) = (&kube.controller_url, kube.agent_listen_address()) else {
        tracing::info!("build pods' agents are reached through the API server's port-forward");
        return Ok(AgentMode::PortForward { base_port });
    };
    let listener = AgentListener::bind_now(&listen).map_err(|source| SetupError::Listen {
        address: listen.clone(),
        source,
    })?;
    tracing::info!(controller_url = %url, listen = %listener.local_addr(), "build pods' agents dial kiln");
    Ok(AgentMode::Dial {
        agent_url: url.clone(),
        listener,
    })
}
