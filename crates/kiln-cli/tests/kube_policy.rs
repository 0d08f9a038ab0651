//! `kiln server`'s pod policy end to end: the real binary, the fake cluster (in this process)
//! with kiln acting as deploy/'s service account, and pipelines asking for what a build must
//! not get: the controller's service account, privileged containers, host paths, the host's
//! network, secrets in volumes, another namespace. Each build fails before kiln sends any
//! request for its pod, its log naming the refused field; an ordinary pod still runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::*;

/// A pipeline whose pod is `busybox` with `options` in its `kubernetes { }` block and `spec`
/// (YAML lines under `spec:`, indented two spaces; more containers after `main` in
/// `containers`, indented likewise) in its pod.
fn pipeline(options: &str, spec: &str, containers: &str) -> String {
    format!(
        "pipeline {{
  agent {{
    kubernetes {{
      {options}
      yaml '''
spec:
{spec}  containers:
  - name: main
    image: busybox
{containers}'''
    }}
  }}
  stages {{
    stage('Build') {{ steps {{ sh 'echo should-not-run' }} }}
  }}
}}
"
    )
}

/// A build whose own pod is fine but whose stage's pod asks for a privileged container.
const PRIVILEGED_STAGE: &str = "pipeline {
  agent none
  stages {
    stage('Build') {
      agent { kubernetes { yaml '''
spec:
  containers:
  - name: main
    image: busybox
    securityContext: {privileged: true}
''' } }
      steps { sh 'echo should-not-run' }
    }
  }
}
";

/// The jobs, each with the line its build log must hold.
fn refused_jobs() -> Vec<(&'static str, String, &'static str)> {
    let privileged =
        "  - name: side\n    image: busybox\n    securityContext: {privileged: true}\n";
    vec![
        (
            "account",
            pipeline("serviceAccount 'kiln'", "", ""),
            "spec.serviceAccountName: service account `kiln` is not allowed (pod_policy.service_accounts)",
        ),
        (
            "privileged",
            // The default container is `main`; the second one asks.
            pipeline("", "", privileged),
            "spec.containers[1].securityContext.privileged: privileged containers are not allowed (pod_policy.allow_privileged)",
        ),
        (
            "hostpath",
            pipeline(
                "",
                "  volumes:\n  - name: host\n    hostPath: {path: /etc}\n",
                "",
            ),
            "spec.volumes[0].hostPath: hostPath volumes are not allowed (`/etc`; pod_policy.allow_host_path)",
        ),
        (
            "hostnetwork",
            pipeline("", "  hostNetwork: true\n", ""),
            "spec.hostNetwork: the node's namespaces are not allowed (pod_policy.allow_host_network)",
        ),
        (
            "secret",
            pipeline(
                "",
                "  volumes:\n  - name: tokens\n    secret: {secretName: kiln-tokens}\n",
                "",
            ),
            "spec.volumes[0].secret: secret `kiln-tokens` is not allowed (pod_policy.allow_secrets; pipelines get secrets through credentials)",
        ),
        (
            "namespace",
            pipeline("namespace 'kube-system'", "", ""),
            "metadata.namespace: namespace `kube-system` is not allowed (pod_policy.namespaces)",
        ),
        (
            "stage",
            PRIVILEGED_STAGE.to_owned(),
            "spec.containers[0].securityContext.privileged: privileged containers are not allowed (pod_policy.allow_privileged)",
        ),
    ]
}

/// The test's directory with one `dir:` job per pipeline, and the fake cluster; the server's
/// configuration has `executors.kubernetes` with the default pod policy.
struct Env {
    root: PathBuf,
    config: PathBuf,
    cluster: FakeCluster,
    _dir: tempfile::TempDir,
}

