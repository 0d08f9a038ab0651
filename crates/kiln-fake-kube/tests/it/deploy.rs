//! The manifests in deploy/: valid for Kubernetes 1.32 with no unknown field
//! (`kubernetes-validate --strict`), and kiln's own pod passing Pod Security "restricted".

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a missing manifest or tool should fail the test"
)]

use std::path::{Path, PathBuf};

use kiln_fake_kube::pod_security::{Level, violations};
use serde_json::Value;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// Every Kubernetes manifest in deploy/ (kiln.yaml is kiln's configuration, kustomization.yaml
/// kustomize's).
fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name != "kiln.yaml" && name != "kustomization.yaml"
        })
        .collect();
    files.sort();
    files
}

fn validator() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubernetes-validate"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "kubernetes-validate is not installed (not on PATH): this test checks deploy/ \
                 against the Kubernetes 1.32 schemas with it; install it with \
                 `pip install kubernetes-validate` (as .ci/run does)"
            )
        })
}

#[test]
fn deploy_manifests_pass_strict_schema_validation() {
    let files = manifests();
    assert!(files.len() >= 8, "{files:?}");
    let out = std::process::Command::new(validator())
        .args(["--strict", "--kubernetes-version", "1.32.0", "--quiet"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubernetes-validate --strict failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kiln_statefulset_passes_pod_security_restricted() {
    let text = std::fs::read_to_string(deploy_dir().join("statefulset.yaml")).unwrap();
    let statefulset: Value = kiln_yaml::parse_tree(&text).unwrap().to_json();
    let spec = &statefulset["spec"]["template"]["spec"];
    assert!(spec["containers"].is_array(), "{statefulset}");
    assert_eq!(violations(Level::Restricted, spec), Vec::<String>::new());
}

#[test]
fn network_policy_ships_with_the_kustomization() {
    let text = std::fs::read_to_string(deploy_dir().join("kustomization.yaml")).unwrap();
    let kustomization = kiln_yaml::parse_tree(&text).unwrap().to_json();
    let resources = kustomization["resources"].as_array().unwrap();
    for file in manifests() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if name != "secret.example.yaml" {
            assert!(
                resources.iter().any(|r| r.as_str() == Some(&name)),
                "{name} is not in kustomization.yaml"
            );
        }
    }
}
