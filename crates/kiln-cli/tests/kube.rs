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
    /// The administrator's bearer token, for the tests' own look at the cluster.
    admin_token: String,
}

impl Cluster {
    fn start() -> Cluster {
        Cluster::start_with(&[])
    }

    /// The fake cluster started with more arguments (e.g. `--image NAME=ENTRYPOINT`).
    fn start_with(extra: &[String]) -> Cluster {
        let binary = kiln_fake_kube::workspace_binary("kiln-fake-kube", "kiln-fake-kube").unwrap();
        let dir = tempfile::Builder::new()
            .prefix("kiln-cli-kube-")
            .tempdir()
            .unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let admin_kubeconfig = dir.path().join("admin-kubeconfig");
        // kiln acts as deploy/'s `kiln` service account under deploy/'s RBAC, plus the
        // port-forward a kiln outside the cluster needs (deploy/role.yaml says so).
        let child = Command::new(binary)
            .args(["--port", "0", "--kubeconfig-out"])
            .arg(&kubeconfig)
            .args(["--grant-kiln", "pods/portforward=create"])
            .arg("--admin-kubeconfig-out")
            .arg(&admin_kubeconfig)
            .args(extra)
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
        // Written before kiln's, whole.
        let admin = std::fs::read_to_string(&admin_kubeconfig).unwrap();
        let admin_token = admin
            .lines()
            .find_map(|l| l.trim().strip_prefix("token: "))
            .unwrap()
            .trim()
            .to_owned();
        Cluster {
            child,
            dir,
            url,
            admin_token,
        }
    }

    /// `GET PATH` on the API server as the administrator.
    fn admin_get(&self, path: &str) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        ureq::get(format!("{}{path}", self.url))
            .header("Authorization", format!("Bearer {}", self.admin_token))
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
        .env("KILN_AGENT_PORT", agent_port())
        .env_remove("KILN_LOG")
        .output()
        .unwrap()
}

/// `KILN_AGENT_PORT` for one `kiln run`: the fake's pods share this machine's network, so
/// builds running at the same time need agent ports of their own (room for 8 containers).
fn agent_port() -> String {
    kiln_fake_kube::free_agent_ports(8).to_string()
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
    // One pod and its token Secret made, the pod deleted at the end and the Secret with it by
    // the cluster (the pod owns it); no polling of the pod.
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
        count("PATCH /api/v1/namespaces/default/secrets/kiln-"),
        1,
        "{requests:#?}"
    );
    assert_eq!(
        count("DELETE /api/v1/namespaces/default/secrets/kiln-"),
        0,
        "{requests:#?}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = cluster
            .admin_get("/api/v1/namespaces/default/secrets")
            .call()
            .unwrap()
            .into_body()
            .read_to_string()
            .unwrap();
        let list: serde_json::Value = serde_json::from_str(&body).unwrap();
        let agent_secrets = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["metadata"]["name"].as_str())
            .filter(|name| name.starts_with("kiln-") && name.ends_with("-agent"))
            .count();
        if agent_secrets == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the pod's secret outlived it: {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
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

#[path = "../../kiln-kube/tests/support/registry.rs"]
mod registry_support;

/// A stand-in for the Kaniko executor: prints its arguments and the context it got, fails
/// when the test made `fail` next to it, else writes a digest to `--digest-file`. (It
/// cannot push: the test puts the image in the registry as Kaniko would have.)
const KANIKO_STAND_IN: &str = r#"#!/bin/sh
set -eu
echo "ARGS $0 $*"
echo "CONTEXT $(tar -tzf /workspace/.kiln/kaniko/context.tar.gz | sort | tr '\n' ' ')"
if [ -e "$(dirname "$0")/fail" ]; then
  echo "error building image: RUN exit 3" >&2
  exit 1
fi
for a in "$@"; do
  case $a in --digest-file=*) echo "sha256:$(printf '%064d' 7)" > "${a#--digest-file=}" ;; esac
done
"#;

const DOCKERFILE_STAGE: &str = r#"pipeline {
    agent none
    stages {
        stage('Build') {
            agent {
                dockerfile {
                    filename 'Dockerfile.build'
                    dir 'ci'
                    additionalBuildArgs '--build-arg X=1 --pull'
                    args '-v /tmp:/tmp'
                }
            }
            steps { sh 'cat input.txt; echo ran-in-the-image' }
        }
    }
}
"#;

