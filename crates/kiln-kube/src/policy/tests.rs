use super::*;
use serde_json::{Value, json};

fn pod(spec: Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).unwrap()
}

fn config(yaml: &str) -> KubeConfig {
    KubeConfig::from_yaml(yaml).unwrap_or_else(|d| panic!("{d:?}"))
}

/// The refusals of `spec` in namespace `default` under `config_yaml`, as `path: reason`.
fn refused(config_yaml: &str, spec: Value) -> Vec<String> {
    refused_in(config_yaml, "default", spec)
}

fn refused_in(config_yaml: &str, namespace: &str, spec: Value) -> Vec<String> {
    match PolicyCheck::new(&config(config_yaml)).check(namespace, &pod(spec)) {
        Ok(()) => Vec::new(),
        Err(e) => e.refusals.iter().map(Refusal::to_string).collect(),
    }
}

fn one(image: &str) -> Value {
    json!({"containers": [{"name": "main", "image": image}]})
}

#[test]
fn a_plain_pod_passes_the_default_policy() {
    assert!(refused("{}", one("maven:3")).is_empty());
}

#[test]
fn namespaces_other_than_the_configured_ones_are_refused() {
    assert_eq!(
        refused_in("{}", "kube-system", one("busybox")),
        ["metadata.namespace: namespace `kube-system` is not allowed (pod_policy.namespaces)"]
    );
    assert!(refused_in("namespace: ci", "ci", one("busybox")).is_empty());
    assert!(
        refused_in(
            "pod_policy: {namespaces: [team-a]}",
            "team-a",
            one("busybox")
        )
        .is_empty()
    );
    let template = "templates:\n- name: t\n  namespace: builds\n";
    assert!(refused_in(template, "builds", one("busybox")).is_empty());
}

#[test]
fn service_accounts_must_be_the_configured_ones() {
    let spec = json!({"serviceAccountName": "kiln", "containers": [{"name": "a", "image": "x"}]});
    assert_eq!(
        refused("{}", spec.clone()),
        [
            "spec.serviceAccountName: service account `kiln` is not allowed (pod_policy.service_accounts)"
        ]
    );
    assert!(refused("pod_policy: {service_accounts: [kiln]}", spec).is_empty());
    let deprecated =
        json!({"serviceAccount": "admin", "containers": [{"name": "a", "image": "x"}]});
    assert_eq!(refused("{}", deprecated).len(), 1);
    let configured =
        json!({"serviceAccountName": "builder", "containers": [{"name": "a", "image": "x"}]});
    assert!(refused("service_account: builder", configured.clone()).is_empty());
    let default =
        json!({"serviceAccountName": "default", "containers": [{"name": "a", "image": "x"}]});
    assert!(refused("{}", default).is_empty());
}

#[test]
fn images_are_matched_by_reference_or_prefix_as_docker_reads_them() {
    let policy = "pod_policy: {images: ['docker.io/library/*', 'registry.example.com/', 'ghcr.io/acme/tool:1']}";
    assert!(refused(policy, one("maven:3")).is_empty());
    assert!(refused(policy, one("registry.example.com/team/app:2")).is_empty());
    assert!(refused(policy, one("ghcr.io/acme/tool:1")).is_empty());
    assert_eq!(
        refused(policy, one("ghcr.io/acme/tool:2")),
        [
            "spec.containers[0].image: image `ghcr.io/acme/tool:2` is not allowed (pod_policy.images)"
        ]
    );
    assert_eq!(
        refused(policy, one("evil/miner")).len(),
        1,
        "docker.io/evil/miner"
    );
    // The templates' images are the admin's.
    let with_template = format!(
        "{policy}\ntemplates:\n- name: t\n  containers:\n  - {{name: jnlp, image: quay.io/corp/jnlp:7}}\n"
    );
    assert!(refused(&with_template, one("quay.io/corp/jnlp:7")).is_empty());
}

#[test]
fn privileged_and_added_capabilities_are_refused_by_default() {
    let spec = json!({"containers": [
        {"name": "a", "image": "x"},
        {"name": "b", "image": "docker:dind", "securityContext": {
            "privileged": true,
            "capabilities": {"add": ["NET_ADMIN", "SYS_ADMIN"], "drop": ["ALL"]}}}]});
    assert_eq!(
        refused("{}", spec.clone()),
        [
            "spec.containers[1].securityContext.privileged: privileged containers are not allowed (pod_policy.allow_privileged)",
            "spec.containers[1].securityContext.capabilities.add[0]: capability `NET_ADMIN` is not allowed (pod_policy.capabilities)",
            "spec.containers[1].securityContext.capabilities.add[1]: capability `SYS_ADMIN` is not allowed (pod_policy.capabilities)",
        ]
    );
    assert_eq!(
        refused(
            "pod_policy: {allow_privileged: true, capabilities: [CAP_NET_ADMIN]}",
            spec
        ),
        [
            "spec.containers[1].securityContext.capabilities.add[1]: capability `SYS_ADMIN` is not allowed (pod_policy.capabilities)"
        ]
    );
    let init = json!({"initContainers": [{"name": "i", "image": "x", "securityContext": {"privileged": true}}],
        "containers": [{"name": "a", "image": "x"}]});
    assert_eq!(
        refused("{}", init),
        [
            "spec.initContainers[0].securityContext.privileged: privileged containers are not allowed (pod_policy.allow_privileged)"
        ]
    );
}

