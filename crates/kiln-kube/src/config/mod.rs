//! The `executors.kubernetes` section of the server configuration: connection, limits,
//! agent settings and pod templates. kiln-config keeps the section opaque; this module reads
//! it from YAML text (with positions) or from a JSON value, and checks it whole.

pub(crate) mod api_retry;
pub(crate) mod cache;
pub(crate) mod dockerfile_agents;
pub(crate) mod image_pull;
pub(crate) mod kaniko;
pub(crate) mod orphans;
pub(crate) mod pod_policy;
pub(crate) mod template;

pub use api_retry::ApiRetry;
use dockerfile_agents::DockerfileAgents;
pub use image_pull::ImagePull;
use kaniko::KanikoSettings;
use kiln_diagnostics::{Diagnostic, SourceFile, Span, did_you_mean};
use kiln_yaml::{Node, NodeKind, YamlError};
pub use orphans::Orphans;
pub use pod_policy::PodPolicy;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use template::PodTemplate;

/// Everything the Kubernetes backend is configured with.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct KubeConfig {
    #[serde(default)]
    pub connection: Connection,
    /// Namespace of build pods unless a template or the pipeline names another.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Service account of build pods unless a template or the pipeline names another.
    pub service_account: Option<String>,
    /// Build pods alive at once (busy and warm); further builds wait.
    #[serde(default = "default_max_pods")]
    pub max_concurrent_pods: u32,
    /// A pod that is not running this long after its creation fails the build.
    #[serde(default = "default_start_deadline")]
    pub pod_start_deadline_seconds: u64,
    /// How long an Unschedulable pod waits for an autoscaler's `TriggeredScaleUp` (after
    /// one it waits up to the start deadline); 0: fail at once.
    #[serde(default = "default_scale_up_window")]
    pub scale_up_window_seconds: u64,
    /// How many failed pulls of an image, and how long, the kubelet's retries are waited for.
    #[serde(default)]
    pub image_pull: ImagePull,
    #[serde(default)]
    pub api: ApiLimits,
    /// How long API calls failing with a transient error are retried.
    #[serde(default)]
    pub api_retry: ApiRetry,
    /// What keeps build pods from outliving their builds.
    #[serde(default)]
    pub orphans: Orphans,
    /// What a pipeline's pod may ask for.
    #[serde(default)]
    pub pod_policy: PodPolicy,
    /// URL agents dial (`tls://kiln.kiln.svc:7777`; `tcp://` is the older spelling of the
    /// same TLS link): kiln runs in the cluster and its build pods' agents connect to it,
    /// checking kiln's certificate against this host. Unset: kiln reaches the agents through the API server's
    /// port-forward.
    pub controller_url: Option<String>,
    /// Where kiln listens for the agents that dial `controller_url` (`HOST:PORT`); default:
    /// `0.0.0.0` and the URL's port.
    pub agent_listen: Option<String>,
    /// Image holding `/kiln-agent`, copied into every pod by its init container.
    #[serde(default = "default_agent_image")]
    pub agent_image: String,
    /// Where the shared workspace volume is mounted in every container.
    #[serde(default = "default_workspace_path")]
    pub workspace_path: String,
    #[serde(default)]
    pub kaniko: KanikoSettings,
    /// Where the images of `agent { dockerfile { } }` are pushed; unset: such agents run
    /// where the build runs.
    pub dockerfile_agents: Option<DockerfileAgents>,
    #[serde(default)]
    pub templates: Vec<PodTemplate>,
}

/// How kiln reaches the API server.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Connection {
    /// The pod's service account (kiln runs in the cluster).
    #[default]
    InCluster,
    /// A kubeconfig file, optionally one of its contexts.
    Kubeconfig {
        path: String,
        #[serde(default)]
        context: Option<String>,
    },
}

/// Client-side limits on API requests.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct ApiLimits {
    /// Requests in flight at once.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: u32,
    /// Timeout of one (non-watch) request.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_seconds: u64,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            max_in_flight: default_max_in_flight(),
            request_timeout_seconds: default_request_timeout(),
        }
    }
}

