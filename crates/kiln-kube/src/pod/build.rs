//! `build_pod`: a build's pod from the configured templates and the pipeline's
//! `agent { kubernetes { ... } }`, checked with k8s-openapi types, with every problem reported
//! as a diagnostic positioned in the Jenkinsfile.

use crate::config::KubeConfig;
use crate::config::template::{PodTemplate, PoolSettings, RequestsPolicy};
use crate::pod::cache::apply_caches;
use crate::pod::merge::{merge_pods, override_pod};
use crate::pod::options::{PodOptions, apply_pod_options};
use crate::pod::requests::apply_requests_policy;
use crate::pod::template::own_pod;
use crate::pod::text::{PodText, check_names, parse_pod};
use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, Pod, PodSpec, Volume, VolumeMount};
use kiln_diagnostics::{Diagnostic, Span, Spanned, did_you_mean};
use kiln_types::KubernetesSpec;
use std::collections::BTreeMap;

/// Name of the shared workspace volume, mounted at the configured workspace path.
pub const WORKSPACE_VOLUME: &str = "kiln-workspace";
/// Name of the volume holding the kiln agent, mounted at [`AGENT_DIR`].
pub const AGENT_VOLUME: &str = "kiln-agent";
/// Where the agent volume is mounted in every container.
pub const AGENT_DIR: &str = "/kiln";
/// Pod labels kiln sets.
pub const LABEL_JOB: &str = "kiln.dev/job";
pub const LABEL_BUILD: &str = "kiln.dev/build";
pub const LABEL_TEMPLATE: &str = "kiln.dev/template";
/// The job name unabridged (label values are limited to 63 characters).
pub const ANNOTATION_JOB: &str = "kiln.dev/job-name";

/// How the pipeline's pod YAML combines with the template's (`yamlMergeStrategy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MergeStrategy {
    /// Containers merged by name, lists appended, scalars overridden.
    #[default]
    Merge,
    /// The pipeline's pod spec replaces the template's whole (labels and annotations merge).
    Override,
}

/// A pipeline's `agent { kubernetes { } }` with its expressions evaluated to strings.
#[derive(Clone, Debug, Default)]
pub struct AgentRequest {
    pub yaml: Option<PodText>,
    /// The contents of `yamlFile`, read by the caller from the workspace.
    pub yaml_file: Option<PodText>,
    pub merge_strategy: MergeStrategy,
    /// Space-separated template names.
    pub inherit_from: Option<Spanned<String>>,
    pub default_container: Option<Spanned<String>>,
    pub namespace: Option<Spanned<String>>,
    pub service_account: Option<Spanned<String>>,
    /// A template label, as in `agent { label 'maven' }`.
    pub label: Option<Spanned<String>>,
    /// `activeDeadlineSeconds`, `nodeSelector`, `supplementalGroups`, `slaveConnectTimeout`,
    /// `containerTemplate`s.
    pub options: PodOptions,
    /// Where the agent is written, for problems that have no better place.
    pub span: Span,
}

impl AgentRequest {
    /// The request of a `kubernetes` agent written at `span`. `yamlFile` is left for the
    /// caller, who reads the file from the workspace ([`crate::read_yaml_file`]).
    pub fn from_spec(agent: &KubernetesSpec, span: Span) -> AgentRequest {
        let strategy = agent.yaml_merge_strategy.as_ref();
        AgentRequest {
            yaml: agent.yaml.as_ref().and_then(PodText::from_value),
            yaml_file: None,
            merge_strategy: match strategy.and_then(|s| s.text.as_deref()) {
                Some("override") => MergeStrategy::Override,
                _ => MergeStrategy::Merge,
            },
            inherit_from: spanned(&agent.inherit_from),
            default_container: spanned(&agent.default_container),
            namespace: spanned(&agent.namespace),
            service_account: spanned(&agent.service_account),
            label: spanned(&agent.label),
            options: PodOptions::from_spec(agent),
            span,
        }
    }
}

