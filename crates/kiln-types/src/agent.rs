//! An agent as plain values: what a pipeline's `agent { }` (or a scripted `podTemplate`) asks
//! an execution backend for, its expressions already evaluated to strings, each value with
//! the span where it was written so a backend reports problems at the Jenkinsfile's text.
//! kiln-plan makes an [`AgentSpec`] from the model's agent (the engine evaluates what it can
//! only know at run time first); backends such as kiln-kube read nothing else of a pipeline.

use kiln_diagnostics::{Span, Spanned};
use std::collections::BTreeMap;

/// One setting of an agent: its value and where it was written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentValue {
    /// The value, or `None` when it had none where the agent was read (an interpolated string
    /// in a top-level agent, read before the build runs).
    pub text: Option<String>,
    /// The value's expression in the Jenkinsfile.
    pub span: Span,
    /// Where the text starts in the Jenkinsfile when it is written there verbatim (a string
    /// literal without escapes or interpolation), so a place inside the text maps exactly.
    pub verbatim_at: Option<u32>,
}

impl AgentValue {
    /// A value with no verbatim text behind it (a script's value, a computed string).
    pub fn evaluated(text: impl Into<String>, span: Span) -> AgentValue {
        AgentValue {
            text: Some(text.into()),
            span,
            verbatim_at: None,
        }
    }

    /// The value with its span, when it has one.
    pub fn spanned(&self) -> Option<Spanned<String>> {
        self.text.clone().map(|t| Spanned::new(t, self.span))
    }
}

/// An agent: what kind, and where it is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentSpec {
    pub kind: AgentSpecKind,
    pub span: Span,
}

/// The kinds of agent a pipeline names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentSpecKind {
    Any,
    /// `agent none`.
    None,
    Label(AgentValue),
    Node {
        label: Option<AgentValue>,
        custom_workspace: Option<AgentValue>,
    },
    Docker(DockerSpec),
    Dockerfile(DockerfileSpec),
    Kubernetes(Box<KubernetesSpec>),
}

impl AgentSpecKind {
    /// The keyword that names the kind in a Jenkinsfile.
    pub fn keyword(&self) -> &'static str {
        match self {
            AgentSpecKind::Any => "any",
            AgentSpecKind::None => "none",
            AgentSpecKind::Label(_) => "label",
            AgentSpecKind::Node { .. } => "node",
            AgentSpecKind::Docker(_) => "docker",
            AgentSpecKind::Dockerfile(_) => "dockerfile",
            AgentSpecKind::Kubernetes(_) => "kubernetes",
        }
    }
}

/// `docker { image 'maven:3.9'; args '...' }`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DockerSpec {
    pub image: AgentValue,
    pub args: Option<AgentValue>,
    pub label: Option<AgentValue>,
    pub reuse_node: bool,
    pub always_pull: bool,
    pub registry_url: Option<AgentValue>,
    pub registry_credentials_id: Option<AgentValue>,
    pub custom_workspace: Option<AgentValue>,
}

/// `dockerfile { filename 'x'; dir 'y' }` or `dockerfile true`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DockerfileSpec {
    pub filename: Option<AgentValue>,
    pub dir: Option<AgentValue>,
    pub additional_build_args: Option<AgentValue>,
    pub args: Option<AgentValue>,
    pub label: Option<AgentValue>,
    pub reuse_node: bool,
}

/// `kubernetes { yaml '''...'''; defaultContainer 'maven' }`: the settings that shape the
/// pod (those kiln accepts without acting on are named by the engine, not carried here).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KubernetesSpec {
    pub yaml: Option<AgentValue>,
    /// The file's name; the backend reads it from the build's workspace.
    pub yaml_file: Option<AgentValue>,
    /// `yamlMergeStrategy merge()` or `override()`, as written (`override`, `merge`).
    pub yaml_merge_strategy: Option<AgentValue>,
    pub inherit_from: Option<AgentValue>,
    pub default_container: Option<AgentValue>,
    pub cloud: Option<AgentValue>,
    pub namespace: Option<AgentValue>,
    pub label: Option<AgentValue>,
    pub service_account: Option<AgentValue>,
    pub node_selector: Option<AgentValue>,
    pub active_deadline_seconds: Option<AgentValue>,
    pub slave_connect_timeout: Option<AgentValue>,
    pub supplemental_groups: Option<AgentValue>,
    /// `containerTemplate(...)` calls, in order.
    pub container_templates: Vec<ContainerTemplate>,
}

/// One `containerTemplate(...)`: its named arguments that have a value, and `envVars:
/// [envVar(key:, value:)]` as pairs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerTemplate {
    pub args: BTreeMap<String, Spanned<String>>,
    pub env: Vec<(String, String)>,
    pub span: Span,
}