fn default_namespace() -> String {
    "default".to_string()
}
fn default_max_pods() -> u32 {
    20
}
fn default_start_deadline() -> u64 {
    300
}
fn default_scale_up_window() -> u64 {
    30
}
fn default_max_in_flight() -> u32 {
    16
}
fn default_request_timeout() -> u64 {
    30
}
fn default_agent_image() -> String {
    format!("ghcr.io/kiln-ci/kiln-agent:{}", env!("CARGO_PKG_VERSION"))
}
fn default_workspace_path() -> String {
    "/workspace".to_string()
}

impl Default for KubeConfig {
    fn default() -> Self {
        KubeConfig {
            connection: Connection::default(),
            namespace: default_namespace(),
            service_account: None,
            max_concurrent_pods: default_max_pods(),
            pod_start_deadline_seconds: default_start_deadline(),
            scale_up_window_seconds: default_scale_up_window(),
            image_pull: ImagePull::default(),
            api: ApiLimits::default(),
            api_retry: ApiRetry::default(),
            orphans: Orphans::default(),
            pod_policy: PodPolicy::default(),
            controller_url: None,
            agent_listen: None,
            agent_image: default_agent_image(),
            workspace_path: default_workspace_path(),
            kaniko: KanikoSettings::default(),
            dockerfile_agents: None,
            templates: Vec::new(),
        }
    }
}

impl KubeConfig {
    /// Reads the section from its YAML text. Diagnostics' spans are byte offsets into `text`
    /// (shift them when the section is part of a larger file).
    pub fn from_yaml(text: &str) -> Result<KubeConfig, Vec<Diagnostic>> {
        let invalid = |e: YamlError| {
            vec![err(
                format!("invalid Kubernetes executor configuration: {}", e.reason),
                e.span.unwrap_or_default(),
            )]
        };
        let tree = kiln_yaml::parse_tree(text).map_err(invalid)?;
        let config: KubeConfig = kiln_yaml::parse_typed(text).map_err(invalid)?;
        let diags = config.positioned_checks(&tree, text);
        if diags.is_empty() {
            Ok(config)
        } else {
            Err(diags)
        }
    }

    /// Reads the section from its node in a larger YAML file whose text is `text` (e.g.
    /// `executors.kubernetes` of kiln.yaml, so the server's start names the line in the
    /// file); spans are byte offsets into `text`. A value of a wrong type points at the
    /// section (its message names the field).
    pub fn from_node(node: &Node, text: &str) -> Result<KubeConfig, Vec<Diagnostic>> {
        let config = KubeConfig::deserialize(node.to_json()).map_err(|e| {
            vec![err(
                format!("invalid Kubernetes executor configuration: {e}"),
                node.span,
            )]
        })?;
        let diags = config.positioned_checks(node, text);
        if diags.is_empty() {
            Ok(config)
        } else {
            Err(diags)
        }
    }

    /// Every check, with spans from the section's `tree` (in `text`).
    fn positioned_checks(&self, tree: &Node, text: &str) -> Vec<Diagnostic> {
        let mut diags = self.unknown_pod_fields(tree, text);
        diags.extend(self.check(
            |name| template_name_span(tree, name),
            |path| {
                let node = path.split('.').try_fold(tree, |node, key| node.get(key));
                node.map_or(tree.span, |n| n.span)
            },
        ));
        diags.extend(self.check_api(|field| {
            let api = tree.get("api");
            api.and_then(|a| a.get(field))
                .or(api)
                .map_or(Span::default(), |n| n.span)
        }));
        diags
    }

    /// Reads the section from a JSON value (no positions: messages name the field path).
    pub fn from_json(value: &serde_json::Value) -> Result<KubeConfig, Vec<Diagnostic>> {
        let config = KubeConfig::deserialize(value).map_err(|e| {
            vec![Diagnostic::error(
                "kube-config",
                format!("invalid Kubernetes executor configuration: {e}"),
            )]
        })?;
        let mut diags = config.check(|_| Span::default(), |_| Span::default());
        diags.extend(config.check_api(|_| Span::default()));
        if diags.is_empty() {
            Ok(config)
        } else {
            Err(diags)
        }
    }