/// The images of every pod the fake cluster had, by pod name (pods are gone at the end):
/// a watch read in a thread of its own.
fn record_pod_images(
    cluster: &Cluster,
) -> std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>> {
    use std::io::BufRead;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let out = seen.clone();
    let request = cluster.admin_get("/api/v1/namespaces/default/pods?watch=true");
    let (ready, started) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let response = request.call().unwrap();
        ready.send(()).unwrap();
        let reader = std::io::BufReader::new(response.into_body().into_reader());
        for line in reader.lines().map_while(Result::ok) {
            let event: serde_json::Value = serde_json::from_str(&line).unwrap();
            let pod = &event["object"];
            let name = pod["metadata"]["name"].as_str().unwrap_or_default();
            for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
                let entry = (
                    name.to_owned(),
                    c["name"].as_str().unwrap_or_default().to_owned(),
                    c["image"].as_str().unwrap_or_default().to_owned(),
                );
                let mut all = out.lock().unwrap();
                if !all.contains(&entry) {
                    all.push(entry);
                }
            }
        }
    });
    started
        .recv_timeout(Duration::from_secs(30))
        .expect("the pod watch did not start");
    seen
}

/// `kiln run --kubeconfig` of the workspace with the dockerfile agents' repository and the
/// Kaniko stand-in in `kaniko_dir`.
fn run_dockerfile_agent(
    cluster: &Cluster,
    workspace: &Path,
    registry: &str,
    kaniko_dir: &Path,
) -> (Option<i32>, String, String) {
    let port = kiln_fake_kube::free_agent_ports(1);
    let kaniko_port = kiln_fake_kube::free_agent_ports(1);
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["run", "--kubeconfig"])
        .arg(cluster.kubeconfig())
        .args([
            "--dockerfile-repository",
            &format!("{registry}/kiln-agents"),
        ])
        .arg("--dockerfile-insecure")
        .arg("Jenkinsfile")
        .current_dir(workspace)
        .env("NO_COLOR", "1")
        .env("KILN_AGENT_INSTALL", agent_install())
        .env("KILN_AGENT_PORT", port.to_string())
        .env("KILN_KANIKO_AGENT_PORT", kaniko_port.to_string())
        .env("KILN_KANIKO_EXECUTOR", kaniko_dir.join("executor"))
        .env_remove("KILN_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), stdout, stderr)
}

fn pods_created(cluster: &Cluster) -> usize {
    let requests = cluster.requests();
    requests
        .iter()
        .filter(|r| *r == "POST /api/v1/namespaces/default/pods")
        .count()
}

fn clear_requests(cluster: &Cluster) {
    ureq::delete(format!("{}/__fake/requests", cluster.url))
        .call()
        .unwrap();
}

