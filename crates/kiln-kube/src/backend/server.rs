//! The server's Kubernetes backend, made from the configuration's `executors.kubernetes`:
//! how build pods get the agent ([`KubeAgent`]), and where the agents are reached.

use crate::agent::install::AgentInstall;
use crate::agent::link::{AgentListener, AgentMode};
use crate::agent::tls::{AgentCa, AgentTlsError};
use crate::config::KubeConfig;
use crate::exec::executor::ExecutorSettings;
use crate::image::build::error_chain;
use kiln_agent::ControllerUrl;

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
    /// kiln's agent CA cannot be read or made, or the listener's certificate cannot be made.
    #[error("agent link TLS: {0}")]
    Tls(String),
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
/// address refuses the start; its TLS uses kiln's agent CA in `data_dir/agent-ca`.
pub(crate) fn server_settings(
    json: &serde_json::Value,
    agent: KubeAgent,
    data_dir: &std::path::Path,
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
    let mode = agent_mode(&kube, agent.base_port, data_dir)?;
    let settings = ExecutorSettings {
        start_deadline: std::time::Duration::from_secs(kube.pod_start_deadline_seconds),
        api_retry: kube.api_retry,
        active_deadline_seconds: kube.orphans.pod_active_deadline_seconds,
        pod_policy: Some(std::sync::Arc::new(crate::policy::PolicyCheck::new(&kube))),
        scale_up_window: std::time::Duration::from_secs(kube.scale_up_window_seconds),
        image_pull: kube.image_pull,
        ..ExecutorSettings::new(install, mode)
    };
    Ok((kube, settings))
}

/// Agents dial `controller_url` when it is set (kiln in the cluster; the listener is bound
/// now, so a busy address refuses the start), over TLS with kiln's CA from `DATA_DIR/agent-ca`
/// (made at the first start) and a certificate for the URL's host; else kiln reaches them by
/// port-forward.
fn agent_mode(
    kube: &KubeConfig,
    base_port: u16,
    data_dir: &std::path::Path,
) -> Result<AgentMode, SetupError> {
    let (Some(url), Some(listen)) = (&kube.controller_url, kube.agent_listen_address()) else {
        tracing::info!("build pods' agents are reached through the API server's port-forward");
        return Ok(AgentMode::PortForward { base_port });
    };
    let parsed =
        ControllerUrl::parse(url).map_err(|e| SetupError::Config(format!("controller_url {e}")))?;
    if url.starts_with("tcp://") {
        tracing::warn!(controller_url = %url, "controller_url: tcp:// is the older spelling; the agent link is TLS (write {parsed})");
    }
    let tls_failed = |e: AgentTlsError| SetupError::Tls(error_chain(&e));
    let ca = AgentCa::load_or_create(&data_dir.join("agent-ca")).map_err(tls_failed)?;
    let tls = ca
        .server_tls(std::slice::from_ref(&parsed.host))
        .map_err(tls_failed)?;
    let listener = AgentListener::bind_now(&listen, tls).map_err(|source| SetupError::Listen {
        address: listen.clone(),
        source,
    })?;
    tracing::info!(controller_url = %parsed, listen = %listener.local_addr(), "build pods' agents dial kiln over TLS");
    Ok(AgentMode::Dial {
        agent_url: parsed.to_string(),
        listener,
    })
}
