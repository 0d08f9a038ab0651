//! The scalar settings of `agent { kubernetes { } }` that change the pod, as the Jenkins
//! Kubernetes plugin reads them: `activeDeadlineSeconds` (the pod's own deadline),
//! `nodeSelector 'k=v,k2=v2'`, `supplementalGroups '1000,2000'`, `slaveConnectTimeout`
//! (seconds the pod's agents have to come up: kiln's start deadline for this pod, kept on the
//! pod as an annotation the executor reads), and `containerTemplate(name:, image:, ...)`
//! containers. Values arrive evaluated to strings; a value that does not fit is a diagnostic
//! at its place in the Jenkinsfile.

use crate::pod::build::spanned;
use k8s_openapi::api::core::v1::{
    Container, EnvVar, Pod, PodSecurityContext, PodSpec, ResourceRequirements, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kiln_diagnostics::{Diagnostic, Span, Spanned};
pub use kiln_types::ContainerTemplate;
use kiln_types::KubernetesSpec;
use std::collections::BTreeMap;
use std::time::Duration;

/// The annotation that carries `slaveConnectTimeout` from the pod's making to its start.
pub const ANNOTATION_START_DEADLINE: &str = "kiln.dev/start-deadline-seconds";

/// The options, evaluated, with where each was written.
#[derive(Clone, Debug, Default)]
pub struct PodOptions {
    pub active_deadline_seconds: Option<Spanned<String>>,
    pub node_selector: Option<Spanned<String>>,
    pub supplemental_groups: Option<Spanned<String>>,
    /// `slaveConnectTimeout`.
    pub connect_timeout: Option<Spanned<String>>,
    pub container_templates: Vec<ContainerTemplate>,
}

impl PodOptions {
    /// Whether any option changes the pod.
    pub fn is_empty(&self) -> bool {
        self.active_deadline_seconds.is_none()
            && self.node_selector.is_none()
            && self.supplemental_groups.is_none()
            && self.connect_timeout.is_none()
            && self.container_templates.is_empty()
    }

    /// The options of `agent`.
    pub fn from_spec(agent: &KubernetesSpec) -> PodOptions {
        PodOptions {
            active_deadline_seconds: spanned(&agent.active_deadline_seconds),
            node_selector: spanned(&agent.node_selector),
            supplemental_groups: spanned(&agent.supplemental_groups),
            connect_timeout: spanned(&agent.slave_connect_timeout),
            container_templates: agent.container_templates.clone(),
        }
    }
}

/// Applies the options to `pod`; problems go to `diags`.
pub(crate) fn apply_pod_options(pod: &mut Pod, options: &PodOptions, diags: &mut Vec<Diagnostic>) {
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    if let Some(value) = &options.active_deadline_seconds
        && let Some(seconds) = number(value, "activeDeadlineSeconds", diags)
    {
        spec.active_deadline_seconds = Some(seconds);
    }
    if let Some(value) = &options.node_selector {
        let selector = spec.node_selector.get_or_insert_with(BTreeMap::new);
        for pair in value
            .value
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            match pair.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => {
                    selector.insert(k.trim().to_owned(), v.trim().to_owned());
                }
                _ => diags.push(invalid(
                    value.span,
                    format!("`nodeSelector` entry `{pair}` is not `key=value`"),
                    "expected e.g. `nodeSelector 'disktype=ssd,zone=a'`",
                )),
            }
        }
    }
    if let Some(value) = &options.supplemental_groups {
        let groups: Option<Vec<i64>> = value
            .value
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(|g| g.parse().ok())
            .collect();
        match groups {
            Some(groups) => {
                spec.security_context
                    .get_or_insert_with(PodSecurityContext::default)
                    .supplemental_groups = Some(groups);
            }
            None => diags.push(invalid(
                value.span,
                format!(
                    "`supplementalGroups` `{}` is not a list of group ids",
                    value.value
                ),
                "expected e.g. `supplementalGroups '1000,2000'`",
            )),
        }
    }
    if let Some(value) = &options.connect_timeout
        && let Some(seconds) = number(value, "slaveConnectTimeout", diags)
    {
        pod.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(ANNOTATION_START_DEADLINE.to_owned(), seconds.to_string());
    }
    for template in &options.container_templates {
        if let Some(container) = container(template, diags) {
            let containers = &mut pod.spec.get_or_insert_with(PodSpec::default).containers;
            match containers.iter_mut().find(|c| c.name == container.name) {
                Some(existing) => *existing = container,
                None => containers.push(container),
            }
        }
    }
}

