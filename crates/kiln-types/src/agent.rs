//! An agent as plain values: what a pipeline's `agent { }` (or a scripted `podTemplate`) asks
//! an execution backend for, its expressions already evaluated to strings, each value with
//! the span where it was written so a backend reports problems at the Jenkinsfile's text.
//! kiln-plan makes an [`AgentSpec`] from the model's agent (the engine evaluates what it can
//! only know at run time first); backends such as kiln-kube read nothing else of a pipeline.

use kiln_diagnostics::{Span, Spanned};
use serde::Serialize;
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

/// An agent: what kind, and where it is written. One shape for the model and the backends:
/// `V` holds a setting's value (the model's expression, or an evaluated [`AgentValue`]),
/// `K` a `kubernetes { }` agent's settings (the model's keep those kiln does not act on).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Agent<V, K> {
    pub kind: AgentKind<V, K>,
    pub span: Span,
}

/// The kinds of agent a pipeline names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum AgentKind<V, K> {
    Any,
    /// `agent none`: every stage declares its own.
    None,
    Label(V),
    Node {
        label: Option<V>,
        custom_workspace: Option<V>,
    },
    Docker(DockerAgent<V>),
    Dockerfile(DockerfileAgent<V>),
    Kubernetes(Box<K>),
}

impl<V, K> AgentKind<V, K> {
    /// The keyword that names the kind in a Jenkinsfile.
    pub fn keyword(&self) -> &'static str {
        match self {
            AgentKind::Any => "any",
            AgentKind::None => "none",
            AgentKind::Label(_) => "label",
            AgentKind::Node { .. } => "node",
            AgentKind::Docker(_) => "docker",
            AgentKind::Dockerfile(_) => "dockerfile",
            AgentKind::Kubernetes(_) => "kubernetes",
        }
    }
}

/// `docker { image 'maven:3.9'; args '-v ...' }` or `docker 'maven:3.9'`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DockerAgent<V> {
    pub image: V,
    pub args: Option<V>,
    pub label: Option<V>,
    pub reuse_node: bool,
    pub always_pull: bool,
    pub registry_url: Option<V>,
    pub registry_credentials_id: Option<V>,
    pub custom_workspace: Option<V>,
}

/// `dockerfile { filename 'x'; dir 'y' }` or `dockerfile true`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DockerfileAgent<V> {
    pub filename: Option<V>,
    pub dir: Option<V>,
    pub additional_build_args: Option<V>,
    pub args: Option<V>,
    pub label: Option<V>,
    pub reuse_node: bool,
}

/// An agent as a backend gets it: every value evaluated.
pub type AgentSpec = Agent<AgentValue, KubernetesSpec>;
/// The kind of an [`AgentSpec`].
pub type AgentSpecKind = AgentKind<AgentValue, KubernetesSpec>;
/// A docker agent as a backend gets it.
pub type DockerSpec = DockerAgent<AgentValue>;
/// A dockerfile agent as a backend gets it.
pub type DockerfileSpec = DockerfileAgent<AgentValue>;

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
