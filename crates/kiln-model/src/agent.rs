use kiln_syntax::ast::Expr;
use serde::Serialize;

/// Where a pipeline or stage runs: `agent any`, `agent { label 'x' }`, `agent { kubernetes { } }`,
/// each setting kept as its expression (kiln-plan evaluates them into a backend's
/// `AgentSpec`, the same shape).
pub type Agent = kiln_types::Agent<Expr, KubernetesAgent>;
pub type AgentKind = kiln_types::AgentKind<Expr, KubernetesAgent>;
/// `agent { docker { image 'x'; args '-v ...' } }` or `agent { docker 'x' }`.
pub type DockerAgent = kiln_types::DockerAgent<Expr>;
/// `agent { dockerfile { filename 'x'; dir 'y' } }` or `agent { dockerfile true }`.
pub type DockerfileAgent = kiln_types::DockerfileAgent<Expr>;

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
