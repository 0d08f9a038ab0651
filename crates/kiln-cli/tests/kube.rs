//! `kiln run --kubeconfig` end to end: the real `kiln` binary runs examples/kubernetes against
//! the fake cluster (the `kiln-fake-kube` binary, whose kubelet runs each container as a local
//! process with the pod's volumes mounted), with the real kiln-agent in the pod's containers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The fake cluster as a child process, stopped like Ctrl-C (which kills its containers).
struct Cluster {
    child: Child,
    dir: tempfile::TempDir,
    url: String,
}

impl Cluster {
    fn start() -> Cluster {
        let binary = kiln_fake_kube::workspace_binary("kiln-fake-kube", "kiln-fake-kube").unwrap();
        let dir = tempfile::Builder::new()
            .prefix("kiln-cli-kube-")
            .tempdir()
            .unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let child = Command::new(binary)
            .args(["--port", "0", "--kubeconfig-out"])
            .arg(&kubeconfig)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The file may exist before it is completely written: wait for its server line.
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = loop {
            let text = std::fs::read_to_string(&kubeconfig).unwrap_or_default();
            if let Some(url) = text.lines().find_map(|l| l.trim().strip_prefix("server: ")) {
                break url.trim().to_owned();
            }
            assert!(Instant::now() < deadline, "the fake cluster did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        Cluster { child, dir, url }
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// `METHOD PATH` of every API request the fake served.
    fn requests(&self) -> Vec<String> {
        let body = ureq::get(format!("{}/__fake/requests", self.url))
            .call()
            .unwrap()
            .into_body()
            .read_to_string()
            .unwrap();
        let records: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        records
            .iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r["method"].as_str().unwrap(),
                    r["path"].as_str().unwrap()
                )
            })
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn kiln_run(cluster: &Cluster, workspace: &Path, install: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("run")
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .arg("Jenkinsfile")
        .current_dir(workspace)
        .env("NO_COLOR", "1")
        .env("KILN_AGENT_INSTALL", install)
        .env_remove("KILN_LOG")
        .output()
        .unwrap()
}

fn example_workspace() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("kiln-cli-kube-ws-")
        .tempdir()
        .unwrap();
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/kubernetes/Jenkinsfile");
    std::fs::copy(example, dir.path().join("Jenkinsfile")).unwrap();
    dir
}

fn agent_install() -> String {
    let agent = kiln_fake_kube::workspace_binary("kiln-agent", "kiln-agent").unwrap();
    format!("{} --install /kiln/bin/kiln-agent", agent.display())
}

#[test]
fn the_kubernetes_example_runs_in_a_pod_from_a_laptop() {
    let cluster = Cluster::start();
    let workspace = example_workspace();
    let out = kiln_run(&cluster, workspace.path(), &agent_install());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    // The scan container checks what the build container wrote: one shared workspace.
    assert!(stdout.contains("[Check] out/app.txt: OK"), "{stdout}");
    assert!(
        stdout.contains("[Check] kiln-demo built in container build"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[Package] Unstashed 2 file(s) from 'app'"),
        "{stdout}"
    );
    assert!(stdout.contains("Finished: SUCCESS"), "{stdout}");
    assert!(stderr.contains("Running in pod kiln-"), "{stderr}");
    // The archived artifact came back from the pod.
    let archived = walk(workspace.path())
        .into_iter()
        .any(|p| p.ends_with("kiln-demo.tar"));
    assert!(
        archived,
        "no archived kiln-demo.tar under {}",
        workspace.path().display()
    );
    // One pod and its token Secret made, both deleted at the end; no polling of the pod.
    let requests = cluster.requests();
    let count = |prefix: &str| requests.iter().filter(|r| r.starts_with(prefix)).count();
    assert_eq!(
        count("POST /api/v1/namespaces/default/pods"),
        1,
        "{requests:#?}"
    );
    assert_eq!(
        count("POST /api/v1/namespaces/default/secrets"),
        1,
        "{requests:#?}"
    );
    assert_eq!(
        count("DELETE /api/v1/namespaces/default/pods/kiln-"),
        1,
        "{requests:#?}"
    );
    assert_eq!(
        count("DELETE /api/v1/namespaces/default/secrets/kiln-"),
        1,
        "{requests:#?}"
    );
    let pod_reads = requests
        .iter()
        .filter_map(|r| r.strip_prefix("GET /api/v1/namespaces/default/pods/kiln-"))
        .filter(|rest| !rest.contains('/'))
        .count();
    assert!(pod_reads <= 2, "{requests:#?}");
}

#[test]
fn a_pod_whose_agent_cannot_be_installed_fails_with_the_init_containers_exit() {
    let cluster = Cluster::start();
    let workspace = example_workspace();
    let out = kiln_run(&cluster, workspace.path(), "false");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("init container `kiln-agent-init` stopped (Error, exit code 1)"),
        "{stderr}"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

const STAGE_PODS: &str = r#"pipeline {
    agent none
    stages {
        stage('Build') {
            agent {
                kubernetes {
                    yaml '''
spec:
  containers:
  - name: maven
    image: busybox
'''
                }
            }
            steps {
                container('maven') {
                    sh 'cat input.txt; echo built-in-pod > artifact.txt'
                }
                stash name: 'art', includes: 'artifact.txt'
            }
        }
        stage('Here') {
            agent any
            steps { sh 'test ! -e artifact.txt && echo not-on-this-machine' }
        }
        stage('Test') {
            agent { kubernetes { yaml 'spec: {containers: [{name: node, image: alpine}]}' } }
            steps {
                container('node') {
                    unstash 'art'
                    sh 'cat artifact.txt'
                }
            }
        }
    }
}
"#;

/// Runs `jenkinsfile` with `kiln run --kubeconfig` in a fresh workspace that also holds
/// `input.txt`; the run must succeed. Returns the workspace, the build's output and kiln's
/// messages.
fn run_with_input(
    cluster: &Cluster,
    prefix: &str,
    jenkinsfile: &str,
    input: &str,
) -> (tempfile::TempDir, String, String) {
    let workspace = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    std::fs::write(workspace.path().join("Jenkinsfile"), jenkinsfile).unwrap();
    std::fs::write(workspace.path().join("input.txt"), input).unwrap();
    let port = kiln_fake_kube::free_agent_ports(1);
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["run", "--kubeconfig"])
        .arg(cluster.kubeconfig())
        .arg("Jenkinsfile")
        .current_dir(workspace.path())
        .env("NO_COLOR", "1")
        .env("KILN_AGENT_INSTALL", agent_install())
        .env("KILN_AGENT_PORT", port.to_string())
        .env_remove("KILN_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    (workspace, stdout, stderr)
}

#[test]
fn stages_with_kubernetes_agents_run_in_pods_of_their_own_from_a_laptop() {
    let cluster = Cluster::start();
    let (_workspace, stdout, _) = run_with_input(
        &cluster,
        "kiln-cli-kube-stages-",
        STAGE_PODS,
        "from-the-laptop\n",
    );
    for line in [
        "[Build] Uploaded 2 workspace files into the pod",
        "[Build] from-the-laptop",
        "[Here] not-on-this-machine",
        "[Test] Unstashed 1 file(s) from 'art'",
        "[Test] built-in-pod",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "{line:?} missing:\n{stdout}"
        );
    }
    let pods: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_once("] Running in pod ").map(|(_, pod)| pod))
        .collect();
    assert_eq!(pods.len(), 2, "{stdout}");
    assert_ne!(pods[0], pods[1]);
    let requests = cluster.requests();
    for pod in pods {
        let deleted = format!("DELETE /api/v1/namespaces/default/pods/{pod}");
        assert!(
            requests.contains(&deleted),
            "{deleted} missing: {requests:#?}"
        );
    }
    let created = requests
        .iter()
        .filter(|r| *r == "POST /api/v1/namespaces/default/pods")
        .count();
    assert_eq!(created, 2, "{requests:#?}");
}