#[test]
fn dockerfile_agents_run_in_pods_of_the_image_kaniko_built_once() {
    let registry = registry_support::TestRegistry::start();
    let cluster = Cluster::start();
    let images = record_pod_images(&cluster);
    let kaniko = tempfile::Builder::new()
        .prefix("kiln-cli-kaniko-")
        .tempdir()
        .unwrap();
    let executor = kaniko.path().join("executor");
    std::fs::write(&executor, KANIKO_STAND_IN).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&executor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let workspace = tempfile::Builder::new()
        .prefix("kiln-cli-dockerfile-")
        .tempdir()
        .unwrap();
    let ws = workspace.path();
    std::fs::write(ws.join("Jenkinsfile"), DOCKERFILE_STAGE).unwrap();
    std::fs::write(ws.join("input.txt"), "dockerfile-input\n").unwrap();
    std::fs::create_dir(ws.join("ci")).unwrap();
    let dockerfile = "FROM alpine:3.20\nARG X\nCOPY tool.txt /usr/local/share/\n";
    std::fs::write(ws.join("ci/Dockerfile.build"), dockerfile).unwrap();
    std::fs::write(ws.join("ci/tool.txt"), "tool\n").unwrap();

    // First run: Kaniko builds the image with the exact arguments, the stage runs in a pod
    // of it.
    let (code, stdout, stderr) = run_dockerfile_agent(&cluster, ws, &registry.addr, kaniko.path());
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let reference = stdout
        .lines()
        .find_map(|l| l.strip_prefix("[Build] dockerfile agent: building image "))
        .and_then(|rest| rest.strip_suffix(" from ci/Dockerfile.build with Kaniko"))
        .unwrap_or_else(|| panic!("no build line:\n{stdout}"))
        .to_owned();
    let tag = reference
        .strip_prefix(&format!("{}/kiln-agents:", registry.addr))
        .unwrap_or_else(|| panic!("{reference}"));
    assert_eq!(tag.len(), 32, "{tag}");
    let args = [
        executor.display().to_string(),
        "--context=tar:///workspace/.kiln/kaniko/context.tar.gz".into(),
        "--dockerfile=Dockerfile.build".into(),
        format!("--destination={reference}"),
        "--build-arg=X=1".into(),
        format!("--insecure-registry={}", registry.addr),
        "--digest-file=/workspace/.kiln/kaniko/image.digest".into(),
        "--cleanup".into(),
    ];
    for line in [
        "[Build] dockerfile agent: `--pull` in additionalBuildArgs does not apply to Kaniko builds (only --build-arg does)".to_owned(),
        "[Build] dockerfile agent: `args` has no effect in a pod (use a `kubernetes` agent's yaml for volumes, users and image pull secrets)".to_owned(),
        format!("[Build] [kaniko the node's platform] ARGS {}", args.join(" ")),
        "[Build] [kaniko the node's platform] CONTEXT ./ ./Dockerfile.build ./tool.txt ".to_owned(),
        "[Build] dockerfile-input".to_owned(),
        "[Build] ran-in-the-image".to_owned(),
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line:?} missing:\n{stdout}");
    }
    let pod = stdout
        .lines()
        .find_map(|l| l.strip_prefix("[Build] Running in pod "))
        .unwrap_or_else(|| panic!("no stage pod:\n{stdout}"));
    let stage_pod = (pod.to_owned(), "docker".to_owned(), reference.clone());
    saw_pod(&images, &stage_pod);
    assert_eq!(
        pods_created(&cluster),
        2,
        "a Kaniko pod and the stage's pod"
    );

    // What Kaniko would have pushed: the image under its tag.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let oci = kiln_kube::Registry::new(&registry.addr, true, None);
        let platform = kiln_kube::Platform::parse("linux/amd64").unwrap();
        registry_support::push_platform_image(&oci, "kiln-agents", tag, &platform).await;
    });

    // Second run, same Dockerfile: the registry has the tag, nothing is built.
    clear_requests(&cluster);
    let (code, stdout, stderr) = run_dockerfile_agent(&cluster, ws, &registry.addr, kaniko.path());
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let reused = format!(
        "[Build] dockerfile agent: image {reference} is in the registry already (from ci/Dockerfile.build): not built again"
    );
    assert!(
        stdout.lines().any(|l| l == reused),
        "{reused:?} missing:\n{stdout}"
    );
    assert!(!stdout.contains("[kaniko"), "{stdout}");
    assert!(stdout.contains("[Build] ran-in-the-image"), "{stdout}");
    assert_eq!(pods_created(&cluster), 1, "only the stage's pod");

    // A changed Dockerfile whose Kaniko build fails: the stage fails with Kaniko's output.
    std::fs::write(
        ws.join("ci/Dockerfile.build"),
        format!("{dockerfile}RUN exit 3\n"),
    )
    .unwrap();
    std::fs::write(kaniko.path().join("fail"), "").unwrap();
    clear_requests(&cluster);
    let (code, stdout, stderr) = run_dockerfile_agent(&cluster, ws, &registry.addr, kaniko.path());
    assert_eq!(code, Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    for line in [
        "[Build] [kaniko the node's platform] error building image: RUN exit 3",
        "[Build] ERROR: dockerfile agent: the image build failed: Kaniko for the node's platform failed with exit code 1 (its output is above)",
        "Finished: FAILURE",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "{line:?} missing:\n{stdout}"
        );
    }
    assert!(!stdout.contains("ran-in-the-image"), "{stdout}");
    assert!(!stdout.contains(&reference), "a new tag: {stdout}");
    assert_eq!(pods_created(&cluster), 1, "only the Kaniko pod");

    // A top-level `dockerfile true` agent: the build's pod is of the image built from the
    // workspace's Dockerfile.
    std::fs::remove_file(kaniko.path().join("fail")).unwrap();
    std::fs::write(ws.join("Dockerfile"), "FROM alpine:3.20\n").unwrap();
    std::fs::write(
        ws.join("Jenkinsfile"),
        "pipeline {\n  agent { dockerfile true }\n  stages { stage('Top') { steps { sh 'cat input.txt' } } }\n}\n",
    )
    .unwrap();
    let (code, stdout, stderr) = run_dockerfile_agent(&cluster, ws, &registry.addr, kaniko.path());
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.lines().any(|l| l == "[Top] dockerfile-input"),
        "{stdout}"
    );
    let reference = stderr
        .lines()
        .find_map(|l| l.strip_prefix("dockerfile agent: building image "))
        .and_then(|rest| rest.strip_suffix(" from Dockerfile with Kaniko"))
        .unwrap_or_else(|| panic!("no build line:\n{stderr}"))
        .to_owned();
    assert!(
        stderr.contains("[kaniko the node's platform] ARGS ")
            && stderr.contains("--dockerfile=Dockerfile "),
        "{stderr}"
    );
    let pod = stderr
        .lines()
        .find_map(|l| l.strip_prefix("Running in pod "))
        .unwrap_or_else(|| panic!("no build pod:\n{stderr}"));
    saw_pod(&images, &(pod.to_owned(), "docker".to_owned(), reference));
}

