//! `agent any | none | { label ... } | { node { } } | { docker { } } | { dockerfile { } } | { kubernetes { } }`.

use super::cx::{CallView, Cx};
use crate::{Agent, AgentKind, DockerAgent, DockerfileAgent, KubernetesAgent};
use kiln_diagnostics::Diagnostic;
use kiln_syntax::ast::{Expr, ExprKind};

const AGENT_KINDS: &[&str] = &[
    "any",
    "none",
    "label",
    "node",
    "docker",
    "dockerfile",
    "kubernetes",
];

const KUBERNETES_KEYS: &[&str] = &[
    "yaml",
    "yamlFile",
    "yamlMergeStrategy",
    "inheritFrom",
    "defaultContainer",
    "cloud",
    "namespace",
    "label",
    "serviceAccount",
    "nodeSelector",
    "workingDir",
    "activeDeadlineSeconds",
    "slaveConnectTimeout",
    "podRetention",
    "idleMinutes",
    "instanceCap",
    "showRawYaml",
    "retries",
    "supplementalGroups",
    "customWorkspace",
    "containerTemplate",
    "containerTemplates",
];

/// Settings of the Jenkins Kubernetes plugin kiln accepts but does not act on, and why.
pub(crate) const IGNORED_KUBERNETES_KEYS: &[(&str, &str)] = &[
    (
        "cloud",
        "kiln runs pods in the one cluster of its configuration (`executors.kubernetes`)",
    ),
    (
        "workingDir",
        "steps run in the shared workspace at `executors.kubernetes.workspace_path`",
    ),
    (
        "customWorkspace",
        "steps run in the shared workspace at `executors.kubernetes.workspace_path`",
    ),
    (
        "podRetention",
        "kiln deletes a build's pod when the build ends (or returns it to a warm pool)",
    ),
    (
        "idleMinutes",
        "kiln keeps pods ready with a pod template's `pool` settings",
    ),
    (
        "instanceCap",
        "kiln bounds pods with `executors.kubernetes.max_concurrent_pods`",
    ),
    (
        "showRawYaml",
        "kiln does not print the pod's YAML in the build log",
    ),
    (
        "retries",
        "kiln does not start a failed agent pod again; a stage's `retry` option runs it again in a new pod",
    ),
];

pub(super) fn agent(cx: &mut Cx, call: &CallView<'_>) -> Option<Agent> {
    let span = call.span;
    // `agent any`, `agent none`, `agent label: 'x'`
    if call.closure.is_none() {
        if let Some(word) = call.single() {
            return match word.as_ident() {
                Some("any") => Some(Agent {
                    kind: AgentKind::Any,
                    span,
                }),
                Some("none") => Some(Agent {
                    kind: AgentKind::None,
                    span,
                }),
                _ => {
                    cx.error(
                        "invalid-agent",
                        word.span,
                        "invalid agent",
                        "expected `any`, `none` or a block such as `{ label 'linux' }`",
                    );
                    None
                }
            };
        }
        if let Some(label) = call.named("label") {
            return Some(Agent {
                kind: AgentKind::Label(label.clone()),
                span,
            });
        }
        cx.error(
            "invalid-agent",
            span,
            "`agent` needs a value",
            "expected `agent any`, `agent none` or `agent { ... }`",
        );
        return None;
    }
    let body = call.body();
    let mut kinds = body
        .iter()
        .filter_map(|s| CallView::of_stmt(s).map(|c| (s, c)));
    let Some((_, inner)) = kinds.next() else {
        cx.error(
            "invalid-agent",
            span,
            "`agent { }` is empty",
            "expected e.g. `agent { label 'linux' }`",
        );
        return None;
    };
    if let Some((extra, _)) = kinds.next() {
        // At the `agent` block, as Jenkins reports it, pointing at the extra type.
        cx.push(
            Diagnostic::error(
                "invalid-agent",
                "an `agent` block holds exactly one agent type",
            )
            .with_primary(call.name.span, "more than one agent type")
            .with_secondary(extra.span, "remove this"),
        );
    }
    let kind = match inner.name.value {
        "any" => AgentKind::Any,
        "none" => AgentKind::None,
        // `label { label 'x'; customWorkspace 'y' }` is Jenkins' old spelling of `node`.
        "label" if inner.closure.is_none() => AgentKind::Label(value_arg(cx, &inner, "label")?),
        "label" | "node" => {
            let fields = fields(cx, &inner, &["label", "customWorkspace"]);
            AgentKind::Node {
                label: get(&fields, "label"),
                custom_workspace: get(&fields, "customWorkspace"),
            }
        }
        "docker" => AgentKind::Docker(docker(cx, &inner)?),
        "dockerfile" => AgentKind::Dockerfile(dockerfile(cx, &inner)),
        "kubernetes" => AgentKind::Kubernetes(Box::new(kubernetes(cx, &inner))),
        _ => {
            cx.unknown("unknown-agent", "agent type", inner.name, AGENT_KINDS);
            return None;
        }
    };
    Some(Agent { kind, span })
}

/// The one value of `label 'x'`.
fn value_arg(cx: &mut Cx, call: &CallView<'_>, what: &str) -> Option<Expr> {
    match call.single() {
        Some(v) => Some(v.clone()),
        None => {
            cx.error(
                "wrong-arguments",
                call.span,
                format!("`{what}` takes one value"),
                format!("expected `{what} 'value'`"),
            );
            None
        }
    }
}