/// A setting's value with its place, when it has one.
pub(crate) fn spanned(value: &Option<kiln_types::AgentValue>) -> Option<Spanned<String>> {
    value.as_ref().and_then(kiln_types::AgentValue::spanned)
}

/// Who the pod is for: its name, and the job and build it carries as labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodIdentity {
    pub name: String,
    pub job: String,
    pub build: u64,
}

impl PodIdentity {
    /// A new pod of build `build` of `job`, named `kiln-JOB-BUILD-SUFFIX` (see
    /// [`pod_name`]).
    pub fn new_pod(job: &str, build: u64) -> PodIdentity {
        PodIdentity {
            name: pod_name(job, build),
            job: job.to_owned(),
            build,
        }
    }
}

/// `kiln-JOB-BUILD-SUFFIX`: DNS-1123, with a random suffix, unique across controller
/// restarts. The one place build pods (and stage pods) are named.
pub fn pod_name(job: &str, build: u64) -> String {
    let suffix = crate::token::short_id().unwrap_or_else(|_| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32));
        format!("{nanos:08x}")
    });
    format!("kiln-{}-{build}-{suffix}", pod_name_part(job))
}

/// A DNS-1123 piece of a pod name from a job name (at most 30 characters).
pub(crate) fn pod_name_part(job: &str) -> String {
    let part: String = label_value(job)
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(30)
        .collect();
    let part = part.trim_matches('-').to_owned();
    if part.is_empty() {
        "build".to_owned()
    } else {
        part
    }
}

/// A build's pod, ready to create (the kiln agent's init container, command and secret are
/// added by the executor).
#[derive(Clone, Debug)]
pub struct BuiltPod {
    pub pod: Pod,
    pub namespace: String,
    /// The container steps run in unless `container('x')` names another.
    pub default_container: String,
    /// Every container steps may run in (the pod's containers, init containers excluded).
    pub step_containers: Vec<String>,
    /// The templates the pod was made from, parents first.
    pub templates: Vec<String>,
    /// The warm pool of the template the pod came from, when it has one and the pipeline
    /// did not change the pod (a pooled pod can serve it).
    pub pool: Option<(String, PoolSettings)>,
    /// Problems that do not stop the build.
    pub warnings: Vec<Diagnostic>,
    /// Where the pod's start is said (its Events, the wait for it): the build's log, as the
    /// caller sets it; none by default.
    pub start_log: crate::start_log::StartLog,
}

