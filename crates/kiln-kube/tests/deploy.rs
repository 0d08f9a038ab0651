//! Every manifest under `deploy/` parses into its k8s-openapi type with no field dropped, the
//! RBAC rules are the least kiln needs, and the example configuration is a valid kiln
//! configuration whose Kubernetes section kiln-kube accepts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Namespace, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kiln_kube::KubeConfig;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// Every YAML document of a manifest file.
fn documents(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(deploy_dir().join(name)).unwrap();
    kiln_yaml::parse_documents::<Value>(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Parses `doc` as `T` and checks that serializing it back loses no field that was written.
fn typed<T: DeserializeOwned + serde::Serialize>(name: &str, doc: &Value) -> T {
    let value: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let back = serde_json::to_value(&value).unwrap();
    assert_nothing_dropped(name, "", doc, &back);
    value
}

fn assert_nothing_dropped(name: &str, path: &str, written: &Value, typed: &Value) {
    match (written, typed) {
        (Value::Object(w), Value::Object(t)) => {
            for (k, v) in w {
                if matches!(k.as_str(), "apiVersion" | "kind") && path.is_empty() {
                    continue;
                }
                let Some(tv) = t.get(k) else {
                    panic!("{name}: unknown field `{path}.{k}`");
                };
                assert_nothing_dropped(name, &format!("{path}.{k}"), v, tv);
            }
        }
        (Value::Array(w), Value::Array(t)) => {
            assert_eq!(w.len(), t.len(), "{name}: {path}");
            for (i, (a, b)) in w.iter().zip(t).enumerate() {
                assert_nothing_dropped(name, &format!("{path}[{i}]"), a, b);
            }
        }
        _ => {}
    }
}

/// Parses every document of every manifest into its type, by `kind`.
#[test]
fn every_manifest_parses_into_its_kubernetes_type() {
    let mut kinds = Vec::new();
    for file in manifest_files() {
        for doc in documents(&file) {
            let kind = doc["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{file}: no kind"))
                .to_string();
            assert!(doc["apiVersion"].is_string(), "{file}: no apiVersion");
            match kind.as_str() {
                "Namespace" => drop(typed::<Namespace>(&file, &doc)),
                "ServiceAccount" => drop(typed::<ServiceAccount>(&file, &doc)),
                "Role" => drop(typed::<Role>(&file, &doc)),
                "RoleBinding" => drop(typed::<RoleBinding>(&file, &doc)),
                "ClusterRole" => drop(typed::<ClusterRole>(&file, &doc)),
                "ClusterRoleBinding" => drop(typed::<ClusterRoleBinding>(&file, &doc)),
                "Service" => drop(typed::<Service>(&file, &doc)),
                "StatefulSet" => drop(typed::<StatefulSet>(&file, &doc)),
                "Secret" => drop(typed::<Secret>(&file, &doc)),
                "NetworkPolicy" => drop(typed::<NetworkPolicy>(&file, &doc)),
                other => panic!("{file}: a manifest of kind {other} that this test does not check"),
            }
            kinds.push(kind);
        }
    }
    kinds.sort();
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Namespace",
            "NetworkPolicy",
            "Role",
            "RoleBinding",
            "Secret",
            "Service",
            "ServiceAccount",
            "StatefulSet"
        ]
    );
}

fn manifest_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(deploy_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") && n != "kiln.yaml" && n != "kustomization.yaml")
        .collect();
    files.sort();
    files
}

#[test]
fn the_kustomization_applies_every_manifest_but_the_examples() {
    let k = &documents("kustomization.yaml")[0];
    let mut listed: Vec<&str> = k["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    listed.sort_unstable();
    let expected: Vec<String> = manifest_files()
        .into_iter()
        .filter(|f| !f.contains(".example."))
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(k["configMapGenerator"][0]["files"][0], "kiln.yaml");
}

#[test]
fn the_role_grants_the_least_verbs() {
    let role: Role = typed("role.yaml", &documents("role.yaml")[0]);
    let rules: Vec<(String, Vec<String>)> = role
        .rules
        .unwrap()
        .into_iter()
        .map(|r| (r.resources.unwrap().join(","), r.verbs))
        .collect();
    let expect = |res: &str, verbs: &[&str]| {
        (
            res.to_string(),
            verbs.iter().map(|v| (*v).to_string()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        rules,
        [
            expect(
                "pods",
                &["create", "get", "list", "watch", "patch", "delete"]
            ),
            expect("pods/log", &["get"]),
            expect("secrets", &["create", "get", "patch", "delete"]),
            expect("events", &["list", "watch"]),
        ]
    );
    let binding: RoleBinding = typed("rolebinding.yaml", &documents("rolebinding.yaml")[0]);
    assert_eq!(binding.role_ref.name, "kiln");
    assert_eq!(binding.subjects.unwrap()[0].name, "kiln");
    // Cluster-wide, only reading nodes (node loss).
    let docs = documents("clusterrole.yaml");
    let role: ClusterRole = typed("clusterrole.yaml", &docs[0]);
    let rules: Vec<(String, Vec<String>)> = role
        .rules
        .unwrap()
        .into_iter()
        .map(|r| (r.resources.unwrap().join(","), r.verbs))
        .collect();
    assert_eq!(rules, [expect("nodes", &["get"])]);
    let binding: ClusterRoleBinding = typed("clusterrole.yaml", &docs[1]);
    assert_eq!(binding.role_ref.name, "kiln-nodes");
    let subject = &binding.subjects.unwrap()[0];
    assert_eq!(
        (subject.kind.as_str(), subject.name.as_str()),
        ("ServiceAccount", "kiln")
    );
}

#[test]
fn the_statefulset_keeps_the_store_on_a_claim_and_has_probes() {
    let set: StatefulSet = typed("statefulset.yaml", &documents("statefulset.yaml")[0]);
    let spec = set.spec;
    assert_eq!(spec.replicas, Some(1), "the store is single-writer");
    let claims = spec.volume_claim_templates.unwrap();
    assert_eq!(claims[0].metadata.name.as_deref(), Some("data"));
    let pod = spec.template.spec.unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some("kiln"));
    let c = &pod.containers[0];
    let mounts: Vec<_> = c
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| (m.name.as_str(), m.mount_path.as_str()))
        .collect();
    assert!(mounts.contains(&("data", "/var/lib/kiln")), "{mounts:?}");
    let probe_path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .clone()
            .unwrap()
    };
    assert_eq!(probe_path(&c.liveness_probe), "/healthz");
    assert_eq!(probe_path(&c.readiness_probe), "/readyz");
    let ports: Vec<_> = c
        .ports
        .as_ref()
        .unwrap()
        .iter()
        .map(|p| p.container_port)
        .collect();
    assert_eq!(ports, [8080, 7777]);
}

