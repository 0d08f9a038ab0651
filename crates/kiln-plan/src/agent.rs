//! The model's agent as plain values ([`AgentSpec`]): the one place a pipeline's `agent { }`
//! is read for an execution backend. Expressions become strings through the caller's `eval`
//! (`Expr::as_plain_str` before a build runs; the engine's evaluation in a stage's scope);
//! literal numbers and booleans are taken as written, `yamlMergeStrategy` as the name written.

use kiln_model::{Agent, AgentKind, DockerAgent, DockerfileAgent, KubernetesAgent};
use kiln_syntax::ast::{Expr, ExprKind, StrPart};
use kiln_types::{
    AgentSpec, AgentSpecKind, AgentValue, ContainerTemplate, DockerSpec, DockerfileSpec,
    KubernetesSpec,
};

/// Turns an expression of an agent into its string value, or `None` when it has none here.
pub type Eval<'a> = dyn FnMut(&Expr) -> Option<String> + 'a;

/// `agent` with every value evaluated by `eval`.
pub fn agent_spec(agent: &Agent, eval: &mut Eval<'_>) -> AgentSpec {
    let kind = match &agent.kind {
        AgentKind::Any => AgentSpecKind::Any,
        AgentKind::None => AgentSpecKind::None,
        AgentKind::Label(e) => AgentSpecKind::Label(value(e, eval)),
        AgentKind::Node {
            label,
            custom_workspace,
        } => AgentSpecKind::Node {
            label: optional(label, eval),
            custom_workspace: optional(custom_workspace, eval),
        },
        AgentKind::Docker(d) => AgentSpecKind::Docker(docker(d, eval)),
        AgentKind::Dockerfile(d) => AgentSpecKind::Dockerfile(dockerfile(d, eval)),
        AgentKind::Kubernetes(k) => AgentSpecKind::Kubernetes(Box::new(kubernetes(k, eval))),
    };
    AgentSpec {
        kind,
        span: agent.span,
    }
}

/// The value of one expression, with where it is written verbatim when it is.
pub fn value(e: &Expr, eval: &mut Eval<'_>) -> AgentValue {
    let text = match &e.kind {
        ExprKind::Int(n) => Some(n.to_string()),
        ExprKind::Bool(b) => Some(b.to_string()),
        _ => eval(e),
    };
    AgentValue {
        text,
        span: e.span,
        verbatim_at: verbatim_at(e),
    }
}

fn optional(e: &Option<Expr>, eval: &mut Eval<'_>) -> Option<AgentValue> {
    e.as_ref().map(|e| value(e, eval))
}

/// Where a string literal's text starts when the literal is one piece without escapes.
fn verbatim_at(e: &Expr) -> Option<u32> {
    let ExprKind::Str(lit) = &e.kind else {
        return None;
    };
    match lit.parts.as_slice() {
        [StrPart::Text { text, span }] if text.len() == span.len() as usize => Some(span.start),
        _ => None,
    }
}

fn docker(d: &DockerAgent, eval: &mut Eval<'_>) -> DockerSpec {
    DockerSpec {
        image: value(&d.image, eval),
        args: optional(&d.args, eval),
        label: optional(&d.label, eval),
        reuse_node: d.reuse_node,
        always_pull: d.always_pull,
        registry_url: optional(&d.registry_url, eval),
        registry_credentials_id: optional(&d.registry_credentials_id, eval),
        custom_workspace: optional(&d.custom_workspace, eval),
    }
}

fn dockerfile(d: &DockerfileAgent, eval: &mut Eval<'_>) -> DockerfileSpec {
    DockerfileSpec {
        filename: optional(&d.filename, eval),
        dir: optional(&d.dir, eval),
        additional_build_args: optional(&d.additional_build_args, eval),
        args: optional(&d.args, eval),
        label: optional(&d.label, eval),
        reuse_node: d.reuse_node,
    }
}

fn kubernetes(k: &KubernetesAgent, eval: &mut Eval<'_>) -> KubernetesSpec {
    let mut container_templates = Vec::new();
    for expr in &k.container_templates {
        match &expr.kind {
            ExprKind::List(items) => {
                container_templates.extend(items.iter().map(|c| container_template(c, eval)));
            }
            _ => container_templates.push(container_template(expr, eval)),
        }
    }
    KubernetesSpec {
        yaml: optional(&k.yaml, eval),
        yaml_file: optional(&k.yaml_file, eval),
        yaml_merge_strategy: k.yaml_merge_strategy.as_ref().map(merge_strategy),
        inherit_from: optional(&k.inherit_from, eval),
        default_container: optional(&k.default_container, eval),
        cloud: optional(&k.cloud, eval),
        namespace: optional(&k.namespace, eval),
        label: optional(&k.label, eval),
        service_account: optional(&k.service_account, eval),
        node_selector: optional(&k.node_selector, eval),
        active_deadline_seconds: optional(&k.active_deadline_seconds, eval),
        slave_connect_timeout: optional(&k.slave_connect_timeout, eval),
        supplemental_groups: optional(&k.supplemental_groups, eval),
        container_templates,
    }
}

