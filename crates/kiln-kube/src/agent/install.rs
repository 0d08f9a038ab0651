//! Makes a build pod run the kiln agent: an init container installs the agent binary into the
//! shared `/kiln` volume, and every step container's command is replaced by the agent, with
//! the build's token (and, when agents dial kiln, kiln's CA certificate) from a Secret. Step
//! containers' original `command`/`args` are dropped: steps are what runs in them, so their
//! image's entrypoint is never started. Services (see `crate::pod::services`) keep theirs, and
//! get neither the agent nor its token.

use crate::agent::link::AgentMode;
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource, Pod, ResourceRequirements,
    SeccompProfile, SecretKeySelector, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;

/// The init container's name.
pub const AGENT_INIT_CONTAINER: &str = "kiln-agent-init";
/// The agent volume's name and mount path (the same as the pod builder's).
pub const AGENT_VOLUME_NAME: &str = "kiln-agent";
pub const AGENT_MOUNT: &str = "/kiln";
/// Where the init container installs the agent.
pub const AGENT_BINARY: &str = "/kiln/bin/kiln-agent";
/// The key of the token in the build's Secret.
pub const TOKEN_KEY: &str = "token";
/// The key of kiln's agent CA certificate in the build's Secret (dial mode).
pub const CA_KEY: &str = "ca.crt";

/// How the agent is installed and started.
#[derive(Clone, Debug)]
pub struct AgentInstall {
    /// The image of the init container.
    pub image: String,
    /// Its command; the default runs `/kiln-agent --install /kiln/bin/kiln-agent`, so the image
    /// needs nothing but the agent binary.
    pub command: Vec<String>,
    /// Where the workspace volume is mounted in the step containers.
    pub workspace: String,
    /// Seconds between SIGTERM and SIGKILL when a step is stopped.
    pub kill_grace_seconds: u64,
    /// The agent exits when no controller has been connected this long (kiln was killed and
    /// nobody deleted the pod); 0: never.
    pub orphan_grace_seconds: u64,
}

impl AgentInstall {
    pub fn new(image: impl Into<String>) -> Self {
        AgentInstall {
            image: image.into(),
            command: vec![
                "/kiln-agent".to_owned(),
                "--install".to_owned(),
                AGENT_BINARY.to_owned(),
            ],
            workspace: "/workspace".to_owned(),
            kill_grace_seconds: 5,
            orphan_grace_seconds: crate::config::orphans::DEFAULT_AGENT_GRACE_SECONDS,
        }
    }
}

