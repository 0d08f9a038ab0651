//! The `docker` global in a Kubernetes build, end to end: the real `kiln server`, the fake
//! cluster (its kubelet runs each container as a local process), the real kiln-agent dialling
//! kiln, and a Kaniko stand-in that prints its arguments and the registry login it was given
//! and writes the digest Kaniko would. `inside` runs in a pod of its own on a copy of the
//! build's workspace that comes back; `push` is a Kaniko build logged in with
//! `withRegistry`'s credentials. (A single-platform push is Kaniko's alone, so no registry
//! is contacted by kiln here.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The Kaniko stand-in.
const STAND_IN: &str = r#"#!/bin/sh
set -eu
echo "ARGS $*"
echo "LOGIN $(tr -d ' \n' < "$DOCKER_CONFIG/config.json")"
echo "DIGEST" > /workspace/.kiln/kaniko/image.digest
"#;

const PIPELINE: &str = r#"pipeline {
  agent { kubernetes { yaml '''
spec:
  containers:
  - name: work
    image: busybox
''' } }
  stages {
    stage('Image') {
      steps {
        sh 'printf "FROM scratch\\n" > Dockerfile; echo from-the-build > data.txt'
        script {
          def img = docker.build('team/app:1.0', '.')
          docker.withRegistry('http://reg.example:5000', 'reg') {
            img.push()
          }
          docker.image('busybox').inside {
            sh 'cat data.txt; echo made-inside > inside.txt'
          }
        }
        sh 'echo "back: $(cat inside.txt)"'
      }
    }
  }
}
"#;

#[test]
fn inside_runs_in_a_pod_of_the_image_and_push_builds_with_kaniko_and_the_login() {
    let dir = tempfile::Builder::new()
        .prefix("kiln-docker-pods-")
        .tempdir()
        .unwrap();
    let root = dir.path().to_path_buf();
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("Jenkinsfile"), PIPELINE).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "pipeline"]);
    let stand_in = root.join("executor");
    std::fs::write(&stand_in, STAND_IN.replace("DIGEST", DIGEST)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cluster = FakeCluster::start(&root);
    let yaml = format!(
        "server:\n  tokens:\n    - {{name: e2e, token: {TOKEN}, role: admin}}\n\
jobs:\n  - name: app\n    repo: file://{repo}\n\
credentials:\n  - {{id: reg, username: ci, password: example-registry-password}}\n\
{executors}    kaniko:\n      executor: {stand_in}\n",
        repo = repo.display(),
        executors = cluster.executor_yaml(true),
        stand_in = stand_in.display(),
    );
    let config = root.join("kiln.yaml");
    std::fs::write(&config, yaml).unwrap();
    let vars = [("KILN_AGENT_INSTALL", &cluster.install)];
    let server = Server::start(&root, &config, "127.0.0.1:0", vars);
    let out = kiln(&server, &["trigger", "app", "--follow"]);
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    let server_log = || std::fs::read_to_string(root.join("server.log")).unwrap_or_default();
    assert_eq!(out.status.code(), Some(0), "{log}\n{}", server_log());
    for line in [
        "[Image] from-the-build".to_owned(),
        "[Image] back: made-inside".to_owned(),
        format!("[Image] image.push: pushed reg.example:5000/team/app:1.0@{DIGEST}"),
    ] {
        assert!(log.lines().any(|l| l == line), "{line:?} missing:\n{log}");
    }
    assert!(
        log.contains("--dockerfile=Dockerfile --destination=reg.example:5000/team/app:1.0"),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.starts_with("[Image] image.inside: copied ")
                && l.ends_with(" workspace files back")),
        "{log}"
    );
    // The login Kaniko read is withRegistry's (its encoded password masked in the log).
    assert!(
        log.contains(r#"LOGIN {"auths":{"reg.example:5000":{"auth":"****"}}}"#),
        "{log}"
    );
    assert!(!log.contains("example-registry-password"), "{log}");
    let creates = cluster
        .fake()
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/pods"))
        .count();
    assert_eq!(
        creates, 3,
        "the build's pod, the Kaniko pod and the inside pod\n{log}"
    );
    drop(server);
    cluster.shutdown();
}