/// `merge()`, `override()`, `override` or `'override'`: the name, without parentheses.
fn merge_strategy(e: &Expr) -> AgentValue {
    let name = match &e.kind {
        ExprKind::Call { callee, .. } => callee.dotted_name(),
        _ => e.dotted_name().or_else(|| e.as_plain_str()),
    };
    AgentValue {
        text: name.map(|n| n.trim_end_matches("()").to_owned()),
        span: e.span,
        verbatim_at: None,
    }
}

/// One `containerTemplate(name: ..., image: ..., envVars: [envVar(key:, value:)])` call
/// (anything else gives a template without arguments, which the backend refuses).
fn container_template(call: &Expr, eval: &mut Eval<'_>) -> ContainerTemplate {
    let mut template = ContainerTemplate {
        span: call.span,
        ..ContainerTemplate::default()
    };
    let ExprKind::Call { args, .. } = &call.kind else {
        return template;
    };
    for arg in args {
        let Some(name) = &arg.name else { continue };
        if name.name == "envVars" {
            template.env = env_vars(&arg.value, eval);
        } else if let Some(v) = value(&arg.value, eval).spanned() {
            template.args.insert(name.name.clone(), v);
        }
    }
    template
}

/// `[envVar(key: 'A', value: 'b'), ...]` (also `containerEnvVar`).
fn env_vars(list: &Expr, eval: &mut Eval<'_>) -> Vec<(String, String)> {
    let ExprKind::List(items) = &list.kind else {
        return Vec::new();
    };
    let mut pairs = Vec::new();
    for item in items {
        let ExprKind::Call { args, .. } = &item.kind else {
            continue;
        };
        let named = |key: &str| {
            args.iter()
                .find(|a| a.name.as_ref().is_some_and(|n| n.name == key))
        };
        if let (Some(k), Some(v)) = (named("key"), named("value"))
            && let (Some(k), Some(v)) = (value(&k.value, eval).text, value(&v.value, eval).text)
        {
            pairs.push((k, v));
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_of(agent: &str) -> (AgentSpec, String) {
        let text = format!(
            "pipeline {{\n  agent {{\n    {agent}\n  }}\n  stages {{ stage('s') {{ steps {{ sh 'true' }} }} }}\n}}\n"
        );
        let (doc, diags) = kiln_model::load(&text);
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
        let Some(kiln_model::Document::Declarative(p)) = doc else {
            panic!("not declarative: {text}")
        };
        (agent_spec(&p.agent, &mut |e| e.as_plain_str()), text)
    }

    #[test]
    fn kubernetes_values_keep_their_places_and_literals() {
        let (spec, text) = spec_of(
            "kubernetes {\n yaml 'spec: {}'\n yamlMergeStrategy override()\n namespace \"ns-${env.X}\"\n activeDeadlineSeconds 30\n containerTemplate(name: 'maven', image: 'maven:3', envVars: [envVar(key: 'A', value: 'b')])\n }",
        );
        let AgentSpecKind::Kubernetes(k) = spec.kind else {
            panic!("{spec:?}")
        };
        let yaml = k.yaml.unwrap();
        assert_eq!(yaml.text.as_deref(), Some("spec: {}"));
        let at = yaml.verbatim_at.unwrap() as usize;
        assert_eq!(&text[at..at + 8], "spec: {}");
        assert_eq!(
            k.yaml_merge_strategy.unwrap().text.as_deref(),
            Some("override")
        );
        let namespace = k.namespace.unwrap();
        assert_eq!(
            namespace.text, None,
            "interpolated: no value before the run"
        );
        assert_eq!(&text[namespace.span.range()], "\"ns-${env.X}\"");
        assert_eq!(
            k.active_deadline_seconds.unwrap().text.as_deref(),
            Some("30")
        );
        let template = &k.container_templates[0];
        assert_eq!(template.args["image"].value, "maven:3");
        assert_eq!(template.env, [("A".to_owned(), "b".to_owned())]);
    }

    #[test]
    fn docker_and_dockerfile_settings_are_carried() {
        let (spec, _) = spec_of("docker { image 'maven:3.9'; alwaysPull true; args '-v /x:/x' }");
        let AgentSpecKind::Docker(d) = spec.kind else {
            panic!("{spec:?}")
        };
        assert_eq!(d.image.text.as_deref(), Some("maven:3.9"));
        assert!(d.always_pull && d.args.is_some() && !d.reuse_node);
        let (spec, _) = spec_of("dockerfile { dir 'ci'; filename \"${env.F}\" }");
        let AgentSpecKind::Dockerfile(d) = spec.kind else {
            panic!("{spec:?}")
        };
        assert_eq!(d.dir.unwrap().text.as_deref(), Some("ci"));
        assert_eq!(d.filename.unwrap().text, None);
    }
}