#[test]
fn the_nodes_namespaces_and_host_paths_are_refused_by_default() {
    let spec = json!({"hostNetwork": true, "hostPID": true, "hostIPC": true,
        "volumes": [{"name": "ok", "emptyDir": {}}, {"name": "sock", "hostPath": {"path": "/var/run/docker.sock"}}],
        "containers": [{"name": "a", "image": "x"}]});
    assert_eq!(
        refused("{}", spec.clone()),
        [
            "spec.hostNetwork: the node's namespaces are not allowed (pod_policy.allow_host_network)",
            "spec.hostPID: the node's namespaces are not allowed (pod_policy.allow_host_pid)",
            "spec.hostIPC: the node's namespaces are not allowed (pod_policy.allow_host_ipc)",
            "spec.volumes[1].hostPath: hostPath volumes are not allowed (`/var/run/docker.sock`; pod_policy.allow_host_path)",
        ]
    );
    let all = "pod_policy: {allow_host_network: true, allow_host_pid: true, allow_host_ipc: true, allow_host_path: true}";
    assert!(refused(all, spec).is_empty());
    // A cache's hostPath is the admin's.
    let cache = "templates:\n- name: t\n  caches:\n  - {name: npm, preset: npm, source: {host_path: {path: /var/cache/npm}}}\n";
    let uses_cache = json!({"volumes": [{"name": "c", "hostPath": {"path": "/var/cache/npm"}}],
        "containers": [{"name": "a", "image": "x"}]});
    assert!(refused(cache, uses_cache).is_empty());
}

#[test]
fn secrets_in_volumes_and_environment_are_refused_by_default() {
    let spec = json!({
        "volumes": [
            {"name": "tokens", "secret": {"secretName": "kiln-tokens"}},
            {"name": "p", "projected": {"sources": [{"configMap": {"name": "c"}}, {"secret": {"name": "other-agent"}}]}}],
        "containers": [{"name": "a", "image": "x",
            "env": [{"name": "PLAIN", "value": "1"}, {"name": "T", "valueFrom": {"secretKeyRef": {"name": "kiln-tokens", "key": "admin"}}}],
            "envFrom": [{"configMapRef": {"name": "c"}}, {"secretRef": {"name": "db"}}]}]});
    assert_eq!(
        refused("{}", spec.clone()),
        [
            "spec.volumes[0].secret: secret `kiln-tokens` is not allowed (pod_policy.allow_secrets; pipelines get secrets through credentials)",
            "spec.volumes[1].projected.sources[1].secret: secret `other-agent` is not allowed (pod_policy.allow_secrets; pipelines get secrets through credentials)",
            "spec.containers[0].env[1].valueFrom.secretKeyRef: secret `kiln-tokens` is not allowed (pod_policy.allow_secrets; pipelines get secrets through credentials)",
            "spec.containers[0].envFrom[1].secretRef: secret `db` is not allowed (pod_policy.allow_secrets; pipelines get secrets through credentials)",
        ]
    );
    assert!(refused("pod_policy: {allow_secrets: true}", spec).is_empty());
    // The Kaniko registry secret is the admin's.
    let kaniko = json!({"volumes": [{"name": "d", "secret": {"secretName": "regcred"}}],
        "containers": [{"name": "a", "image": "x"}]});
    assert!(refused("kaniko: {docker_config_secret: regcred}", kaniko).is_empty());
}

#[test]
fn the_refusal_names_every_field() {
    let err = PolicyCheck::new(&KubeConfig::default())
        .check(
            "default",
            &pod(json!({"hostNetwork": true,
            "containers": [{"name": "a", "image": "x", "securityContext": {"privileged": true}}]})),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the pod is refused by executors.kubernetes.pod_policy: spec.hostNetwork: the node's namespaces are not allowed (pod_policy.allow_host_network); spec.containers[0].securityContext.privileged: privileged containers are not allowed (pod_policy.allow_privileged)"
    );
}

#[test]
fn unknown_policy_keys_are_configuration_errors() {
    let err = KubeConfig::from_yaml("pod_policy: {allow_privilegd: true}").unwrap_err();
    assert!(err[0].message.contains("allow_privilegd"), "{err:?}");
}
