//! The kiln-ha overlay in deploy/kiln-ha/ (several controllers on PostgreSQL): its manifests
//! valid for Kubernetes 1.32 with no unknown field (`kubernetes-validate --strict`), the
//! controllers' pod passing Pod Security "restricted", the database URL from a Secret, and
//! agents reached without a `controller_url` (which could reach a controller that does not
//! own the build).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a missing manifest or tool should fail the test"
)]

use kiln_fake_kube::pod_security::{Level, violations};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn overlay() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kiln-ha")
}

fn yaml(name: &str) -> Value {
    let text = std::fs::read_to_string(overlay().join(name)).unwrap();
    kiln_yaml::parse_tree(&text).unwrap().to_json()
}

fn validator() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubernetes-validate"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "kubernetes-validate is not installed (not on PATH): install it with \
                 `pip install kubernetes-validate` (as .ci/run does)"
            )
        })
}

#[test]
fn kiln_ha_overlay_passes_strict_schema_validation() {
    let kustomization = yaml("kustomization.yaml");
    assert_eq!(kustomization["resources"][0], "../", "{kustomization}");
    let mut files: Vec<PathBuf> = kustomization["patches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| overlay().join(p["path"].as_str().unwrap()))
        .collect();
    files.push(overlay().join("secret.example.yaml"));
    assert_eq!(files.len(), 3, "{files:?}");
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
fn kiln_ha_runs_several_restricted_controllers_on_the_database_of_a_secret() {
    let statefulset = yaml("statefulset.yaml");
    assert!(statefulset["spec"]["replicas"].as_u64().unwrap() >= 2);
    let spec = &statefulset["spec"]["template"]["spec"];
    assert_eq!(violations(Level::Restricted, spec), Vec::<String>::new());
    let env = spec["containers"][0]["env"].as_array().unwrap();
    let url = env
        .iter()
        .find(|e| e["name"] == "KILN_DATABASE_URL")
        .unwrap();
    assert_eq!(url["valueFrom"]["secretKeyRef"]["name"], "kiln-database");
    assert_eq!(
        yaml("secret.example.yaml")["metadata"]["name"],
        "kiln-database"
    );

    let config = yaml("kiln.yaml");
    assert_eq!(config["store"]["postgres"]["url_env"], "KILN_DATABASE_URL");
    let kube = &config["executors"]["kubernetes"];
    assert!(kube.is_object(), "{config}");
    assert!(kube["controller_url"].is_null(), "{kube}");
    let rules = yaml("role.yaml")["rules"].clone();
    assert!(
        rules
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["resources"][0] == "pods/portforward"),
        "{rules}"
    );
}
