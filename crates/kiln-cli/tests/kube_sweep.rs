//! `kiln server` collects finished build pods periodically, not only at its start (issue 15
//! item 5): the real binary on the fake cluster (in this process), kiln acting as deploy/'s
//! service account. A build pod nobody deleted (its controller died; here made by the
//! administrator after the server connected, so its start-up reaping cannot be what removes
//! it) is deleted with its Secret once it has finished for `orphans.finished_grace_seconds`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::*;

const QUICK: &str = "pipeline {
    agent { kubernetes { yaml 'spec: {containers: [{name: main, image: busybox}]}' } }
    stages { stage('Quick') { steps { sh 'echo quick' } } }
}
";

/// `POST PATH` on the fake's API as its administrator; the status.
fn admin_post(cluster: &FakeCluster, path: &str, body: &Value) -> u16 {
    ureq::post(format!("{}{path}", cluster.fake().url()))
        .header("Authorization", "Bearer kiln-fake-token")
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn the_server_collects_a_finished_build_pod_nobody_deleted_while_it_runs() {
    let dir = tempfile::Builder::new()
        .prefix("kiln-kube-sweep-")
        .tempdir()
        .unwrap();
    let root = dir.path();
    let cluster = FakeCluster::start(root);
    let job_dir = root.join("jobs/quick");
    std::fs::create_dir_all(&job_dir).unwrap();
    std::fs::write(job_dir.join("Jenkinsfile"), QUICK).unwrap();
    let config = root.join("kiln.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  tokens:\n    - {{name: e2e, token: {TOKEN}, role: admin}}\njobs:\n  - name: quick\n    dir: {}\n{}    orphans: {{sweep_seconds: 1, finished_grace_seconds: 3}}\n",
            job_dir.display(),
            cluster.executor_yaml(true)
        ),
    )
    .unwrap();
    let server = Server::start(
        root,
        &config,
        "127.0.0.1:0",
        [("KILN_AGENT_INSTALL", &cluster.install)],
    );
    let server_log = || std::fs::read_to_string(root.join("server.log")).unwrap_or_default();
    // A build connects the server to the cluster (and runs its start-up reaping).
    kiln_ok(&server, &["trigger", "quick"]);
    wait_or_show(
        "quick#1 to finish",
        || build(&server, "quick", 1)["status"] == "finished",
        server_log,
    );
    assert_eq!(build(&server, "quick", 1)["result"], "SUCCESS");
    // Then a build pod of a build that is gone, and its agent Secret, as a killed controller
    // leaves them; its one container exits at once.
    let pod = "kiln-gone-7-0123abcd";
    let labels = json!({"kiln.dev/job": "gone", "kiln.dev/build": "7"});
    let made = admin_post(
        &cluster,
        "/api/v1/namespaces/default/secrets",
        &json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": format!("{pod}-agent"), "labels": labels},
                "data": {"token": "b3JwaGFu"}}),
    );
    assert_eq!(made, 201);
    let made = admin_post(
        &cluster,
        "/api/v1/namespaces/default/pods",
        &json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod, "labels": labels},
                "spec": {"restartPolicy": "Never",
                         "containers": [{"name": "main", "image": "busybox", "command": ["true"]}]}}),
    );
    assert_eq!(made, 201);
    // It finishes, and the server's next sweeps delete it and its Secret.
    let mut seen_finished = false;
    wait_or_show(
        "the finished pod to be collected",
        || match cluster.fake().object("pods", "default", pod) {
            Some(p) => {
                seen_finished |= p["status"]["phase"] == "Succeeded";
                false
            }
            None => true,
        },
        server_log,
    );
    assert!(seen_finished, "deleted before it finished");
    assert!(
        cluster
            .fake()
            .object("secrets", "default", &format!("{pod}-agent"))
            .is_none()
    );
    let log = server_log();
    assert!(
        log.contains("deleting a finished build pod nobody deleted") && log.contains(pod),
        "{log}"
    );
}