/// Waits (30 s at most) until the pod watch saw `entry`.
fn saw_pod(
    images: &std::sync::Mutex<Vec<(String, String, String)>>,
    entry: &(String, String, String),
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !images.lock().unwrap().contains(entry) {
        assert!(
            Instant::now() < deadline,
            "{entry:?} not in {:#?}",
            images.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

const LONG_BUILD: &str = "pipeline {
    agent { kubernetes { yaml 'spec: {containers: [{name: main, image: busybox}]}' } }
    stages { stage('Long') { steps { sh 'echo step-started; sleep 600' } } }
}
";

const QUICK_BUILD: &str = "pipeline {
    agent { kubernetes { yaml 'spec: {containers: [{name: main, image: busybox}]}' } }
    stages { stage('Quick') { steps { sh 'echo quick' } } }
}
";

/// The build pods the fake has, with their phases.
fn pod_phases(cluster: &Cluster) -> Vec<(String, String)> {
    let body = cluster
        .admin_get("/api/v1/namespaces/default/pods")
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap().to_owned(),
                p["status"]["phase"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn secret_exists(cluster: &Cluster, name: &str) -> bool {
    match cluster
        .admin_get(&format!("/api/v1/namespaces/default/secrets/{name}"))
        .call()
    {
        Ok(_) => true,
        Err(ureq::Error::StatusCode(404)) => false,
        Err(e) => panic!("reading secret {name}: {e}"),
    }
}

/// `kill -9` of `kiln run --kubeconfig` mid-step: nobody deletes the pod, but its agent
/// notices its controller gone (KILN_AGENT_ORPHAN_GRACE=2), kills the step and exits, so the
/// pod ends; the next `kiln run` deletes it and its Secret.
#[test]
fn a_killed_kiln_run_leaves_no_pod_running_and_the_next_run_collects_it() {
    use std::io::BufRead;
    let cluster = Cluster::start();
    let workspace = tempfile::Builder::new()
        .prefix("kiln-cli-kube-kill-")
        .tempdir()
        .unwrap();
    std::fs::write(workspace.path().join("Jenkinsfile"), LONG_BUILD).unwrap();
    let mut kiln = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("run")
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .arg("Jenkinsfile")
        .current_dir(workspace.path())
        .env("NO_COLOR", "1")
        .env("KILN_AGENT_INSTALL", agent_install())
        .env("KILN_AGENT_ORPHAN_GRACE", "2")
        .env("KILN_AGENT_PORT", agent_port())
        .env_remove("KILN_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(kiln.stdout.take().unwrap());
    let mut seen = String::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("step-started") {
            break;
        }
    }
    assert!(seen.contains("step-started"), "{seen}");
    kiln.kill().unwrap(); // SIGKILL
    kiln.wait().unwrap();
    let pods = pod_phases(&cluster);
    assert_eq!(pods.len(), 1, "{pods:?}");
    let pod = pods[0].0.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let phase = pod_phases(&cluster)
            .into_iter()
            .find(|(name, _)| *name == pod)
            .map(|(_, phase)| phase);
        if matches!(phase.as_deref(), Some("Failed" | "Succeeded")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the orphaned pod still runs: {phase:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(secret_exists(&cluster, &format!("{pod}-agent")));
    // A finished pod is collected once it has been finished for 10 s.
    std::thread::sleep(Duration::from_secs(11));
    std::fs::write(workspace.path().join("Jenkinsfile"), QUICK_BUILD).unwrap();
    let out = kiln_run(&cluster, workspace.path(), &agent_install());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left: Vec<_> = pod_phases(&cluster)
        .into_iter()
        .filter(|(name, _)| *name == pod)
        .collect();
    assert!(left.is_empty(), "the finished pod is still there: {left:?}");
    assert!(!secret_exists(&cluster, &format!("{pod}-agent")));
}

/// `POST /__fake/...` on the fake cluster.
fn fake_admin(cluster: &Cluster, path_and_query: &str) {
    ureq::post(format!("{}/__fake/{path_and_query}", cluster.url))
        .send_empty()
        .unwrap();
}

const BIG_FLAKY_POD: &str = r#"pipeline {
    agent {
        kubernetes {
            yaml '''
spec:
  containers:
  - name: big
    image: registry.example/flaky:1
    resources:
      requests: {cpu: "6"}
'''
        }
    }
    stages {
        stage('Work') {
            steps { sh 'echo started-after-scale-up-and-pulls' }
        }
    }
}
"#;

#[test]
fn a_starting_pods_events_and_retried_pulls_are_in_the_build_log() {
    let cluster = Cluster::start();
    // The pod fits no node but one the autoscaler adds; the registry answers 429 twice.
    fake_admin(
        &cluster,
        "autoscaler?delayMs=300&maxNodes=1&cpu=8&memory=16Gi",
    );
    fake_admin(
        &cluster,
        "faults/image-pull?image=registry.example/flaky:1&count=2",
    );
    let (_workspace, stdout, stderr) =
        run_with_input(&cluster, "kiln-cli-kube-events-", BIG_FLAKY_POD, "");
    assert!(
        stdout.contains("[Work] started-after-scale-up-and-pulls"),
        "{stdout}"
    );
    let pod = stderr
        .lines()
        .find_map(|l| l.strip_prefix("Running in pod "))
        .unwrap_or_else(|| panic!("{stderr}"));
    let said = |kind: &str, reason: &str| -> Vec<&str> {
        let prefix = format!("[{kind}][default/{pod}][{reason}] ");
        stderr
            .lines()
            .filter_map(|l| l.strip_prefix(prefix.as_str()))
            .collect()
    };
    // The scheduler's message, the autoscaler's scale-up, then the pulls, as they came.
    let scheduling = said("Warning", "FailedScheduling");
    assert!(
        scheduling
            .iter()
            .any(|m| m.starts_with("0/1 nodes are available: 1 Insufficient cpu.")),
        "{stderr}"
    );
    assert_eq!(said("Normal", "TriggeredScaleUp").len(), 1, "{stderr}");
    let pulls = said("Warning", "Failed");
    let refused = "Failed to pull image \"registry.example/flaky:1\": ";
    let refusals: Vec<&&str> = pulls.iter().filter(|m| m.starts_with(refused)).collect();
    // Two refusals with the same message: said once.
    assert_eq!(refusals.len(), 1, "{stderr}");
    assert!(
        refusals[0].ends_with("429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit"),
        "{stderr}"
    );
    assert_eq!(
        pulls
            .iter()
            .filter(|m| **m == "Error: ErrImagePull")
            .count(),
        1,
        "{stderr}"
    );
    // kiln's own count of the failed pulls, against `image_pull.retries` (4).
    for n in [1, 2] {
        let line = format!(
            "kiln: pulling image `registry.example/flaky:1` for container `big` failed ({n} of 5 tries)"
        );
        assert!(stderr.contains(&line), "{line} missing:\n{stderr}");
    }
    assert!(!stderr.contains("(3 of 5 tries)"), "{stderr}");
    // Events the watch found already may come in any order: scheduling first, then pulls.
    let scheduling_said = ["[FailedScheduling]", "[TriggeredScaleUp]"]
        .iter()
        .filter_map(|part| stderr.find(part))
        .max();
    assert!(scheduling_said < stderr.find("[Scheduled]"), "{stderr}");
    let order: Vec<usize> = [
        "[Scheduled]",
        "[Pulling]",
        "Error: ErrImagePull",
        "(2 of 5 tries)",
        "Running in pod",
    ]
    .iter()
    .map(|part| {
        stderr
            .find(part)
            .unwrap_or_else(|| panic!("{part} missing:\n{stderr}"))
    })
    .collect();
    assert!(order.is_sorted(), "{order:?}\n{stderr}");
}

/// This machine's Python interpreter, for tiny HTTP servers in service containers (the fake's
/// containers see the host's files); the test fails when there is none.
fn python() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 is needed to serve HTTP from the test's service containers");
    assert!(out.status.success(), "python3 does not run");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A step that waits (up to 10 s) for an HTTP server on 127.0.0.1:`port`, then says `word`.
fn reach(port: u16, word: &str) -> String {
    format!(
        "sh 'for i in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:{port}/ && echo {word} && exit 0; sleep 0.1; done; exit 1'"
    )
}

#[test]
fn service_containers_and_native_sidecars_keep_their_own_commands() {
    assert!(
        Path::new("/usr/bin/curl").exists(),
        "the steps of this test need /usr/bin/curl"
    );
    let python = python();
    let ports = kiln_fake_kube::free_agent_ports(3);
    let (sidecar, service, image_service) = (ports, ports + 1, ports + 2);
    // `main`'s image has an entrypoint that fails at once: kiln's agent replaces it. The
    // `cache` image's entrypoint is an HTTP server: as a service it keeps it.
    let cluster = Cluster::start_with(&[
        "--image".to_owned(),
        "registry.example/exits:1=/bin/false".to_owned(),
        "--image".to_owned(),
        format!(
            "registry.example/cache:1={python} -m http.server {image_service} --bind 127.0.0.1"
        ),
    ]);
    let jenkinsfile = format!(
        r#"pipeline {{
    agent {{
        kubernetes {{
            defaultContainer 'main'
            yaml '''
metadata:
  annotations:
    kiln.dev/services: cache
spec:
  initContainers:
  - name: web
    image: busybox
    restartPolicy: Always
    command: ["{python}", "-m", "http.server", "{sidecar}", "--bind", "127.0.0.1"]
  containers:
  - name: main
    image: registry.example/exits:1
  - name: db
    image: busybox
    command: ["sh", "-c", "echo db-started > /workspace/db-ran; exec {python} -m http.server {service} --bind 127.0.0.1"]
  - name: cache
    image: registry.example/cache:1
'''
        }}
    }}
    stages {{
        stage('Use') {{
            steps {{
                sh 'cat db-ran'
                {}
                {}
                {}
                catchError(buildResult: 'SUCCESS', stageResult: 'SUCCESS') {{
                    container('db') {{ sh 'echo never-runs' }}
                }}
            }}
        }}
    }}
}}
"#,
        reach(sidecar, "sidecar-reachable"),
        reach(service, "service-reachable"),
        reach(image_service, "image-service-reachable"),
    );
    let (_workspace, stdout, _) =
        run_with_input(&cluster, "kiln-cli-kube-services-", &jenkinsfile, "");
    for line in [
        "[Use] db-started",
        "[Use] sidecar-reachable",
        "[Use] service-reachable",
        "[Use] image-service-reachable",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "{line:?} missing:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("container `db` of pod kiln-")
            && stdout.contains("is a service: it runs its own command, not kiln's agent"),
        "{stdout}"
    );
    assert!(!stdout.contains("never-runs"), "{stdout}");
}

/// A pipeline's pod (in `default`, which the test makes "restricted"); `security` is the pod's
/// securityContext.
fn secure_pipeline(security: &str) -> String {
    format!(
        r#"pipeline {{
    agent {{
        kubernetes {{
            yaml '''
spec:
  securityContext: {security}
  containers:
  - name: main
    image: busybox
'''
        }}
    }}
    stages {{
        stage('Run') {{ steps {{ sh 'echo ran-under-restricted' }} }}
    }}
}}
"#
    )
}