/// Rewrites `pod` to run the agent in every container but `services`; returns the step
/// containers in pod order with the TCP port each agent listens on (in listen mode:
/// `base + index`, since a pod's containers share one network namespace).
pub fn inject_agent(
    pod: &mut Pod,
    install: &AgentInstall,
    secret: &str,
    mode: &AgentMode,
    services: &[String],
) -> Vec<(String, u16)> {
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.restart_policy = Some("Never".to_owned());
    let volumes = spec.volumes.get_or_insert_with(Vec::new);
    if !volumes.iter().any(|v| v.name == AGENT_VOLUME_NAME) {
        volumes.push(Volume {
            name: AGENT_VOLUME_NAME.to_owned(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        });
    }
    let mut init = Container {
        name: AGENT_INIT_CONTAINER.to_owned(),
        image: Some(install.image.clone()),
        command: Some(install.command.clone()),
        resources: Some(init_resources()),
        security_context: Some(init_security()),
        ..Container::default()
    };
    mount_agent(&mut init);
    let inits = spec.init_containers.get_or_insert_with(Vec::new);
    inits.retain(|c| c.name != AGENT_INIT_CONTAINER);
    inits.insert(0, init);
    let mut ports = Vec::new();
    let steps = spec
        .containers
        .iter_mut()
        .filter(|c| !services.contains(&c.name));
    for (index, container) in steps.enumerate() {
        let mut command = vec![
            AGENT_BINARY.to_owned(),
            "--container".to_owned(),
            container.name.clone(),
            "--workspace".to_owned(),
            install.workspace.clone(),
            "--kill-grace".to_owned(),
            install.kill_grace_seconds.to_string(),
        ];
        if install.orphan_grace_seconds > 0 {
            command.extend([
                "--orphan-grace".to_owned(),
                install.orphan_grace_seconds.to_string(),
            ]);
        }
        let port = match mode {
            AgentMode::PortForward { base_port } => {
                let port = base_port.saturating_add(u16::try_from(index).unwrap_or(u16::MAX));
                command.extend(["--listen".to_owned(), port.to_string()]);
                port
            }
            AgentMode::Dial { agent_url, .. } => {
                // `tcp://` (the older spelling) becomes `tls://`: the link is TLS either way.
                let url = kiln_agent::ControllerUrl::parse(agent_url)
                    .map_or_else(|_| agent_url.clone(), |u| u.to_string());
                command.extend(["--connect".to_owned(), url]);
                0
            }
        };
        container.command = Some(command);
        container.args = None;
        let env = container.env.get_or_insert_with(Vec::new);
        env.retain(|e| e.name != kiln_agent::TOKEN_ENV && e.name != kiln_agent::CA_ENV);
        env.push(from_secret(kiln_agent::TOKEN_ENV, secret, TOKEN_KEY));
        if matches!(mode, AgentMode::Dial { .. }) {
            env.push(from_secret(kiln_agent::CA_ENV, secret, CA_KEY));
        }
        mount_agent(container);
        ports.push((container.name.clone(), port));
    }
    ports
}

/// The init container copies one file: a little CPU and memory, bounded (namespaces with a
/// ResourceQuota refuse containers without them).
fn init_resources() -> ResourceRequirements {
    let quantities = |cpu: &str, memory: &str| {
        BTreeMap::from([
            ("cpu".to_owned(), Quantity(cpu.to_owned())),
            ("memory".to_owned(), Quantity(memory.to_owned())),
        ])
    };
    ResourceRequirements {
        requests: Some(quantities("10m", "16Mi")),
        limits: Some(quantities("500m", "64Mi")),
        ..ResourceRequirements::default()
    }
}

/// The agent image runs as non-root, with no privilege escalation, no capabilities and the
/// runtime's seccomp profile: Pod Security "restricted" whatever the pod's images are.
fn init_security() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(AGENT_USER),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            add: None,
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            localhost_profile: None,
        }),
        ..SecurityContext::default()
    }
}

/// The user the agent image runs as (deploy/Dockerfile's `agent` target).
pub const AGENT_USER: i64 = 65532;

/// An environment variable holding `key` of the build's Secret.
fn from_secret(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_owned(),
                key: key.to_owned(),
                optional: None,
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn mount_agent(container: &mut Container) {
    let mounts = container.volume_mounts.get_or_insert_with(Vec::new);
    if !mounts.iter().any(|m| m.mount_path == AGENT_MOUNT) {
        mounts.push(VolumeMount {
            name: AGENT_VOLUME_NAME.to_owned(),
            mount_path: AGENT_MOUNT.to_owned(),
            ..VolumeMount::default()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_step_container_runs_the_agent_on_its_own_port() {
        let mut pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [
                {"name": "maven", "image": "maven:3", "command": ["mvn"], "args": ["x"]},
                {"name": "node", "image": "node:22"}]}
        }))
        .unwrap();
        let install = AgentInstall::new("kiln/agent:1");
        let ports = inject_agent(
            &mut pod,
            &install,
            "p-agent",
            &AgentMode::PortForward { base_port: 7777 },
            &[],
        );
        assert_eq!(
            ports,
            vec![("maven".to_owned(), 7777), ("node".to_owned(), 7778)]
        );
        let spec = pod.spec.unwrap();
        let maven = &spec.containers[0];
        assert_eq!(
            maven.command.as_ref().unwrap().join(" "),
            "/kiln/bin/kiln-agent --container maven --workspace /workspace --kill-grace 5 --orphan-grace 900 --listen 7777"
        );
        assert!(maven.args.is_none());
        let token = maven
            .env
            .as_ref()
            .unwrap()
            .iter()
            .find(|e| e.name == "KILN_AGENT_TOKEN")
            .unwrap();
        assert_eq!(
            token
                .value_from
                .as_ref()
                .unwrap()
                .secret_key_ref
                .as_ref()
                .unwrap()
                .name,
            "p-agent"
        );
        let init = &spec.init_containers.unwrap()[0];
        assert_eq!(init.name, AGENT_INIT_CONTAINER);
        assert_eq!(init.volume_mounts.as_ref().unwrap()[0].mount_path, "/kiln");
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        assert!(
            spec.volumes
                .unwrap()
                .iter()
                .any(|v| v.name == AGENT_VOLUME_NAME)
        );
    }
}
