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
    /// `retries`: how often Jenkins starts a failed agent pod again.
    pub retries: Option<Expr>,
    /// `containerTemplate(...)` / `containerTemplates [...]` calls, as written.
    pub container_templates: Vec<Expr>,
}

impl KubernetesAgent {
    /// The settings written here that kiln accepts but does not act on, each with why; a
    /// build names them in its log.
    pub fn settings_without_effect(&self) -> Vec<(&'static str, &'static str)> {
        let written = [
            ("cloud", &self.cloud),
            ("workingDir", &self.working_dir),
            ("customWorkspace", &self.custom_workspace),
            ("podRetention", &self.pod_retention),
            ("idleMinutes", &self.idle_minutes),
            ("instanceCap", &self.instance_cap),
            ("showRawYaml", &self.show_raw_yaml),
            ("retries", &self.retries),
        ];
        written
            .into_iter()
            .filter(|(_, v)| v.is_some())
            .filter_map(|(key, _)| {
                crate::lower::IGNORED_KUBERNETES_KEYS
                    .iter()
                    .find(|(k, _)| *k == key)
                    .copied()
            })
            .collect()
    }
}