/// The start deadline a pod asks for (`slaveConnectTimeout`), if any.
pub fn start_deadline_of(pod: &Pod) -> Option<Duration> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(ANNOTATION_START_DEADLINE)?
        .parse()
        .ok()
        .map(Duration::from_secs)
}

fn number(value: &Spanned<String>, what: &str, diags: &mut Vec<Diagnostic>) -> Option<i64> {
    match value.value.trim().parse::<i64>() {
        Ok(n) if n > 0 => Some(n),
        _ => {
            diags.push(invalid(
                value.span,
                format!(
                    "`{what}` must be a positive number of seconds, not `{}`",
                    value.value
                ),
                "expected e.g. `600`",
            ));
            None
        }
    }
}

fn invalid(span: Span, message: String, label: &str) -> Diagnostic {
    Diagnostic::error("kube-agent-option", message).with_primary(span, label)
}

fn container(template: &ContainerTemplate, diags: &mut Vec<Diagnostic>) -> Option<Container> {
    let arg = |name: &str| template.args.get(name).map(|v| v.value.clone());
    let (Some(name), Some(image)) = (arg("name"), arg("image")) else {
        diags.push(invalid(
            template.span,
            "`containerTemplate` needs `name` and `image`".to_owned(),
            "e.g. `containerTemplate(name: 'maven', image: 'maven:3.9')`",
        ));
        return None;
    };
    let mut resources = ResourceRequirements::default();
    for (key, requests, resource) in [
        ("resourceRequestCpu", true, "cpu"),
        ("resourceRequestMemory", true, "memory"),
        ("resourceRequestEphemeralStorage", true, "ephemeral-storage"),
        ("resourceLimitCpu", false, "cpu"),
        ("resourceLimitMemory", false, "memory"),
        ("resourceLimitEphemeralStorage", false, "ephemeral-storage"),
    ] {
        let Some(value) = arg(key).filter(|v| !v.is_empty()) else {
            continue;
        };
        let list = if requests {
            &mut resources.requests
        } else {
            &mut resources.limits
        };
        list.get_or_insert_with(BTreeMap::new)
            .insert(resource.to_owned(), Quantity(value));
    }
    let flag = |name: &str| arg(name).is_some_and(|v| v == "true");
    let id = |name: &str| arg(name).and_then(|v| v.parse::<i64>().ok());
    let security = SecurityContext {
        privileged: flag("privileged").then_some(true),
        run_as_user: id("runAsUser"),
        run_as_group: id("runAsGroup"),
        ..SecurityContext::default()
    };
    let env: Vec<EnvVar> = template
        .env
        .iter()
        .map(|(name, value)| EnvVar {
            name: name.clone(),
            value: Some(value.clone()),
            ..EnvVar::default()
        })
        .collect();
    Some(Container {
        name,
        image: Some(image),
        working_dir: arg("workingDir").filter(|w| !w.is_empty()),
        image_pull_policy: flag("alwaysPullImage").then(|| "Always".to_owned()),
        resources: (resources != ResourceRequirements::default()).then_some(resources),
        security_context: (security != SecurityContext::default()).then_some(security),
        env: (!env.is_empty()).then_some(env),
        ..Container::default()
    })
}