/// Builds the pod for a `kubernetes` agent: the templates it names (`inheritFrom`, else the
/// one serving its `label`, else the template called `default`), merged with each one's
/// `inheritFrom` chain, then the pipeline's `yamlFile` and `yaml`, then its scalars; plus the
/// shared workspace and agent volumes in every container, kiln's labels and cache volumes.
pub fn build_pod(
    config: &KubeConfig,
    agent: &AgentRequest,
    id: &PodIdentity,
) -> Result<BuiltPod, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let chain = select_templates(config, agent, &mut diags);
    let mut pod = Pod::default();
    for t in &chain {
        match crate::pod::text::template_yaml(t) {
            Ok(yaml_pod) => merge_pods(&mut pod, own_pod(t, yaml_pod)),
            Err(message) => diags.push(
                Diagnostic::error(
                    "kube-template",
                    format!("pod template `{}`: {message}", t.name),
                )
                .with_primary(agent.span, "this agent uses it"),
            ),
        }
    }
    let changed_by_pipeline =
        agent.yaml.is_some() || agent.yaml_file.is_some() || !agent.options.is_empty();
    for text in [&agent.yaml_file, &agent.yaml].into_iter().flatten() {
        match parse_pod(text) {
            Ok(overlay) => match agent.merge_strategy {
                MergeStrategy::Merge => merge_pods(&mut pod, overlay),
                MergeStrategy::Override => override_pod(&mut pod, overlay),
            },
            Err(mut d) => diags.append(&mut d),
        }
    }
    apply_pod_options(&mut pod, &agent.options, &mut diags);
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    if let Some(sa) = &agent.service_account {
        spec.service_account_name = Some(sa.value.clone());
    }
    if spec.service_account_name.is_none() {
        spec.service_account_name
            .clone_from(&config.service_account);
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    check_names(&pod, agent, &mut diags);
    let default_container = pick_default_container(&pod, &chain, agent, &mut diags);
    if !diags.is_empty() {
        return Err(diags);
    }
    let namespace = agent
        .namespace
        .as_ref()
        .map(|n| n.value.clone())
        .or_else(|| pod.metadata.namespace.clone())
        .unwrap_or_else(|| config.namespace.clone());
    let services = crate::pod::services::services(&pod, Some(&default_container));
    let step_containers = container_names(&pod)
        .into_iter()
        .filter(|c| !services.contains(c))
        .collect();
    let policy = chain
        .iter()
        .rev()
        .find_map(|t| t.requests)
        .unwrap_or_default();
    finish(
        &mut pod,
        config,
        &chain,
        id,
        &namespace,
        &default_container,
        policy,
    );
    let pool = chain.last().and_then(|t| {
        let settings = t.pool?;
        (!changed_by_pipeline && agent.namespace.is_none() && agent.service_account.is_none())
            .then(|| (t.name.clone(), settings))
    });
    Ok(BuiltPod {
        pod,
        namespace,
        default_container,
        step_containers,
        templates: chain.iter().map(|t| t.name.clone()).collect(),
        pool,
        warnings: Vec::new(),
        start_log: crate::start_log::StartLog::none(),
    })
}

/// The templates the agent asks for, each with its `inheritFrom` chain, parents first.
fn select_templates<'c>(
    config: &'c KubeConfig,
    agent: &AgentRequest,
    diags: &mut Vec<Diagnostic>,
) -> Vec<&'c PodTemplate> {
    let names: Vec<String> = match (&agent.inherit_from, &agent.label) {
        (Some(inherit), _) => inherit
            .value
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        (None, Some(label)) => match config
            .templates
            .iter()
            .find(|t| t.labels.contains(&label.value))
        {
            Some(t) => vec![t.name.clone()],
            None if agent.yaml.is_some() || agent.yaml_file.is_some() => Vec::new(),
            None => {
                diags.push(
                    Diagnostic::error(
                        "kube-template",
                        format!("no pod template serves the label `{}`", label.value),
                    )
                    .with_primary(label.span, "no template has this label")
                    .with_note(format!(
                        "help: the configured templates are: {}",
                        template_list(config)
                    )),
                );
                Vec::new()
            }
        },
        (None, None) => config
            .template("default")
            .map(|t| vec![t.name.clone()])
            .unwrap_or_default(),
    };
    let mut chain: Vec<&PodTemplate> = Vec::new();
    for name in &names {
        match config.chain(name) {
            Ok(c) if !c.is_empty() => {
                for t in c {
                    if !chain.iter().any(|x| x.name == t.name) {
                        chain.push(t);
                    }
                }
            }
            _ => {
                let span = agent.inherit_from.as_ref().map_or(agent.span, |s| s.span);
                let mut d =
                    Diagnostic::error("kube-template", format!("unknown pod template `{name}`"))
                        .with_primary(span, "not a configured pod template")
                        .with_note(format!(
                            "help: the configured templates are: {}",
                            template_list(config)
                        ));
                if let Some(s) =
                    did_you_mean(name, config.templates.iter().map(|t| t.name.as_str()))
                {
                    d = d.with_note(format!("help: did you mean `{s}`?"));
                }
                diags.push(d);
            }
        }
    }
    chain
}