#[test]
fn build_pods_pass_pod_security_restricted_once_the_template_runs_as_non_root() {
    let cluster = Cluster::start();
    // kiln's account has its rights in `default`: that namespace enforces "restricted".
    let labels = serde_json::json!({"metadata": {
        "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}});
    ureq::patch(format!("{}/api/v1/namespaces/default", cluster.url))
        .header("Authorization", format!("Bearer {}", cluster.admin_token))
        .header("Content-Type", "application/merge-patch+json")
        .send(labels.to_string())
        .unwrap();
    // Only the images can allow running as non-root: the pod says so; kiln's defaults and its
    // own init container do the rest (seccomp, no escalation, no capabilities).
    let (_workspace, stdout, _) = run_with_input(
        &cluster,
        "kiln-cli-kube-restricted-",
        &secure_pipeline("{runAsNonRoot: true, runAsUser: 1000}"),
        "",
    );
    assert!(stdout.contains("[Run] ran-under-restricted"), "{stdout}");
    // Without it the pod is refused, for that alone.
    let workspace = tempfile::Builder::new()
        .prefix("kiln-cli-kube-refused-")
        .tempdir()
        .unwrap();
    std::fs::write(workspace.path().join("Jenkinsfile"), secure_pipeline("{}")).unwrap();
    let out = kiln_run(&cluster, workspace.path(), &agent_install());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("violates PodSecurity \"restricted:latest\": runAsNonRoot != true"),
        "{stderr}"
    );
    for other in ["allowPrivilegeEscalation", "capabilities", "seccompProfile"] {
        assert!(!stderr.contains(other), "{other}: {stderr}");
    }
}

const ORPHAN_STEP: &str = r#"pipeline {
    agent { kubernetes { yaml 'spec: {containers: [{name: main, image: busybox}]}' } }
    stages {
        stage('Orphan') {
            steps {
                sh '''
                    # The subshell exits at once: its `sleep` is an orphan.
                    (sleep 1 & echo $! > orphan.pid)
                    orphan=$(cat orphan.pid)
                    init=$(cut -d' ' -f4 /proc/$PPID/stat)
                    parent=$(cut -d' ' -f4 /proc/$orphan/stat)
                    [ "$parent" = "$init" ] && echo orphan-adopted-by-the-agents-init
                    sleep 3
                    if [ -e /proc/$orphan ]; then echo "left: $(cat /proc/$orphan/stat)"; exit 1; fi
                    echo orphan-reaped
                '''
            }
        }
    }
}
"#;

#[test]
fn the_agents_init_adopts_and_reaps_a_steps_orphans() {
    let cluster = Cluster::start();
    let (_workspace, stdout, _) =
        run_with_input(&cluster, "kiln-cli-kube-orphan-", ORPHAN_STEP, "");
    for line in [
        "[Orphan] orphan-adopted-by-the-agents-init",
        "[Orphan] orphan-reaped",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "{line:?} missing:\n{stdout}"
        );
    }
}