#[test]
fn the_example_configuration_is_valid_and_has_the_four_templates() {
    let text = std::fs::read_to_string(deploy_dir().join("kiln.yaml")).unwrap();
    let config = kiln_config::parse("deploy/kiln.yaml", &text).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(config.server.data_dir, Path::new("/var/lib/kiln"));
    let kube = config
        .executors
        .kubernetes
        .expect("an executors.kubernetes section");
    let kube = KubeConfig::from_json(&kube).unwrap_or_else(|d| panic!("{d:?}"));
    let names: Vec<_> = kube.templates.iter().map(|t| t.name.as_str()).collect();
    for wanted in ["maven", "node", "go", "kaniko"] {
        assert!(names.contains(&wanted), "{names:?}");
    }
    let dockerfile = kube.dockerfile_agents.as_ref().expect("dockerfile_agents");
    assert_eq!(dockerfile.repository, "registry.example.com/kiln/agents");
    // Agents dial kiln on the Service's `agents` port, which the StatefulSet's container
    // exposes and kiln listens on.
    assert_eq!(
        kube.controller_url.as_deref(),
        Some("tls://kiln.kiln.svc:7777")
    );
    assert_eq!(kube.agent_listen_address().as_deref(), Some("0.0.0.0:7777"));
    let service: Service = typed("service.yaml", &documents("service.yaml")[0]);
    let agents = service
        .spec
        .unwrap()
        .ports
        .unwrap()
        .into_iter()
        .find(|p| p.name.as_deref() == Some("agents"))
        .expect("an agents port on the Service");
    assert_eq!(agents.port, 7777);
    assert_eq!(
        kube.kaniko.docker_config_secret.as_deref(),
        Some("kiln-registry")
    );
    // The shipped configuration names the Kaniko image kiln uses by default, pinned alike.
    assert_eq!(
        kube.kaniko.image,
        kiln_kube::KanikoSettings::default().image
    );
    assert!(
        kube.kaniko.image.contains("@sha256:"),
        "{}",
        kube.kaniko.image
    );
    // The same section read from YAML (with positions) agrees.
    let section = KubeConfig::from_yaml(&kube_section(&text)).unwrap_or_else(|d| panic!("{d:?}"));
    assert_eq!(section, kube);
}

/// The `executors.kubernetes` block of the example, dedented.
fn kube_section(text: &str) -> String {
    let start = text.find("  kubernetes:\n").unwrap() + "  kubernetes:\n".len();
    text[start..]
        .lines()
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| l.get(4..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The agent image as deploy/Dockerfile builds it: nothing but the static agent, run as the
/// non-root user kiln's init container runs as; built for the platform it is built on (the
/// musl target of the build machine's own architecture, so `buildx --platform
/// linux/amd64,linux/arm64` makes both), with a cargo target cache per architecture (the two
/// platforms build at once), from base images pinned by digest.
#[test]
fn the_agent_image_is_static_non_root_and_builds_per_platform() {
    let text = std::fs::read_to_string(deploy_dir().join("Dockerfile")).unwrap();
    let stage = |name: &str| -> Vec<String> {
        let start = text
            .lines()
            .position(|l| l.starts_with("FROM ") && l.ends_with(&format!(" AS {name}")))
            .unwrap_or_else(|| panic!("no stage {name}"));
        text.lines()
            .skip(start)
            .take_while(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    };
    // The binary the init container's command runs, and the user it runs as.
    let binary = kiln_kube::AgentInstall::new("image").command[0].clone();
    let agent = stage("agent");
    assert_eq!(
        agent,
        [
            "FROM scratch AS agent".to_owned(),
            format!("COPY --from=build /out/kiln-agent {binary}"),
            format!("USER {0}:{0}", kiln_kube::AGENT_USER),
            format!("ENTRYPOINT [\"{binary}\"]"),
        ]
    );
    let build = stage("build").join("\n");
    assert!(build.contains("ARG TARGETARCH"), "{build}");
    assert!(
        build.contains("--mount=type=cache,target=/src/target,id=kiln-target-${TARGETARCH}"),
        "{build}"
    );
    assert!(
        build.contains(
            "--target \"$(uname -m)-unknown-linux-musl\" \\\n && mkdir -p /out \\\n && cp target/release/kiln /out/kiln \\\n && cp \"target/$(uname -m)-unknown-linux-musl/release/kiln-agent\" /out/kiln-agent"
        ),
        "{build}"
    );
    for from in text.lines().filter(|l| l.starts_with("FROM ")) {
        let image = from.split_whitespace().nth(1).unwrap();
        assert!(
            image == "scratch" || image.contains("@sha256:"),
            "{from}: not pinned by digest"
        );
    }
}