fn template_list(config: &KubeConfig) -> String {
    if config.templates.is_empty() {
        return "(none)".to_string();
    }
    config
        .templates
        .iter()
        .map(|t| format!("`{}`", t.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn container_names(pod: &Pod) -> Vec<String> {
    pod.spec
        .as_ref()
        .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default()
}

fn pick_default_container(
    pod: &Pod,
    chain: &[&PodTemplate],
    agent: &AgentRequest,
    diags: &mut Vec<Diagnostic>,
) -> String {
    let names = container_names(pod);
    if let Some(wanted) = &agent.default_container {
        if !names.contains(&wanted.value) {
            let mut d = Diagnostic::error(
                "kube-template",
                format!("the pod has no container `{}`", wanted.value),
            )
            .with_primary(wanted.span, "not one of the pod's containers")
            .with_note(format!(
                "help: the pod's containers are: {}",
                names.join(", ")
            ));
            if let Some(s) = did_you_mean(&wanted.value, names.iter().map(String::as_str)) {
                d = d.with_note(format!("help: did you mean `{s}`?"));
            }
            diags.push(d);
        }
        return wanted.value.clone();
    }
    chain
        .iter()
        .rev()
        .find_map(|t| t.default_container.clone())
        .filter(|c| names.contains(c))
        .or_else(|| names.first().cloned())
        .unwrap_or_default()
}

/// kiln's part of every pod: name, namespace, labels, the workspace and agent volumes in every
/// container, working directories, caches, the requests policy, `restartPolicy: Never`.
fn finish(
    pod: &mut Pod,
    config: &KubeConfig,
    chain: &[&PodTemplate],
    id: &PodIdentity,
    namespace: &str,
    default: &str,
    policy: RequestsPolicy,
) {
    let meta = &mut pod.metadata;
    meta.name = Some(id.name.clone());
    meta.namespace = Some(namespace.to_string());
    let labels = meta.labels.get_or_insert_with(BTreeMap::new);
    labels.insert(LABEL_JOB.to_string(), label_value(&id.job));
    labels.insert(LABEL_BUILD.to_string(), id.build.to_string());
    if let Some(t) = chain.last() {
        labels.insert(LABEL_TEMPLATE.to_string(), label_value(&t.name));
    }
    meta.annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(ANNOTATION_JOB.to_string(), id.job.clone());
    let steps = container_names(pod);
    let services = crate::pod::services::services(pod, Some(default));
    let Some(spec) = pod.spec.as_mut() else {
        return;
    };
    spec.restart_policy = Some("Never".to_string());
    let volumes = spec.volumes.get_or_insert_with(Vec::new);
    for name in [WORKSPACE_VOLUME, AGENT_VOLUME] {
        if !volumes.iter().any(|v| v.name == name) {
            volumes.push(Volume {
                name: name.to_string(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Volume::default()
            });
        }
    }
    let all = spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten());
    for c in all {
        let mounts = c.volume_mounts.get_or_insert_with(Vec::new);
        for (name, path) in [
            (WORKSPACE_VOLUME, config.workspace_path.as_str()),
            (AGENT_VOLUME, AGENT_DIR),
        ] {
            if !mounts.iter().any(|m| m.mount_path == path) {
                mounts.push(VolumeMount {
                    name: name.to_string(),
                    mount_path: path.to_string(),
                    ..VolumeMount::default()
                });
            }
        }
    }
    // A service keeps its image's working directory.
    for c in spec
        .containers
        .iter_mut()
        .filter(|c| !services.contains(&c.name))
    {
        if c.working_dir.is_none() {
            c.working_dir = Some(config.workspace_path.clone());
        }
    }
    let mut caches: Vec<crate::config::cache::CacheSpec> = Vec::new();
    for t in chain {
        for c in &t.caches {
            caches.retain(|x| x.name != c.name);
            caches.push(c.clone());
        }
    }
    apply_caches(spec, &caches, &steps, &id.job);
    if policy == RequestsPolicy::Max {
        apply_requests_policy(spec, default, &services);
    }
    crate::pod::hardening::harden(pod);
}

/// A Kubernetes label value made from any text: at most 63 characters of `[A-Za-z0-9._-]`,
/// starting and ending alphanumeric.
pub fn label_value(text: &str) -> String {
    let s: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    s.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}
