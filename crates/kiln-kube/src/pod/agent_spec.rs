//! A pipeline's agent ([`AgentSpec`], plain values) to the request its pod is built from:
//! the one reading of an agent for a pod, for the server and `kiln run --kubeconfig`, for
//! a build's pod and a stage's. A `dockerfile` agent's request needs its image built first
//! ([`crate::dockerfile_request`]).

use crate::config::KubeConfig;
use crate::pod::build::AgentRequest;
use crate::pod::docker::docker_request;
use crate::pod::yaml_file::read_yaml_file;
use kiln_diagnostics::{Diagnostic, Spanned};
use kiln_types::{AgentSpec, AgentSpecKind};
use std::path::Path;

/// A pod request with notes for the build log (settings a pod cannot honour).
pub type NotedRequest = (AgentRequest, Vec<String>);

/// What the pod of `agent` is made from: a `kubernetes` agent (its `yamlFile` read from
/// `workspace`, when it names one and a workspace is given), a `label` one of `config`'s
/// templates carries, or a `docker` agent's image. `Ok(None)` for an agent no pod serves
/// this way (a label no template carries, a value without a value, `any`, `dockerfile`).
/// A `yamlFile` that cannot be read is the error.
pub fn pod_request(
    config: &KubeConfig,
    agent: &AgentSpec,
    workspace: Option<&Path>,
) -> Result<Option<NotedRequest>, Diagnostic> {
    match &agent.kind {
        AgentSpecKind::Kubernetes(k) => {
            let mut request = AgentRequest::from_spec(k, agent.span);
            if k.yaml_file.is_some() {
                let Some(workspace) = workspace else {
                    return Err(Diagnostic::error(
                        "kube-yaml-file",
                        "`yamlFile` needs a workspace to read it from",
                    )
                    .with_primary(agent.span, "this agent"));
                };
                request.yaml_file = read_yaml_file(k, workspace)?;
            }
            Ok(Some((request, Vec::new())))
        }
        AgentSpecKind::Label(value) => {
            let Some(label) = value.text.clone() else {
                return Ok(None);
            };
            let known = config.templates.iter().any(|t| t.labels.contains(&label));
            Ok(known.then(|| {
                let request = AgentRequest {
                    label: Some(Spanned::new(label, value.span)),
                    span: agent.span,
                    ..AgentRequest::default()
                };
                (request, Vec::new())
            }))
        }
        AgentSpecKind::Docker(d) => Ok(docker_request(d, agent.span)),
        _ => Ok(None),
    }
}

/// Whether a pod runs `agent` (of its own, or none at all for `agent none`) rather than the
/// controller's machine: `kubernetes`, `docker`, a `label` one of `config`'s templates
/// carries, and `dockerfile` when its images have a repository (`dockerfile_agents`). A
/// label without a value counts as the machine's, to be safe.
pub fn runs_in_pod(config: &KubeConfig, dockerfile_agents: bool, agent: &AgentSpec) -> bool {
    match &agent.kind {
        AgentSpecKind::None | AgentSpecKind::Kubernetes(_) | AgentSpecKind::Docker(_) => true,
        AgentSpecKind::Dockerfile(_) => dockerfile_agents,
        AgentSpecKind::Label(value) => value
            .text
            .as_ref()
            .is_some_and(|label| config.templates.iter().any(|t| t.labels.contains(label))),
        _ => false,
    }
}