const SCRIPTED_POD: &str = r#"podTemplate(containers: [containerTemplate(name: 'maven', image: 'busybox')]) {
    node(POD_LABEL) {
        stage('Build') {
            container('maven') { sh 'cat input.txt' }
        }
    }
}
"#;

#[test]
fn a_scripted_pod_template_runs_in_a_pod_from_a_laptop() {
    let cluster = Cluster::start();
    let (_workspace, stdout, _) = run_with_input(
        &cluster,
        "kiln-cli-kube-scripted-",
        SCRIPTED_POD,
        "scripted-input\n",
    );
    assert!(
        stdout.lines().any(|l| l == "[Build] scripted-input"),
        "{stdout}"
    );
    let pod = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Running in pod "))
        .unwrap_or_else(|| panic!("no pod: {stdout}"));
    let requests = cluster.requests();
    let deleted = format!("DELETE /api/v1/namespaces/default/pods/{pod}");
    assert!(
        requests.contains(&deleted),
        "{deleted} missing: {requests:#?}"
    );
}

/// A top-level docker agent. (Pods of one `kiln run --kubeconfig` are reached through
/// port-forward on one agent port; the fake's pods share the host's network, so only one
/// pod at a time here.)
const DOCKER_TOP: &str = r#"pipeline {
    agent { docker { image 'alpine:3.20'; args '-u root' } }
    stages {
        stage('Build') { steps { sh 'cat input.txt' } }
    }
}
"#;

const DOCKER_STAGE: &str = r#"pipeline {
    agent none
    stages {
        stage('Lint') {
            agent { docker { image 'node:22-alpine' } }
            steps { sh 'cat input.txt; echo linted' }
        }
    }
}
"#;

#[test]
fn docker_agents_run_as_pods_of_their_image_from_a_laptop() {
    let cluster = Cluster::start();
    let (_top, stdout, stderr) = run_with_input(
        &cluster,
        "kiln-cli-kube-docker-",
        DOCKER_TOP,
        "docker-input\n",
    );
    assert!(
        stdout.lines().any(|l| l == "[Build] docker-input"),
        "{stdout}"
    );
    assert!(
        stderr.contains("docker agent: `args` has no effect in a pod"),
        "{stderr}"
    );
    assert!(stderr.contains("Running in pod kiln-"), "{stderr}");
    let (_stage, stdout, _) = run_with_input(
        &cluster,
        "kiln-cli-kube-docker-",
        DOCKER_STAGE,
        "stage-input\n",
    );
    for line in ["[Lint] stage-input", "[Lint] linted"] {
        assert!(
            stdout.lines().any(|l| l == line),
            "{line:?} missing:\n{stdout}"
        );
    }
    assert!(stdout.contains("[Lint] Running in pod kiln-"), "{stdout}");
    assert!(!stdout.contains("is ignored by"), "{stdout}");
    let requests = cluster.requests();
    let created = requests
        .iter()
        .filter(|r| *r == "POST /api/v1/namespaces/default/pods")
        .count();
    assert_eq!(created, 2, "{requests:#?}");
}