    /// The template called `name`.
    pub fn template(&self, name: &str) -> Option<&PodTemplate> {
        self.templates.iter().find(|t| t.name == name)
    }

    /// The address to listen on for dialling agents: `agent_listen`, else `0.0.0.0` and the
    /// port of `controller_url`; `None` without `controller_url` (port-forward mode).
    pub fn agent_listen_address(&self) -> Option<String> {
        let url = self.controller_url.as_deref()?;
        if let Some(listen) = &self.agent_listen {
            return Some(listen.clone());
        }
        let port = kiln_agent::ControllerUrl::parse(url).ok()?.port;
        Some(format!("0.0.0.0:{port}"))
    }

    /// Whole-config rules: unique template names, known parents, no inheritance cycles,
    /// pool sizes that fit, a controller URL agents can dial and an address to listen on.
    fn check(
        &self,
        span: impl Fn(&str) -> Span,
        value_span: impl Fn(&str) -> Span,
    ) -> Vec<Diagnostic> {
        let mut diags = self.check_agent_settings(&value_span);
        if let Some(agents) = &self.dockerfile_agents
            && let Err(message) = agents.check()
        {
            diags.push(err(message, value_span("dockerfile_agents.repository")));
        }
        let names: Vec<&str> = self.templates.iter().map(|t| t.name.as_str()).collect();
        let mut seen = BTreeSet::new();
        for t in &self.templates {
            if !seen.insert(t.name.as_str()) {
                diags.push(err(
                    format!("pod template `{}` is defined twice", t.name),
                    span(&t.name),
                ));
            }
            for parent in &t.inherit_from {
                if self.template(parent).is_none() {
                    let mut d = err(
                        format!(
                            "pod template `{}` inherits from unknown template `{parent}`",
                            t.name
                        ),
                        span(&t.name),
                    );
                    if let Some(s) = did_you_mean(parent, names.iter().copied()) {
                        d = d.with_note(format!("help: did you mean `{s}`?"));
                    }
                    diags.push(d);
                }
            }
            if let Some(pool) = t.pool
                && (pool.max == 0 || pool.min > pool.max)
            {
                diags.push(err(
                    format!(
                        "pod template `{}`: pool needs 0 < max and min <= max (min {}, max {})",
                        t.name, pool.min, pool.max
                    ),
                    span(&t.name),
                ));
            }
            for c in &t.caches {
                if c.mount_path().is_none() {
                    diags.push(err(
                        format!(
                            "pod template `{}`: cache `{}` needs a `path` or a `preset`",
                            t.name, c.name
                        ),
                        span(&t.name),
                    ));
                }
            }
        }
        if diags.is_empty() {
            for t in &self.templates {
                if let Err(cycle) = self.chain(&t.name) {
                    diags.push(err(
                        format!("pod templates inherit in a cycle: {}", cycle.join(" -> ")),
                        span(&t.name),
                    ));
                    break;
                }
            }
        }
        diags
    }

    /// `api` limits of 0 would stop every request.
    fn check_api(&self, span: impl Fn(&str) -> Span) -> Vec<Diagnostic> {
        let api = &self.api;
        [
            ("max_in_flight", u64::from(api.max_in_flight)),
            ("request_timeout_seconds", api.request_timeout_seconds),
        ]
        .into_iter()
        .filter(|(_, value)| *value == 0)
        .map(|(field, _)| {
            err(
                format!("api.{field} must be at least 1, not 0"),
                span(field),
            )
        })
        .collect()
    }