/// `kiln run --kubeconfig` of `jenkinsfile` in a fresh workspace, started; returns it (its
/// stdout read up to the line holding `marker`), what it printed so far, the rest of its
/// stdout, and the workspace.
fn kiln_run_until(
    cluster: &Cluster,
    jenkinsfile: &str,
    marker: &str,
) -> (
    Child,
    String,
    std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
    tempfile::TempDir,
) {
    use std::io::BufRead;
    let workspace = tempfile::Builder::new()
        .prefix("kiln-cli-kube-until-")
        .tempdir()
        .unwrap();
    std::fs::write(workspace.path().join("Jenkinsfile"), jenkinsfile).unwrap();
    let mut kiln = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("run")
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .arg("Jenkinsfile")
        .current_dir(workspace.path())
        .env("NO_COLOR", "1")
        .env("KILN_AGENT_INSTALL", agent_install())
        .env("KILN_AGENT_PORT", agent_port())
        .env_remove("KILN_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(kiln.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(marker) {
            return (kiln, seen, lines, workspace);
        }
    }
    let out = kiln.wait_with_output().unwrap();
    panic!(
        "no {marker:?} in\n{seen}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The rest of a started `kiln run`: its exit, all of its stdout and its stderr.
fn finish(
    kiln: Child,
    mut seen: String,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
) -> (std::process::ExitStatus, String, String) {
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    let out = kiln.wait_with_output().unwrap();
    (
        out.status,
        seen,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The fake's request log, whole.
fn request_records(cluster: &Cluster) -> Vec<serde_json::Value> {
    let body = ureq::get(format!("{}/__fake/requests", cluster.url))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

const STEP_OF_SECONDS: &str = "pipeline {
    agent { kubernetes { yaml 'spec: {containers: [{name: main, image: busybox}]}' } }
    stages { stage('Wait') { steps { sh 'echo step-started; sleep 9; echo step-ended' } } }
}
";

/// Issue 15 item 1: the API server's watch cache is compacted while a step runs (as after
/// its restart); the pod's watch gets `410 Expired` and kiln re-lists and watches again with
/// a few requests, not a storm, and the build goes on.
#[test]
fn a_410_during_a_step_costs_kiln_run_a_few_requests_not_a_storm() {
    let cluster = Cluster::start();
    let (kiln, seen, lines, _workspace) = kiln_run_until(&cluster, STEP_OF_SECONDS, "step-started");
    let pods = pod_phases(&cluster);
    assert_eq!(pods.len(), 1, "{pods:?}");
    let pod = pods[0].0.clone();
    clear_requests(&cluster);
    fake_admin(&cluster, "faults/expire-watches");
    // The step sleeps on: whatever kiln asks about its pod in these 6 s is the 410's cost
    // (a watch's requests take tokens of a bucket refilled every 5 s).
    std::thread::sleep(Duration::from_secs(6));
    let about_the_pod: Vec<serde_json::Value> = request_records(&cluster)
        .into_iter()
        .filter(|r| {
            let (path, query) = (r["path"].as_str().unwrap(), r["query"].as_str().unwrap());
            !path.ends_with("/portforward") && (path.contains(&pod) || query.contains(&pod))
        })
        .collect();
    assert!(
        !about_the_pod.is_empty() && about_the_pod.len() <= 10,
        "{} requests: {about_the_pod:#?}",
        about_the_pod.len()
    );
    // The pod was listed again (a field selector on its name) and watched from the list's
    // resourceVersion.
    let (lists, watches): (Vec<_>, Vec<_>) =
        about_the_pod.iter().partition(|r| r["watch"] == false);
    assert!(
        lists.iter().any(|r| r["method"] == "GET"
            && r["path"] == "/api/v1/namespaces/default/pods"
            && r["query"]
                .as_str()
                .unwrap()
                .contains("fieldSelector=metadata.name")),
        "{about_the_pod:#?}"
    );
    assert!(
        watches
            .iter()
            .any(|r| r["query"].as_str().unwrap().contains("resourceVersion=")),
        "{about_the_pod:#?}"
    );
    let (status, stdout, stderr) = finish(kiln, seen, lines);
    assert!(status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("[Wait] step-ended"), "{stdout}");
}

/// `kiln run` of [`QUICK_BUILD`] in a fresh workspace (named with `prefix`) succeeds.
fn quick_build_succeeds(cluster: &Cluster, prefix: &str) {
    let workspace = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    std::fs::write(workspace.path().join("Jenkinsfile"), QUICK_BUILD).unwrap();
    let out = kiln_run(cluster, workspace.path(), &agent_install());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("[Quick] quick"), "{stdout}");
}

/// Issue 15 item 4: the API server answers 503 to the next requests about pods (a
/// control-plane upgrade); kiln retries with back-off within its budget and the build runs.
#[test]
fn seconds_of_503s_from_the_api_server_do_not_fail_kiln_run() {
    let cluster = Cluster::start();
    fake_admin(&cluster, "faults/fail-requests?path=/pods&count=4&code=503");
    quick_build_succeeds(&cluster, "kiln-cli-kube-503-");
    let failed = request_records(&cluster)
        .into_iter()
        .filter(|r| r["status"] == 503)
        .count();
    assert_eq!(failed, 4, "the fake answered 503 four times");
}

/// Issue 15 item 4: the API server makes the agent Secret and the build pod but answers
/// each create `504 Timeout` (the request outlived its timeout; the pod's answer comes 2 s
/// late, when the pod has started); kiln retries, meets `409 AlreadyExists`, finds the
/// objects are the ones it sent and adopts them, and the build runs in that pod.
#[test]
fn creates_that_timed_out_after_they_were_made_are_adopted_by_kiln_run() {
    let cluster = Cluster::start();
    fake_admin(
        &cluster,
        "faults/lose-answers?method=POST&path=/api/v1/namespaces/default/secrets&code=504",
    );
    fake_admin(
        &cluster,
        "faults/lose-answers?method=POST&path=/api/v1/namespaces/default/pods&code=504&delayMs=2000",
    );
    quick_build_succeeds(&cluster, "kiln-cli-kube-adopt-");
    let creates = |plural: &str| -> Vec<u64> {
        request_records(&cluster)
            .into_iter()
            .filter(|r| {
                r["method"] == "POST" && r["path"] == format!("/api/v1/namespaces/default/{plural}")
            })
            .map(|r| r["status"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(creates("secrets"), [504, 409], "made, then found made");
    assert_eq!(creates("pods"), [504, 409], "made, then found made");
    // The pod made (and adopted) ran the build, and kiln deleted it at the end: it goes
    // once its containers have stopped.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = pod_phases(&cluster);
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "never deleted: {left:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Issue 15 item 9: the node of a running build pod is lost (its kubelet stops reporting);
/// kiln reads the node's Ready condition and fails the step naming the node, long before the
/// pod would be evicted (the fake's eviction grace stays 300 s).
#[test]
fn a_lost_node_fails_kiln_runs_step_naming_the_node() {
    let cluster = Cluster::start();
    let (kiln, seen, lines, _workspace) = kiln_run_until(&cluster, LONG_BUILD, "step-started");
    let lost = Instant::now();
    fake_admin(&cluster, "nodes/fake-node-1/lose");
    let (status, stdout, stderr) = finish(kiln, seen, lines);
    assert!(!status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("node fake-node-1 lost"), "{all}");
    assert!(
        lost.elapsed() < Duration::from_secs(120),
        "noticed after {:?}",
        lost.elapsed()
    );
}

/// `POST PATH` on the API server as the administrator, with a JSON body; the status.
fn admin_post(cluster: &Cluster, path: &str, body: &serde_json::Value) -> u16 {
    ureq::post(format!("{}{path}", cluster.url))
        .header("Authorization", format!("Bearer {}", cluster.admin_token))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap()
        .status()
        .as_u16()
}

const CLAIM_BUILD: &str = r#"pipeline {
    agent {
        kubernetes {
            yaml '''
spec:
  containers:
  - name: main
    image: busybox
    volumeMounts:
    - {name: cache, mountPath: /cache}
  volumes:
  - name: cache
    persistentVolumeClaim: {claimName: kiln-cache}
'''
        }
    }
    stages {
        stage('Cache') {
            steps { sh 'cat /cache/seen 2>/dev/null || echo first-build; echo kept > /cache/seen' }
        }
    }
}
"#;

/// The fake checks that a pod's PersistentVolumeClaim exists and mounts it: a build's
/// cache claim outlives its pod, so the next build finds what the first wrote there.
#[test]
fn a_claim_a_build_pod_mounts_keeps_its_files_for_the_next_build() {
    let cluster = Cluster::start();
    let claim = serde_json::json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "kiln-cache"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
    let created = admin_post(
        &cluster,
        "/api/v1/namespaces/default/persistentvolumeclaims",
        &claim,
    );
    assert_eq!(created, 201);
    let workspace = tempfile::Builder::new()
        .prefix("kiln-cli-kube-claim-")
        .tempdir()
        .unwrap();
    std::fs::write(workspace.path().join("Jenkinsfile"), CLAIM_BUILD).unwrap();
    let mut seen = Vec::new();
    for _ in 0..2 {
        let out = kiln_run(&cluster, workspace.path(), &agent_install());
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
        seen.push(stdout);
    }
    assert!(seen[0].contains("[Cache] first-build"), "{}", seen[0]);
    assert!(seen[1].contains("[Cache] kept"), "{}", seen[1]);
}

/// The fake checks that a pod's service account exists, as the API server's admission does:
/// `kiln run` fails before any step, saying which account is missing.
#[test]
fn a_pod_of_a_missing_service_account_is_refused_naming_it() {
    let cluster = Cluster::start();
    let workspace = tempfile::Builder::new()
        .prefix("kiln-cli-kube-sa-")
        .tempdir()
        .unwrap();
    let jenkinsfile = QUICK_BUILD.replace(
        "kubernetes { yaml",
        "kubernetes { serviceAccount 'builder'; yaml",
    );
    assert_ne!(jenkinsfile, QUICK_BUILD);
    std::fs::write(workspace.path().join("Jenkinsfile"), jenkinsfile).unwrap();
    let out = kiln_run(&cluster, workspace.path(), &agent_install());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains("serviceaccount \"builder\" not found"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(!stdout.contains("[Quick] quick"), "{stdout}");
}
