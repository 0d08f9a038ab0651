//! The pod policy (`executors.kubernetes.pod_policy`, see [`PodPolicy`]) checked on a build's
//! final pod, after templates, the pipeline's YAML and options are merged and before kiln
//! adds its agent or sends any request. Every refused field is named with its path in the pod
//! (`spec.containers[1].securityContext.privileged`) for the build log.

use crate::config::KubeConfig;
use crate::config::cache::CacheSource;
use crate::config::pod_policy::PodPolicy;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, Volume};
use std::collections::BTreeSet;
use std::fmt;

/// One refused field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Where in the pod, as `kubectl explain` spells it.
    pub path: String,
    /// What is refused, and which setting would allow it.
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// The pod asked for what the policy does not allow; no request was made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the pod is refused by executors.kubernetes.pod_policy: {}", list(.refusals))]
pub struct PolicyRefusal {
    pub refusals: Vec<Refusal>,
}

fn list(refusals: &[Refusal]) -> String {
    refusals
        .iter()
        .map(Refusal::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The policy with what the server's own configuration puts in pods (always allowed).
#[derive(Clone, Debug, Default)]
pub struct PolicyCheck {
    policy: PodPolicy,
    namespaces: BTreeSet<String>,
    service_accounts: BTreeSet<String>,
    images: BTreeSet<String>,
    host_paths: BTreeSet<String>,
    secrets: BTreeSet<String>,
}

impl PolicyCheck {
    /// The check of `config.pod_policy`, trusting what `config` itself uses.
    pub fn new(config: &KubeConfig) -> PolicyCheck {
        let policy = config.pod_policy.clone();
        let mut check = PolicyCheck {
            namespaces: policy.namespaces.iter().cloned().collect(),
            service_accounts: policy.service_accounts.iter().cloned().collect(),
            policy,
            ..PolicyCheck::default()
        };
        check.namespaces.insert(config.namespace.clone());
        check.service_accounts.insert("default".to_owned());
        check
            .service_accounts
            .extend(config.service_account.clone());
        check.images.insert(normalize_image(&config.agent_image));
        check.images.insert(normalize_image(&config.kaniko.image));
        check
            .secrets
            .extend(config.kaniko.docker_config_secret.clone());
        for template in &config.templates {
            check.namespaces.extend(template.namespace.clone());
            check
                .service_accounts
                .extend(template.service_account.clone());
            check.trust_containers(&template.containers);
            check.trust_volumes(&template.volumes);
            for cache in &template.caches {
                if let CacheSource::HostPath { path } = &cache.source {
                    check.host_paths.insert(path.clone());
                }
            }
            let raw = template.yaml.as_deref();
            if let Some(pod) = raw.and_then(|text| kiln_yaml::parse_typed::<Pod>(text).ok()) {
                check.trust_pod(&pod);
            }
        }
        check
    }

    fn trust_containers(&mut self, containers: &[Container]) {
        let images = containers.iter().filter_map(|c| c.image.as_deref());
        self.images.extend(images.map(normalize_image));
    }

    fn trust_volumes(&mut self, volumes: &[Volume]) {
        for volume in volumes {
            if let Some(host) = &volume.host_path {
                self.host_paths.insert(host.path.clone());
            }
            if let Some(name) = volume.secret.as_ref().and_then(|s| s.secret_name.clone()) {
                self.secrets.insert(name);
            }
        }
    }

    fn trust_pod(&mut self, pod: &Pod) {
        self.namespaces.extend(pod.metadata.namespace.clone());
        if let Some(spec) = &pod.spec {
            self.service_accounts
                .extend(spec.service_account_name.clone());
            self.trust_containers(&spec.containers);
            self.trust_volumes(spec.volumes.as_deref().unwrap_or_default());
        }
    }

    /// Every field of `pod` (to be made in `namespace`) the policy refuses.
    pub fn check(&self, namespace: &str, pod: &Pod) -> Result<(), PolicyRefusal> {
        let mut refusals = Vec::new();
        let mut refuse = |path: String, reason: String| refusals.push(Refusal { path, reason });
        if !self.namespaces.contains(namespace) {
            refuse(
                "metadata.namespace".to_owned(),
                format!("namespace `{namespace}` is not allowed (pod_policy.namespaces)"),
            );
        }
        if let Some(spec) = &pod.spec {
            self.check_spec(spec, &mut refuse);
        }
        if refusals.is_empty() {
            Ok(())
        } else {
            Err(PolicyRefusal { refusals })
        }
    }

    fn check_spec(&self, spec: &PodSpec, refuse: &mut impl FnMut(String, String)) {
        for (field, account) in [
            ("serviceAccountName", &spec.service_account_name),
            ("serviceAccount", &spec.service_account),
        ] {
            if let Some(account) = account
                && !self.service_accounts.contains(account)
            {
                refuse(
                    format!("spec.{field}"),
                    format!(
                        "service account `{account}` is not allowed (pod_policy.service_accounts)"
                    ),
                );
            }
        }
        let p = &self.policy;
        for (field, set, allowed, key) in [
            (
                "hostNetwork",
                spec.host_network,
                p.allow_host_network,
                "allow_host_network",
            ),
            ("hostPID", spec.host_pid, p.allow_host_pid, "allow_host_pid"),
            ("hostIPC", spec.host_ipc, p.allow_host_ipc, "allow_host_ipc"),
        ] {
            if set == Some(true) && !allowed {
                refuse(
                    format!("spec.{field}"),
                    format!("the node's namespaces are not allowed (pod_policy.{key})"),
                );
            }
        }
        for (i, volume) in spec.volumes.iter().flatten().enumerate() {
            self.check_volume(&format!("spec.volumes[{i}]"), volume, refuse);
        }
        for (field, containers) in [
            ("initContainers", spec.init_containers.as_deref()),
            ("containers", Some(spec.containers.as_slice())),
        ] {
            for (i, container) in containers.unwrap_or_default().iter().enumerate() {
                self.check_container(&format!("spec.{field}[{i}]"), container, refuse);
            }
        }
    }

    fn check_volume(&self, at: &str, volume: &Volume, refuse: &mut impl FnMut(String, String)) {
        let p = &self.policy;
        if let Some(host) = &volume.host_path
            && !p.allow_host_path
            && !self.host_paths.contains(&host.path)
        {
            refuse(
                format!("{at}.hostPath"),
                format!(
                    "hostPath volumes are not allowed (`{}`; pod_policy.allow_host_path)",
                    host.path
                ),
            );
        }
        if let Some(secret) = &volume.secret {
            self.check_secret(
                format!("{at}.secret"),
                secret.secret_name.as_deref(),
                refuse,
            );
        }
        let sources = volume.projected.as_ref().and_then(|p| p.sources.as_ref());
        for (j, source) in sources.into_iter().flatten().enumerate() {
            if let Some(secret) = &source.secret {
                let path = format!("{at}.projected.sources[{j}].secret");
                self.check_secret(path, Some(secret.name.as_str()), refuse);
            }
        }
    }

    fn check_secret(
        &self,
        path: String,
        name: Option<&str>,
        refuse: &mut impl FnMut(String, String),
    ) {
        let name = name.unwrap_or_default();
        if !self.policy.allow_secrets && !self.secrets.contains(name) {
            refuse(
                path,
                format!(
                    "secret `{name}` is not allowed (pod_policy.allow_secrets; pipelines get secrets through credentials)"
                ),
            );
        }
    }

    fn check_container(
        &self,
        at: &str,
        container: &Container,
        refuse: &mut impl FnMut(String, String),
    ) {
        if let Some(image) = &container.image
            && !self.image_allowed(image)
        {
            refuse(
                format!("{at}.image"),
                format!("image `{image}` is not allowed (pod_policy.images)"),
            );
        }
        let security = container.security_context.as_ref();
        if security.and_then(|s| s.privileged) == Some(true) && !self.policy.allow_privileged {
            refuse(
                format!("{at}.securityContext.privileged"),
                "privileged containers are not allowed (pod_policy.allow_privileged)".to_owned(),
            );
        }
        let added = security
            .and_then(|s| s.capabilities.as_ref())
            .and_then(|c| c.add.as_ref());
        for (j, capability) in added.into_iter().flatten().enumerate() {
            let bare = capability.trim_start_matches("CAP_");
            if !self
                .policy
                .capabilities
                .iter()
                .any(|c| c.trim_start_matches("CAP_") == bare)
            {
                refuse(
                    format!("{at}.securityContext.capabilities.add[{j}]"),
                    format!("capability `{capability}` is not allowed (pod_policy.capabilities)"),
                );
            }
        }
        for (k, env) in container.env.iter().flatten().enumerate() {
            let secret = env
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref());
            if let Some(secret) = secret {
                let path = format!("{at}.env[{k}].valueFrom.secretKeyRef");
                self.check_secret(path, Some(secret.name.as_str()), refuse);
            }
        }
        for (k, from) in container.env_from.iter().flatten().enumerate() {
            if let Some(secret) = &from.secret_ref {
                let path = format!("{at}.envFrom[{k}].secretRef");
                self.check_secret(path, Some(secret.name.as_str()), refuse);
            }
        }
    }

    fn image_allowed(&self, image: &str) -> bool {
        if self.policy.images.is_empty() {
            return true;
        }
        let full = normalize_image(image);
        if self.images.contains(&full) {
            return true;
        }
        self.policy.images.iter().any(|pattern| {
            let pattern_full = normalize_image(pattern.trim_end_matches('*'));
            let written = pattern.trim_end_matches('*');
            if pattern.ends_with(['*', '/', ':']) {
                full.starts_with(written)
                    || full.starts_with(&pattern_full)
                    || image.starts_with(written)
            } else {
                full == normalize_image(pattern)
            }
        })
    }
}

/// An image reference as Docker reads it: `maven:3` is `docker.io/library/maven:3`,
/// `acme/tool` is `docker.io/acme/tool`.
fn normalize_image(image: &str) -> String {
    let first = image.split('/').next().unwrap_or_default();
    let has_registry =
        image.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_registry {
        image.to_owned()
    } else if image.contains('/') {
        format!("docker.io/{image}")
    } else {
        format!("docker.io/library/{image}")
    }
}

#[cfg(test)]
mod tests;