    /// `controller_url` as the agent's `--connect` takes it, `agent_listen` a socket address
    /// (and only with `controller_url`), `max_concurrent_pods` above zero. `span` finds the
    /// value of a top-level key.
    fn check_agent_settings(&self, span: &impl Fn(&str) -> Span) -> Vec<Diagnostic> {
        let mut diags = Vec::new();
        if let Some(url) = &self.controller_url
            && kiln_agent::ControllerUrl::parse(url).is_err()
        {
            diags.push(err(
                format!(
                    "`controller_url` `{url}` is not an address agents can dial: expected tls://HOST:PORT, e.g. tls://kiln.kiln.svc:7777"
                ),
                span("controller_url"),
            ));
        }
        if let Some(listen) = &self.agent_listen {
            if self.controller_url.is_none() {
                diags.push(err(
                    "`agent_listen` needs `controller_url` (the address agents dial); without it kiln reaches agents through port-forward".to_string(),
                    span("agent_listen"),
                ));
            } else if listen.parse::<std::net::SocketAddr>().is_err() {
                diags.push(err(
                    format!(
                        "`agent_listen` `{listen}` is not an address to listen on: expected IP:PORT, e.g. 0.0.0.0:7777"
                    ),
                    span("agent_listen"),
                ));
            }
        }
        if self.max_concurrent_pods == 0 {
            diags.push(err(
                "`max_concurrent_pods` must be at least 1".to_string(),
                span("max_concurrent_pods"),
            ));
        }
        diags
    }

    /// The templates `name` is made of, parents first (each once), or the cycle found.
    pub(crate) fn chain(&self, name: &str) -> Result<Vec<&PodTemplate>, Vec<String>> {
        let mut out = Vec::new();
        let mut stack = Vec::new();
        self.visit(name, &mut stack, &mut out)?;
        Ok(out)
    }

    fn visit<'a>(
        &'a self,
        name: &str,
        stack: &mut Vec<String>,
        out: &mut Vec<&'a PodTemplate>,
    ) -> Result<(), Vec<String>> {
        if stack.iter().any(|s| s == name) {
            let mut cycle = stack.clone();
            cycle.push(name.to_string());
            return Err(cycle);
        }
        let Some(t) = self.template(name) else {
            return Ok(());
        };
        if out.iter().any(|o| o.name == t.name) {
            return Ok(());
        }
        stack.push(name.to_string());
        for parent in &t.inherit_from {
            self.visit(parent, stack, out)?;
        }
        stack.pop();
        out.push(t);
        Ok(())
    }

    /// Keys in templates' containers, volumes, affinity and tolerations that k8s-openapi
    /// does not know (it ignores them silently, so kiln reports them).
    fn unknown_pod_fields(&self, tree: &Node, text: &str) -> Vec<Diagnostic> {
        let Some(NodeKind::Seq(nodes)) = tree.get("templates").map(|n| &n.kind) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for (i, (node, t)) in nodes.iter().zip(&self.templates).enumerate() {
            let typed: BTreeMap<&str, serde_json::Value> = BTreeMap::from([
                (
                    "containers",
                    serde_json::to_value(&t.containers).unwrap_or_default(),
                ),
                (
                    "volumes",
                    serde_json::to_value(&t.volumes).unwrap_or_default(),
                ),
                (
                    "affinity",
                    serde_json::to_value(&t.affinity).unwrap_or_default(),
                ),
                (
                    "tolerations",
                    serde_json::to_value(&t.tolerations).unwrap_or_default(),
                ),
            ]);
            for (field, value) in typed {
                if let Some(n) = node.get(field) {
                    kiln_yaml::unknown_fields(
                        n,
                        &value,
                        &format!("templates[{i}].{field}"),
                        &mut found,
                    );
                }
            }
        }
        found
            .into_iter()
            .map(|u| {
                err(format!("unknown field `{}` in `{}`", u.key, u.path), u.span).with_note(
                    format!(
                        "at {} of the Kubernetes executor configuration",
                        line_and_column(text, u.span)
                    ),
                )
            })
            .collect()
    }
}

fn err(message: String, span: Span) -> Diagnostic {
    Diagnostic::error("kube-config", message).with_primary(span, "here")
}

/// The span of the `name:` value of the template called `name`.
fn template_name_span(tree: &Node, name: &str) -> Span {
    let Some(NodeKind::Seq(nodes)) = tree.get("templates").map(|n| &n.kind) else {
        return Span::default();
    };
    nodes
        .iter()
        .filter_map(|n| n.get("name"))
        .find(|n| n.scalar_text().as_deref() == Some(name))
        .map_or(Span::default(), |n| n.span)
}

