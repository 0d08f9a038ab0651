//! Dockerfile agents on the server: with `executors.kubernetes.dockerfile_agents`, the
//! top-level `dockerfile true` agent and a stage's `dockerfile { dir 'ci' }` agent each get
//! their image built by Kaniko (a stand-in for its executor in the fake cluster's Kaniko pod)
//! from the job's workspace, pushed under a digest tag, and run as pods of it; a second build
//! finds the tags in the registry (a real one on 127.0.0.1) and builds nothing.

use crate::kube::free_base_port;
use crate::kube_stages::{pod_deleted, pod_of, pulled_images, start};
use crate::support::{Env, user};
use kiln_types::BuildResult;

#[path = "../../../kiln-kube/tests/support/registry.rs"]
mod registry_support;

/// Prints its arguments, writes a digest to `--digest-file`.
const KANIKO_STAND_IN: &str = r#"#!/bin/sh
set -eu
echo "ARGS $*"
for a in "$@"; do
  case $a in --digest-file=*) echo "sha256:$(printf '%064d' 9)" > "${a#--digest-file=}" ;; esac
done
"#;

const PIPELINE: &str = r#"pipeline {
  agent { dockerfile true }
  environment { NODE_MAJOR = '22' }
  stages {
    stage('Build') {
      steps { sh 'cat input.txt; cat /etc/os-release >/dev/null; echo in-the-top-level-image' }
    }
    stage('Lint') {
      agent { dockerfile { dir 'ci'; additionalBuildArgs "--build-arg NODE=${env.NODE_MAJOR}" } }
      steps { sh 'echo linted' }
    }
  }
}
"#;

/// The image a `dockerfile agent: building image REF from FILE with Kaniko` line names.
fn built(log: &str, prefix: &str, from: &str) -> Option<String> {
    log.lines().find_map(|l| {
        l.strip_prefix(&format!("{prefix}dockerfile agent: building image "))?
            .strip_suffix(&format!(" from {from} with Kaniko"))
            .map(str::to_owned)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dockerfile_agents_run_as_pods_of_images_kiln_builds_once() {
    let registry = registry_support::TestRegistry::start();
    let env = Env::new();
    let src = env.tmp.path().join("src").join("dockerfiles");
    std::fs::create_dir_all(src.join("ci")).unwrap();
    std::fs::write(src.join("Dockerfile"), "FROM alpine:3.20\n").unwrap();
    std::fs::write(src.join("ci/Dockerfile"), "FROM node:22-alpine\nARG NODE\n").unwrap();
    let executor = env.tmp.path().join("kaniko-executor");
    std::fs::write(&executor, KANIKO_STAND_IN).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&executor, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Agents dial kiln: the fake's pods share one network.
    let port = free_base_port(1);
    let addr = &registry.addr;
    let more = format!(
        "    controller_url: tcp://127.0.0.1:{port}\n    agent_listen: 127.0.0.1:{port}\n    kaniko: {{executor: '{}'}}\n    dockerfile_agents: {{repository: '{addr}/agents', insecure: true}}\n",
        executor.display()
    );
    let (fake, h) = start(&env, "dockerfiles", PIPELINE, &more).await;

    let id = h.trigger(user("dockerfiles")).await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    let top = built(&log, "", "Dockerfile").unwrap_or_else(|| panic!("{log}"));
    let stage = built(&log, "[Lint] ", "ci/Dockerfile").unwrap_or_else(|| panic!("{log}"));
    assert_ne!(top, stage);
    let common = format!(
        "--context=tar:///workspace/.kiln/kaniko/context.tar.gz --dockerfile=Dockerfile --destination={{}}{{}} --insecure-registry={addr} --digest-file=/workspace/.kiln/kaniko/image.digest --cleanup"
    );
    let args = |reference: &str, build_arg: &str| {
        common
            .replacen("{}", reference, 1)
            .replacen("{}", build_arg, 1)
    };
    for line in [
        format!("[kaniko the node's platform] ARGS {}", args(&top, "")),
        format!(
            "[Lint] [kaniko the node's platform] ARGS {}",
            args(&stage, " --build-arg=NODE=22")
        ),
        "[Build] uploaded-input".to_owned(),
        "[Build] in-the-top-level-image".to_owned(),
        "[Lint] linted".to_owned(),
    ] {
        assert!(log.lines().any(|l| l == line), "{line:?} missing:\n{log}");
    }
    assert!(!log.contains("is ignored by"), "{log}");
    let build_pod = log
        .lines()
        .find_map(|l| l.strip_prefix("Running in pod "))
        .unwrap_or_else(|| panic!("no build pod: {log}"))
        .to_owned();
    let stage_pod = pod_of(&log, "Lint");
    let images = pulled_images(&fake).await;
    for (pod, image) in [(&build_pod, &top), (&stage_pod, &stage)] {
        assert!(
            images.contains(&(pod.clone(), image.clone())),
            "{pod} {image}: {images:?}"
        );
        assert!(pod_deleted(&fake, pod), "{pod}: {:#?}", fake.requests());
    }
    let kaniko_pods = |fake: &kiln_fake_kube::FakeKube| {
        fake.requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/pods"))
            .count()
    };
    assert_eq!(
        kaniko_pods(&fake),
        4,
        "two Kaniko pods, the build's, the stage's"
    );

    // What Kaniko would have pushed; the next build finds both tags and builds nothing.
    let oci = kiln_kube::Registry::new(addr, true, None);
    let platform = kiln_kube::Platform::parse("linux/amd64").unwrap();
    for reference in [&top, &stage] {
        let tag = reference.rsplit(':').next().unwrap();
        registry_support::push_platform_image(&oci, "agents", tag, &platform).await;
    }
    fake.clear_requests();
    let id = h.trigger(user("dockerfiles")).await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    for (prefix, reference, file) in [
        ("", &top, "Dockerfile"),
        ("[Lint] ", &stage, "ci/Dockerfile"),
    ] {
        let line = format!(
            "{prefix}dockerfile agent: image {reference} is in the registry already (from {file}): not built again"
        );
        assert!(log.lines().any(|l| l == line), "{line:?} missing:\n{log}");
    }
    assert!(!log.contains("[kaniko"), "{log}");
    assert_eq!(kaniko_pods(&fake), 2, "the build's pod and the stage's");
    h.shutdown().await;
    fake.shutdown().await;
}
