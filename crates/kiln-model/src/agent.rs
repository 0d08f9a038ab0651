use kiln_diagnostics::Span;
use kiln_syntax::ast::Expr;
use serde::Serialize;

/// Where a pipeline or stage runs: `agent any`, `agent { label 'x' }`, `agent { kubernetes { } }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Agent {
    pub kind: AgentKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum AgentKind {
    Any,
    /// `agent none`: every stage declares its own.
    None,
    Label(Expr),
    Node {
        label: Option<Expr>,
        custom_workspace: Option<Expr>,
    },
    Docker(DockerAgent),
    Dockerfile(DockerfileAgent),
    Kubernetes(Box<KubernetesAgent>),
}

impl AgentKind {
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

/// `agent { docker { image 'x'; args '-v ...' } }` or `agent { docker 'x' }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DockerAgent {
    pub image: Expr,
    pub args: Option<Expr>,
    pub label: Option<Expr>,
    pub reuse_node: bool,
    pub always_pull: bool,
    pub registry_url: Option<Expr>,
    pub registry_credentials_id: Option<Expr>,
    pub custom_workspace: Option<Expr>,
}

/// `agent { dockerfile { filename 'x'; dir 'y' } }` or `agent { dockerfile true }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DockerfileAgent {
    pub filename: Option<Expr>,
    pub dir: Option<Expr>,
    pub additional_build_args: Option<Expr>,
    pub args: Option<Expr>,
    pub label: Option<Expr>,
    pub reuse_node: bool,
}

/// `agent { kubernetes { yaml '''...'''; defaultContainer 'maven' } }`, kept for the
/// Kubernetes backend. The pod YAML is checked there, with positions mapped back here.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct KubernetesAgent {
    pub yaml: Option<Expr>,
    pub yaml_file: Option<Expr>,
    pub yaml_merge_strategy: Option<Expr>,
    pub inherit_from: Option<Expr>,
    pub default_container: Option<Expr>,
    pub cloud: Option<Expr>,
    pub namespace: Option<Expr>,
    pub label: Option<Expr>,
    pub service_account: Option<Expr>,
    pub node_selector: Option<Expr>,
    pub working_dir: Option<Expr>,
    pub active_deadline_seconds: Option<Expr>,
    pub slave_connect_timeout: Option<Expr>,
    pub pod_retention: Option<Expr>,
    pub idle_minutes: Option<Expr>,
    pub instance_cap: Option<Expr>,
    pub show_raw_yaml: Option<Expr>,
    pub supplemental_groups: Option<Expr>,
    pub custom_workspace: Option<Expr>,
    /// `containerTemplate(...)` / `containerTemplates [...]` calls, as written.
    pub container_templates: Vec<Expr>,
}
