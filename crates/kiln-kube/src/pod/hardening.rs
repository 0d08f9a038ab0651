//! What every build pod gets unless it says otherwise: the `app.kubernetes.io/*` labels, no
//! service account token (`automountServiceAccountToken: false`), the runtime's default
//! seccomp profile, and for each container without a `securityContext` of its own no
//! privilege escalation and no capabilities. With these a pod passes Pod Security
//! "restricted" once it also runs as non-root (`runAsNonRoot`, which only the images can
//! allow, so a template sets it). A container that writes any `securityContext` owns it
//! whole (Kaniko's, which needs root, does).

use k8s_openapi::api::core::v1::{
    Capabilities, Container, Pod, PodSecurityContext, SeccompProfile, SecurityContext,
};
use std::collections::BTreeMap;

/// The recommended labels every build pod carries (a template's own values win).
pub const APP_LABELS: &[(&str, &str)] = &[
    ("app.kubernetes.io/managed-by", "kiln"),
    ("app.kubernetes.io/part-of", "kiln-builds"),
    ("app.kubernetes.io/component", "build"),
];

/// Gives `pod` kiln's defaults where it says nothing itself.
pub(crate) fn harden(pod: &mut Pod) {
    let labels = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
    for (key, value) in APP_LABELS {
        labels
            .entry((*key).to_owned())
            .or_insert_with(|| (*value).to_owned());
    }
    let Some(spec) = pod.spec.as_mut() else {
        return;
    };
    spec.automount_service_account_token.get_or_insert(false);
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    let container_seccomp = containers
        .filter_map(|c| c.security_context.as_ref())
        .any(|s| s.seccomp_profile.is_some());
    let pod_context = spec
        .security_context
        .get_or_insert_with(PodSecurityContext::default);
    if pod_context.seccomp_profile.is_none() && !container_seccomp {
        pod_context.seccomp_profile = Some(runtime_default());
    }
    let all = spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten());
    for container in all {
        restrict(container);
    }
}

/// The runtime's default seccomp profile.
pub(crate) fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".to_owned(),
        localhost_profile: None,
    }
}

/// No privilege escalation and no capabilities, for a container without a
/// `securityContext` of its own.
pub(crate) fn restrict(container: &mut Container) {
    if container.security_context.is_some() {
        return;
    }
    container.security_context = Some(SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            add: None,
        }),
        ..SecurityContext::default()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_fill_what_the_pod_leaves_open_and_keep_what_it_says() {
        let mut pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "labels": {"app.kubernetes.io/part-of": "mine"}},
            "spec": {
                "automountServiceAccountToken": true,
                "containers": [
                    {"name": "a", "image": "x"},
                    {"name": "dind", "image": "docker:dind", "securityContext": {"privileged": true}},
                ]
            }
        }))
        .unwrap();
        harden(&mut pod);
        let labels = pod.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["app.kubernetes.io/part-of"], "mine");
        assert_eq!(labels["app.kubernetes.io/managed-by"], "kiln");
        let spec = pod.spec.unwrap();
        assert_eq!(spec.automount_service_account_token, Some(true));
        assert_eq!(
            spec.security_context
                .unwrap()
                .seccomp_profile
                .unwrap()
                .type_,
            "RuntimeDefault"
        );
        let a = spec.containers[0].security_context.as_ref().unwrap();
        assert_eq!(a.allow_privilege_escalation, Some(false));
        assert_eq!(
            a.capabilities.as_ref().unwrap().drop.as_deref(),
            Some(&["ALL".to_owned()][..])
        );
        let dind = spec.containers[1].security_context.as_ref().unwrap();
        assert_eq!(dind.privileged, Some(true));
        assert_eq!(dind.allow_privilege_escalation, None);
    }

    #[test]
    fn no_token_unless_the_pod_asks() {
        let mut pod: Pod =
            serde_json::from_value(json!({"spec": {"containers": [{"name": "a"}]}})).unwrap();
        harden(&mut pod);
        assert_eq!(
            pod.spec.unwrap().automount_service_account_token,
            Some(false)
        );
    }
}