/// The `key value` lines of an agent block, or its named arguments (`docker(image: 'x')`).
fn fields(cx: &mut Cx, call: &CallView<'_>, known: &[&str]) -> Vec<(String, Expr)> {
    let mut out = Vec::new();
    cx.check_named(call, &format!("`{}`", call.name.value), known);
    for arg in call.args {
        if let Some(n) = &arg.name {
            out.push((n.name.clone(), arg.value.clone()));
        }
    }
    for stmt in call.body() {
        let Some(f) = CallView::of_stmt(stmt) else {
            cx.error(
                "expected-directive",
                stmt.span,
                format!("expected a setting in `{}`", call.name.value),
                format!(
                    "expected e.g. `{} 'value'`",
                    known.first().copied().unwrap_or("label")
                ),
            );
            continue;
        };
        if !known.contains(&f.name.value) {
            cx.unknown(
                "unknown-agent-option",
                &format!("`{}` setting", call.name.value),
                f.name,
                known,
            );
            continue;
        }
        // containerTemplate(...) keeps the whole call.
        if f.name.value == "containerTemplate" {
            if let kiln_syntax::ast::StmtKind::Expr(e) = &stmt.kind {
                out.push((f.name.value.to_string(), e.clone()));
            }
            continue;
        }
        if let Some(v) = value_arg(cx, &f, f.name.value) {
            out.push((f.name.value.to_string(), v));
        }
    }
    out
}

fn get(fields: &[(String, Expr)], key: &str) -> Option<Expr> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

fn flag(cx: &mut Cx, fields: &[(String, Expr)], key: &str) -> bool {
    get(fields, key)
        .and_then(|e| cx.literal_bool(&e, &format!("`{key}`")))
        .unwrap_or(false)
}

const DOCKER_KEYS: &[&str] = &[
    "image",
    "args",
    "label",
    "reuseNode",
    "alwaysPull",
    "registryUrl",
    "registryCredentialsId",
    "customWorkspace",
];

fn docker(cx: &mut Cx, call: &CallView<'_>) -> Option<DockerAgent> {
    let mut fields = fields(cx, call, DOCKER_KEYS);
    if let Some(image) = call.single() {
        fields.push(("image".into(), image.clone()));
    }
    let Some(image) = get(&fields, "image") else {
        cx.error(
            "missing-image",
            call.span,
            "`docker` agent needs an `image`",
            "expected `docker { image 'maven:3.9' }`",
        );
        return None;
    };
    Some(DockerAgent {
        image,
        args: get(&fields, "args"),
        label: get(&fields, "label"),
        reuse_node: flag(cx, &fields, "reuseNode"),
        always_pull: flag(cx, &fields, "alwaysPull"),
        registry_url: get(&fields, "registryUrl"),
        registry_credentials_id: get(&fields, "registryCredentialsId"),
        custom_workspace: get(&fields, "customWorkspace"),
    })
}

const DOCKERFILE_KEYS: &[&str] = &[
    "filename",
    "dir",
    "additionalBuildArgs",
    "args",
    "label",
    "reuseNode",
    "customWorkspace",
];

fn dockerfile(cx: &mut Cx, call: &CallView<'_>) -> DockerfileAgent {
    // `dockerfile true` is the short form for the defaults.
    if let Some(v) = call.single() {
        if !matches!(v.kind, ExprKind::Bool(true)) {
            cx.error(
                "invalid-agent",
                v.span,
                "`dockerfile` takes `true` or a block",
                "expected `dockerfile true` or `dockerfile { filename 'Dockerfile.ci' }`",
            );
        }
    }
    let fields = fields(cx, call, DOCKERFILE_KEYS);
    DockerfileAgent {
        filename: get(&fields, "filename"),
        dir: get(&fields, "dir"),
        additional_build_args: get(&fields, "additionalBuildArgs"),
        args: get(&fields, "args"),
        label: get(&fields, "label"),
        reuse_node: flag(cx, &fields, "reuseNode"),
    }
}

fn kubernetes(cx: &mut Cx, call: &CallView<'_>) -> KubernetesAgent {
    let fields = fields(cx, call, KUBERNETES_KEYS);
    let mut k = KubernetesAgent {
        yaml: get(&fields, "yaml"),
        yaml_file: get(&fields, "yamlFile"),
        yaml_merge_strategy: get(&fields, "yamlMergeStrategy"),
        inherit_from: get(&fields, "inheritFrom"),
        default_container: get(&fields, "defaultContainer"),
        cloud: get(&fields, "cloud"),
        namespace: get(&fields, "namespace"),
        label: get(&fields, "label"),
        service_account: get(&fields, "serviceAccount"),
        node_selector: get(&fields, "nodeSelector"),
        working_dir: get(&fields, "workingDir"),
        active_deadline_seconds: get(&fields, "activeDeadlineSeconds"),
        slave_connect_timeout: get(&fields, "slaveConnectTimeout"),
        pod_retention: get(&fields, "podRetention"),
        idle_minutes: get(&fields, "idleMinutes"),
        instance_cap: get(&fields, "instanceCap"),
        show_raw_yaml: get(&fields, "showRawYaml"),
        supplemental_groups: get(&fields, "supplementalGroups"),
        custom_workspace: get(&fields, "customWorkspace"),
        retries: get(&fields, "retries"),
        container_templates: Vec::new(),
    };
    for (key, value) in &fields {
        if key == "containerTemplate" || key == "containerTemplates" {
            k.container_templates.push(value.clone());
        }
    }
    for (key, e) in &fields {
        if let Some((_, why)) = IGNORED_KUBERNETES_KEYS.iter().find(|(k, _)| k == key) {
            cx.warn(
                "ignored-agent-option",
                e.span,
                format!("`{key}` has no effect in kiln"),
                *why,
            );
        }
    }
    if k.yaml.is_some() && k.yaml_file.is_some() {
        cx.error(
            "conflicting-agent-options",
            call.span,
            "`kubernetes` has both `yaml` and `yamlFile`",
            "give the pod either inline or from a file",
        );
    }
    k
}