/// "line 3, column 7": where a span of a YAML text starts, for notes.
pub(crate) fn line_and_column(text: &str, at: Span) -> String {
    let lc = SourceFile::new("", text).line_col(at.start);
    format!("line {}, column {}", lc.line, lc.col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<(String, String)> {
        KubeConfig::from_yaml(text)
            .unwrap_err()
            .into_iter()
            .map(|d| {
                (
                    d.message.clone(),
                    text[d.primary_span().range()].to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn a_full_section_parses() {
        let c = KubeConfig::from_yaml(
            "connection: {kubeconfig: {path: /etc/kube/config, context: ci}}\nnamespace: builds\nmax_concurrent_pods: 5\npod_start_deadline_seconds: 60\napi: {max_in_flight: 4}\ncontroller_url: tcp://kiln:7777\ntemplates:\n- name: base\n  containers: [{name: jnlp, image: 'busybox'}]\n- name: maven\n  inherit_from: base\n  labels: [maven]\n  pool: {min: 1, max: 3}\n",
        )
        .unwrap();
        assert_eq!(c.namespace, "builds");
        assert_eq!(
            c.connection,
            Connection::Kubeconfig {
                path: "/etc/kube/config".into(),
                context: Some("ci".into())
            }
        );
        assert_eq!(c.api.max_in_flight, 4);
        assert_eq!(c.api.request_timeout_seconds, 30);
        let chain: Vec<_> = c
            .chain("maven")
            .unwrap()
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(chain, ["base", "maven"]);
    }

    #[test]
    fn defaults_apply_to_an_empty_section() {
        let c = KubeConfig::from_yaml("").unwrap_or_default();
        assert_eq!(c, KubeConfig::default());
        assert_eq!(KubeConfig::from_yaml("{}").unwrap(), KubeConfig::default());
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_positioned() {
        let e = errors("namespace: a\nmax_concurent_pods: 3\n");
        assert!(e[0].0.contains("max_concurent_pods"), "{e:?}");
        assert_eq!(e[0].1, "max_concurent_pods");
        let e = errors("max_concurrent_pods: many\n");
        assert_eq!(e[0].1, "many", "{e:?}");
    }

    #[test]
    fn dockerfile_agents_name_a_repository_without_a_tag() {
        let c = KubeConfig::from_yaml(
            "dockerfile_agents: {repository: 'registry.example:5000/ci/agents', insecure: true}\n",
        )
        .unwrap();
        let agents = c.dockerfile_agents.unwrap();
        assert_eq!(agents.repository, "registry.example:5000/ci/agents");
        assert!(agents.insecure);
        let e = errors("dockerfile_agents: {repository: 'agents:1'}\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].0.contains("expected HOST[:PORT]/PATH without a tag"),
            "{e:?}"
        );
        assert_eq!(e[0].1, "'agents:1'", "{e:?}");
        let e = errors("dockerfile_agents: {repository: r.example/a, caches: true}\n");
        assert!(e[0].0.contains("caches"), "{e:?}");
    }

    #[test]
    fn api_limits_of_zero_are_refused_where_written() {
        let e = errors("api: {max_in_flight: 0}\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, "api.max_in_flight must be at least 1, not 0");
        assert_eq!(e[0].1, "0", "{e:?}");
        let json = serde_json::json!({"api": {"request_timeout_seconds": 0}});
        let d = KubeConfig::from_json(&json).unwrap_err();
        assert!(d[0].message.contains("request_timeout_seconds"), "{d:?}");
    }

    #[test]
    fn unknown_container_fields_are_reported() {
        let e = errors(
            "templates:\n- name: a\n  containers:\n  - name: c\n    image: x\n    imagePullPolice: Always\n",
        );
        assert_eq!(
            e,
            [(
                "unknown field `imagePullPolice` in `templates[0].containers[0]`".to_string(),
                "imagePullPolice".to_string()
            )]
        );
    }

    #[test]
    fn template_references_are_checked() {
        let e = errors("templates:\n- name: maven\n  inherit_from: bsae\n- name: base\n");
        assert_eq!(
            e[0].0,
            "pod template `maven` inherits from unknown template `bsae`"
        );
        assert_eq!(e[0].1, "maven");
        let e = errors("templates:\n- {name: a, inherit_from: b}\n- {name: b, inherit_from: a}\n");
        assert_eq!(e[0].0, "pod templates inherit in a cycle: a -> b -> a");
        let e = errors("templates:\n- {name: a, pool: {min: 3, max: 2}}\n- {name: a}\n");
        assert_eq!(e.len(), 2, "{e:?}");
    }

    #[test]
    fn agent_settings_are_checked_at_their_values() {
        let e = errors("controller_url: http://kiln.kiln.svc:7777\n");
        assert_eq!(
            e,
            [(
                "`controller_url` `http://kiln.kiln.svc:7777` is not an address agents can dial: expected tls://HOST:PORT, e.g. tls://kiln.kiln.svc:7777".to_string(),
                "http://kiln.kiln.svc:7777".to_string()
            )]
        );
        let e = errors("controller_url: tcp://kiln:7000\nagent_listen: everywhere:7000\n");
        assert_eq!(e[0].1, "everywhere:7000", "{e:?}");
        assert!(e[0].0.contains("expected IP:PORT"), "{e:?}");
        let e = errors("agent_listen: 0.0.0.0:7000\n");
        assert!(e[0].0.contains("needs `controller_url`"), "{e:?}");
        assert_eq!(e[0].1, "0.0.0.0:7000");
        let e = errors("max_concurrent_pods: 0\n");
        assert_eq!(e[0].1, "0", "{e:?}");
    }

    #[test]
    fn the_agent_listen_address_defaults_to_the_urls_port() {
        let c = KubeConfig::from_yaml("controller_url: tcp://kiln.kiln.svc:7000\n").unwrap();
        assert_eq!(c.agent_listen_address().as_deref(), Some("0.0.0.0:7000"));
        let c = KubeConfig::from_yaml(
            "controller_url: tcp://kiln.kiln.svc:7000\nagent_listen: 127.0.0.1:7001\n",
        )
        .unwrap();
        assert_eq!(c.agent_listen_address().as_deref(), Some("127.0.0.1:7001"));
        assert_eq!(KubeConfig::default().agent_listen_address(), None);
        let e =
            KubeConfig::from_json(&serde_json::json!({"controller_url": "kiln:x"})).unwrap_err();
        assert!(e[0].message.contains("`controller_url` `kiln:x`"), "{e:?}");
    }

    #[test]
    fn a_section_of_a_larger_file_is_checked_with_file_positions() {
        let text = "server: {}\nexecutors:\n  kubernetes:\n    controller_url: kiln:x\n";
        let tree = kiln_yaml::parse_tree(text).unwrap();
        let section = tree
            .get("executors")
            .and_then(|e| e.get("kubernetes"))
            .unwrap();
        let e = KubeConfig::from_node(section, text).unwrap_err();
        assert_eq!(&text[e[0].primary_span().range()], "kiln:x", "{e:?}");
        let ok = "executors:\n  kubernetes:\n    controller_url: tcp://kiln:7777\n";
        let tree = kiln_yaml::parse_tree(ok).unwrap();
        let section = tree
            .get("executors")
            .and_then(|e| e.get("kubernetes"))
            .unwrap();
        let c = KubeConfig::from_node(section, ok).unwrap();
        assert_eq!(c.controller_url.as_deref(), Some("tcp://kiln:7777"));
    }

    #[test]
    fn json_values_are_accepted() {
        let c = KubeConfig::from_json(
            &serde_json::json!({"namespace": "x", "templates": [{"name": "t"}]}),
        )
        .unwrap();
        assert_eq!(c.templates[0].name, "t");
        assert!(KubeConfig::from_json(&serde_json::json!({"nope": 1})).is_err());
    }
}