impl Env {
    fn new(jobs: &[(&str, String)]) -> Env {
        let dir = tempfile::Builder::new()
            .prefix("kiln-kube-policy-")
            .tempdir()
            .unwrap();
        let root = dir.path().to_path_buf();
        let cluster = FakeCluster::start(&root);
        let mut yaml = format!(
            "server:\n  tokens:\n    - {{name: e2e, token: {TOKEN}, role: admin}}\njobs:\n"
        );
        for (name, text) in jobs {
            let job_dir = root.join("jobs").join(name);
            std::fs::create_dir_all(&job_dir).unwrap();
            std::fs::write(job_dir.join("Jenkinsfile"), text).unwrap();
            yaml.push_str(&format!(
                "  - name: {name}\n    dir: {}\n",
                job_dir.display()
            ));
        }
        // The default policy: the helper's `allow_host_path` (for other tests' gates) is not
        // wanted here.
        let executors = cluster
            .executor_yaml(true)
            .replace("    pod_policy: {allow_host_path: true}\n", "");
        assert!(!executors.contains("pod_policy"), "{executors}");
        yaml.push_str(&executors);
        let config = root.join("kiln.yaml");
        std::fs::write(&config, yaml).unwrap();
        Env {
            root,
            config,
            cluster,
            _dir: dir,
        }
    }

    fn server(&self) -> Server {
        let vars = [("KILN_AGENT_INSTALL", &self.cluster.install)];
        Server::start(&self.root, &self.config, "127.0.0.1:0", vars)
    }
}

/// Waits for `job#1` to finish; the build and its log.
fn finished(root: &Path, server: &Server, job: &str) -> (Value, String) {
    let log = || {
        String::from_utf8_lossy(&kiln(server, &["logs", &format!("{job}#1")]).stdout).into_owned()
    };
    for _ in 0..1200 {
        let b = build(server, job, 1);
        if b["status"] == "finished" {
            return (b, log());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let server_log = std::fs::read_to_string(root.join("server.log")).unwrap_or_default();
    panic!(
        "{job}#1 did not finish:\n{}\n--- server log:\n{server_log}",
        log()
    );
}

#[test]
fn the_servers_pod_policy_refuses_escalations_before_any_request_naming_the_field() {
    let refused = refused_jobs();
    let mut jobs: Vec<(&str, String)> = refused
        .iter()
        .map(|(name, text, _)| (*name, text.clone()))
        .collect();
    let plain = pipeline("", "", "").replace("should-not-run", "plain-pod-ran");
    jobs.push(("plain", plain));
    let env = Env::new(&jobs);
    let server = env.server();
    // What the server asked at its start (the orphan sweep) is not the builds'.
    env.cluster.fake().clear_requests();
    for (job, _, field) in &refused {
        kiln_ok(&server, &["trigger", job]);
        let (b, log) = finished(&env.root, &server, job);
        assert_eq!(b["result"], "FAILURE", "{job}: {b}\n{log}");
        let line = format!("the pod is refused by executors.kubernetes.pod_policy: {field}");
        assert!(log.contains(&line), "{job}: wanted {line:?} in\n{log}");
        assert!(!log.contains("should-not-run\n"), "{job}: {log}");
    }
    // Nothing was asked of the cluster for any of them: no pod, no Secret, no watch. The
    // only requests are the server's sweeps for orphans (a LIST of kiln's pods by label),
    // made when it first connects.
    let requests = env.cluster.fake().requests();
    let sweep = |r: &kiln_fake_kube::RequestRecord| {
        r.method == "GET"
            && !r.watch
            && r.path == "/api/v1/namespaces/default/pods"
            && r.query.contains("labelSelector=kiln.dev%2Fjob")
    };
    assert!(requests.iter().all(sweep), "{requests:#?}");
    // The same server, cluster and policy run an ordinary pod, as deploy/'s account.
    kiln_ok(&server, &["trigger", "plain"]);
    let (b, log) = finished(&env.root, &server, "plain");
    assert_eq!(b["result"], "SUCCESS", "{b}\n{log}");
    assert!(log.contains("[Build] plain-pod-ran\n"), "{log}");
    let created = env.cluster.fake().requests();
    assert!(
        created
            .iter()
            .any(|r| r.method == "POST" && r.path == "/api/v1/namespaces/default/pods"),
        "{created:#?}"
    );
}
