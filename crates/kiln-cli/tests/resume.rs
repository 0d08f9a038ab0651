//! Builds resumed after `kill -9` of `kiln server`, end to end: the real binary, the fake
//! cluster in this process (it outlives the servers the tests kill), agents dialling kiln
//! (Kaniko pods and build pods share the fake's host network, so nothing listens), and a
//! Kaniko stand-in that counts its runs in a hostPath directory, the "gate", whose files
//! also hold the steps until the test lets them go on (no timing). Build pods mount the gate
//! at /gate; Kaniko pods get it as a cache volume of their template.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use support::*;

const MARKER: &str = "kiln: controller restarted; build resumed in pod ";
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The Kaniko stand-in: counts its run, prints half of its output, waits for `go`, writes
/// the digest Kaniko would.
const STAND_IN: &str = r#"#!/bin/sh
set -eu
echo run >> /gate/kaniko-runs
echo first-half
while [ ! -e /gate/go ]; do sleep 0.1; done
echo second-half
echo "DIGEST" > /workspace/.kiln/kaniko/image.digest
"#;

/// The build pod: one container, with the gate mounted.
const POD: &str = "agent { kubernetes { yaml '''
spec:
  containers:
  - name: work
    image: busybox
    volumeMounts:
    - {name: gate, mountPath: /gate}
  volumes:
  - name: gate
    hostPath: {path: GATE}
''' } }";

/// A Dockerfile, the image built, then a step that counts its runs and waits for `go-after`.
const KANIKO_PIPELINE: &str = r#"pipeline {
  POD
  stages {
    stage('Image') { steps {
      sh 'printf "FROM scratch\\n" > Dockerfile'
      kanikoBuild destinations: ['reg.example:5000/team/app:1.0']
      sh 'echo run >> /gate/after-runs; echo after-image; while [ ! -e /gate/go-after ]; do sleep 0.1; done; echo done'
    } }
  }
}
"#;

/// The image built in a stage with a pod of its own (the build has its own pod too).
const STAGE_KANIKO_PIPELINE: &str = r#"pipeline {
  POD
  stages {
    stage('Image') {
      POD
      steps {
        sh 'printf "FROM scratch\\n" > Dockerfile'
        kanikoBuild destinations: ['reg.example:5000/team/app:1.0']
        sh 'echo run >> /gate/after-runs; echo after-image; while [ ! -e /gate/go-after ]; do sleep 0.1; done; echo done'
      }
    }
  }
}
"#;

/// `timestamps()`: a step that counts its runs and waits for `go` halfway.
const STAMPED_PIPELINE: &str = r#"pipeline {
  POD
  options { timestamps() }
  stages {
    stage('Prep') { steps { sh 'echo prepared' } }
    stage('Work') { steps {
      sh 'echo run >> /gate/runs; echo first-half; while [ ! -e /gate/go ]; do sleep 0.1; done; echo second-half'
      sh 'echo done'
    } }
  }
}
"#;

/// One test's world: job `app` running `pipeline` in the fake cluster.
struct World {
    root: PathBuf,
    config: PathBuf,
    gate: PathBuf,
    cluster: FakeCluster,
    _dir: tempfile::TempDir,
}

impl World {
    fn new(pipeline: &str) -> World {
        let dir = tempfile::Builder::new()
            .prefix("kiln-resume-")
            .tempdir()
            .unwrap();
        let root = dir.path().to_path_buf();
        let gate = root.join("gate");
        std::fs::create_dir_all(&gate).unwrap();
        let repo = root.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        let pod = POD.replace("GATE", &gate.display().to_string());
        std::fs::write(repo.join("Jenkinsfile"), pipeline.replace("POD", &pod)).unwrap();
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "pipeline"]);
        let stand_in = root.join("executor");
        std::fs::write(&stand_in, STAND_IN.replace("DIGEST", DIGEST)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();

        let cluster = FakeCluster::start(&root);
        let yaml = format!(
            "server:\n  tokens:\n    - {{name: e2e, token: {TOKEN}, role: admin}}\njobs:\n  - name: app\n    repo: file://{repo}\n{executors}    kaniko:\n      executor: {stand_in}\n      template: kaniko\n    templates:\n    - name: kaniko\n      caches:\n      - {{name: gate, path: /gate, source: {{host_path: {{path: '{gate}'}}}}}}\n",
            repo = repo.display(),
            executors = cluster.executor_yaml(true),
            stand_in = stand_in.display(),
            gate = gate.display(),
        );
        let config = root.join("kiln.yaml");
        std::fs::write(&config, yaml).unwrap();
        World {
            root,
            config,
            gate,
            cluster,
            _dir: dir,
        }
    }

    fn server(&self, listen: &str) -> Server {
        let vars = [("KILN_AGENT_INSTALL", &self.cluster.install)];
        Server::start(&self.root, &self.config, listen, vars)
    }

    /// What a test that gave up shows: the build's log and the server's.
    fn context(&self, server: &Server, log: &str) -> String {
        let server_log = std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default();
        format!(
            "{} build log:\n{log}\nserver log:\n{server_log}",
            server.url
        )
    }

    fn fake(&self) -> &kiln_fake_kube::FakeKube {
        self.cluster.fake()
    }

    fn pod_exists(&self, name: &str) -> bool {
        self.cluster.pod_exists(name)
    }

    /// Lets the gate's waiters named `file` go on.
    fn open(&self, file: &str) {
        std::fs::write(self.gate.join(file), "").unwrap();
    }

    /// How often the steps counting into the gate's `file` ran.
    fn runs(&self, file: &str) -> usize {
        std::fs::read_to_string(self.gate.join(file))
            .unwrap_or_default()
            .lines()
            .count()
    }

    /// Pod create requests the fake saw since its request log was last cleared.
    fn pod_creates(&self) -> usize {
        let creates = self.fake().requests().into_iter();
        creates
            .filter(|r| r.method == "POST" && r.path.ends_with("/pods"))
            .count()
    }
}

/// Triggers `app#1`, waits until its log has `line`, kills the server with `kill -9`;
/// returns the log as it was stored then, and the server's address.
fn killed_at(world: &World, line: &str) -> (String, String) {
    stopped_at(world, line, false)
}

/// [`killed_at`], or with `graceful` a SIGTERM (the server leaves the build running).
fn stopped_at(world: &World, line: &str, graceful: bool) -> (String, String) {
    let mut server = world.server("127.0.0.1:0");
    kiln_ok(&server, &["trigger", "app"]);
    let log = std::cell::RefCell::new(String::new());
    let seen = || {
        *log.borrow_mut() = kiln_ok(&server, &["logs", "app#1"]);
        log.borrow().contains(line)
    };
    wait_or_show(line, seen, || world.context(&server, &log.borrow()));
    let log = log.into_inner();
    if graceful {
        let pid = server.child.id().to_string();
        let term = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(term.success());
        assert!(server.child.wait().unwrap().success());
    } else {
        server.kill_9();
    }
    (log, server.addr.clone())
}

/// Waits for `app#1` to finish; its record and log.
fn finished(world: &World, server: &Server) -> (Value, String) {
    let b = std::cell::RefCell::new(Value::Null);
    let done = || {
        *b.borrow_mut() = build(server, "app", 1);
        b.borrow()["status"] == "finished"
    };
    let context = || {
        let log = kiln_ok(server, &["logs", "app#1"]);
        format!("{}\n{}", b.borrow(), world.context(server, &log))
    };
    wait_or_show("app#1 to finish", done, context);
    (b.into_inner(), kiln_ok(server, &["logs", "app#1"]))
}

fn count(log: &str, line: &str) -> usize {
    log.lines().filter(|l| *l == line).count()
}

/// The name in the log's `starting the Kaniko pod NAME for ...` line.
fn kaniko_pod(log: &str) -> String {
    let line = log
        .lines()
        .find_map(|l| l.split("starting the Kaniko pod ").nth(1))
        .unwrap_or_else(|| panic!("no Kaniko pod in:\n{log}"));
    line.split(' ').next().unwrap().to_owned()
}

/// The build pod in the log's `Running in pod NAME` line.
fn build_pod(log: &str) -> String {
    log.lines()
        .find_map(|l| l.strip_prefix("Running in pod "))
        .unwrap_or_else(|| panic!("no pod in:\n{log}"))
        .to_owned()
}

#[test]
fn a_kaniko_build_running_at_a_kill_9_is_taken_over_and_runs_once() {
    let world = World::new(KANIKO_PIPELINE);
    let first_half = "[Image] [kaniko the node's platform] first-half";
    let (before, addr) = killed_at(&world, first_half);
    let kaniko = kaniko_pod(&before);
    let pod = build_pod(&before);
    assert!(world.pod_exists(&kaniko), "{before}");
    world.open("go");
    world.open("go-after");
    let server = world.server(&addr);
    let (b, log) = finished(&world, &server);
    assert_eq!(b["result"], "SUCCESS", "{b}\n{log}");
    assert_eq!(world.runs("kaniko-runs"), 1, "{log}");
    assert_eq!(world.runs("after-runs"), 1, "{log}");
    for line in [
        format!("{MARKER}{pod}"),
        format!("[Image] starting the Kaniko pod {kaniko} for the node's platform"),
        first_half.to_owned(),
        "[Image] [kaniko the node's platform] second-half".to_owned(),
        format!("[Image] kanikoBuild: pushed {DIGEST} for the builder's platform"),
        "[Image] after-image".to_owned(),
        "[Image] done".to_owned(),
        "Finished: SUCCESS".to_owned(),
    ] {
        assert_eq!(count(&log, &line), 1, "`{line}`:\n{log}");
    }
    let marker = log.find(MARKER).unwrap();
    assert!(log.find(first_half).unwrap() < marker, "{log}");
    assert!(marker < log.find("second-half").unwrap(), "{log}");
    assert!(log.starts_with(&before), "{before}\n---\n{log}");
    wait_for("the pods to be deleted", || {
        !world.pod_exists(&kaniko) && !world.pod_exists(&pod)
    });
}

#[test]
fn a_kaniko_build_in_a_stage_pod_is_taken_over_after_a_kill_9() {
    let world = World::new(STAGE_KANIKO_PIPELINE);
    let first_half = "[Image] [kaniko the node's platform] first-half";
    let (before, addr) = killed_at(&world, first_half);
    let kaniko = kaniko_pod(&before);
    assert!(world.pod_exists(&kaniko), "{before}");
    world.open("go");
    world.open("go-after");
    let server = world.server(&addr);
    let (b, log) = finished(&world, &server);
    assert_eq!(b["result"], "SUCCESS", "{b}\n{log}");
    assert_eq!(world.runs("kaniko-runs"), 1, "{log}");
    assert_eq!(world.runs("after-runs"), 1, "{log}");
    for line in [
        first_half,
        "[Image] [kaniko the node's platform] second-half",
        "[Image] after-image",
        "[Image] done",
    ] {
        assert_eq!(count(&log, line), 1, "`{line}`:\n{log}");
    }
    let pushed = format!("[Image] kanikoBuild: pushed {DIGEST} for the builder's platform");
    assert_eq!(count(&log, &pushed), 1, "{log}");
    wait_for("the Kaniko pod to be deleted", || {
        !world.pod_exists(&kaniko)
    });
}

#[test]
fn a_graceful_stop_keeps_a_running_kaniko_pod_for_the_next_start() {
    let world = World::new(KANIKO_PIPELINE);
    let first_half = "[Image] [kaniko the node's platform] first-half";
    let (before, addr) = stopped_at(&world, first_half, true);
    let kaniko = kaniko_pod(&before);
    assert!(world.pod_exists(&kaniko), "{before}");
    world.open("go");
    world.open("go-after");
    let server = world.server(&addr);
    let (b, log) = finished(&world, &server);
    assert_eq!(b["result"], "SUCCESS", "{b}\n{log}");
    assert_eq!(world.runs("kaniko-runs"), 1, "{log}");
    for line in [
        first_half,
        "[Image] [kaniko the node's platform] second-half",
        "[Image] done",
    ] {
        assert_eq!(count(&log, line), 1, "`{line}`:\n{log}");
    }
    let stopping = log
        .lines()
        .filter(|l| l.starts_with("kiln: the controller is stopping;"));
    assert_eq!(stopping.count(), 1, "{log}");
    wait_for("the Kaniko pod to be deleted", || {
        !world.pod_exists(&kaniko)
    });
}

#[test]
fn a_kaniko_build_finished_before_a_kill_9_answers_from_the_record() {
    let world = World::new(KANIKO_PIPELINE);
    world.open("go");
    let (before, addr) = killed_at(&world, "[Image] after-image");
    let kaniko = kaniko_pod(&before);
    let pod = build_pod(&before);
    world.fake().clear_requests();
    world.open("go-after");
    let server = world.server(&addr);
    let (b, log) = finished(&world, &server);
    assert_eq!(b["result"], "SUCCESS", "{b}\n{log}");
    assert_eq!(world.runs("kaniko-runs"), 1, "{log}");
    assert_eq!(world.runs("after-runs"), 1, "{log}");
    assert_eq!(world.pod_creates(), 0, "no pod was started again");
    for line in [
        format!("{MARKER}{pod}"),
        format!("[Image] starting the Kaniko pod {kaniko} for the node's platform"),
        "[Image] [kaniko the node's platform] second-half".to_owned(),
        format!("[Image] kanikoBuild: pushed {DIGEST} for the builder's platform"),
        "[Image] after-image".to_owned(),
        "[Image] done".to_owned(),
    ] {
        assert_eq!(count(&log, &line), 1, "`{line}`:\n{log}");
    }
    let marker = log.find(MARKER).unwrap();
    assert!(log.find("after-image").unwrap() < marker, "{log}");
    assert!(marker < log.find("[Image] done").unwrap(), "{log}");
    assert!(log.starts_with(&before), "{before}\n---\n{log}");
}

#[test]
fn a_kaniko_pod_gone_while_kiln_was_down_fails_the_step_with_the_reason() {
    let world = World::new(KANIKO_PIPELINE);
    let (before, addr) = killed_at(&world, "[Image] [kaniko the node's platform] first-half");
    let kaniko = kaniko_pod(&before);
    let url = format!(
        "{}/api/v1/namespaces/default/pods/{kaniko}?gracePeriodSeconds=0",
        world.fake().url()
    );
    ureq::delete(&url)
        .header("Authorization", &admin_bearer())
        .call()
        .unwrap();
    wait_for("the Kaniko pod to be gone", || !world.pod_exists(&kaniko));
    let server = world.server(&addr);
    let (b, log) = finished(&world, &server);
    assert_eq!(b["result"], "FAILURE", "{b}\n{log}");
    let reason = format!(
        "Kaniko for the node's platform ran in pod {kaniko} when the controller restarted, and it cannot be taken over"
    );
    assert!(log.contains(&reason), "{log}");
    assert!(log.contains(&format!("pod {kaniko} is gone")), "{log}");
    assert_eq!(world.runs("kaniko-runs"), 1, "{log}");
    assert_eq!(world.runs("after-runs"), 0, "{log}");
}

#[test]
fn the_kaniko_pods_of_a_build_aborted_at_resume_are_deleted() {
    let world = World::new(KANIKO_PIPELINE);
    let (before, addr) = killed_at(&world, "[Image] [kaniko the node's platform] first-half");
    let (kaniko, pod) = (kaniko_pod(&before), build_pod(&before));
    let url = format!(
        "{}/api/v1/namespaces/default/pods/{pod}?gracePeriodSeconds=0",
        world.fake().url()
    );
    ureq::delete(&url)
        .header("Authorization", &admin_bearer())
        .call()
        .unwrap();
    wait_for("the build pod to be gone", || !world.pod_exists(&pod));
    let server = world.server(&addr);
    let (b, log) = finished(&world, &server);
    assert_eq!(b["result"], "ABORTED", "{b}\n{log}");
    assert!(log.contains(&format!("pod {pod} is gone")), "{log}");
    wait_for("the Kaniko pod to be deleted", || {
        !world.pod_exists(&kaniko)
    });
    assert_eq!(world.runs("kaniko-runs"), 1, "{log}");
}

#[test]
fn a_timestamped_build_resumed_after_a_kill_9_writes_each_line_once() {
    let world = World::new(STAMPED_PIPELINE);
    let (before, addr) = killed_at(&world, "] first-half\n");
    let pod = build_pod(&before);
    world.open("go");
    let server = world.server(&addr);
    let (b, log) = finished(&world, &server);
    assert_eq!(b["result"], "SUCCESS", "{b}\n{log}");
    assert_eq!(world.runs("runs"), 1, "{log}");
    // The stored lines stay as they were, with their first times.
    assert!(log.starts_with(&before), "{before}\n---\n{log}");
    let untimed: Vec<String> = log.lines().map(untimed).collect();
    for line in [
        format!("{MARKER}{pod}"),
        "[Prep] prepared".to_owned(),
        "[Work] first-half".to_owned(),
        "[Work] second-half".to_owned(),
        "[Work] done".to_owned(),
        "Finished: SUCCESS".to_owned(),
    ] {
        let n = untimed.iter().filter(|l| **l == line).count();
        assert_eq!(n, 1, "`{line}`:\n{log}");
    }
    // New lines come after the marker, with times of their own.
    let marker = untimed.iter().position(|l| l.starts_with(MARKER)).unwrap();
    let second = untimed
        .iter()
        .position(|l| l == "[Work] second-half")
        .unwrap();
    assert!(marker < second, "{log}");
    let second = log.lines().nth(second).unwrap();
    assert!(
        second.starts_with("[Work] [20") && second.contains("Z] "),
        "{log}"
    );
}

/// A log line without the `timestamps` prefix after its stage prefix.
fn untimed(line: &str) -> String {
    let (stage, rest) = match line.split_once("] ") {
        Some((stage, rest)) if line.starts_with('[') && !stage[1..].starts_with("20") => {
            (format!("{stage}] "), rest)
        }
        _ => (String::new(), line),
    };
    let rest = match rest.split_once("] ") {
        Some((time, rest)) if time.starts_with("[20") && time.ends_with('Z') => rest,
        _ => rest,
    };
    format!("{stage}{rest}")
}

/// The fake's administrator (the tests act as it beside kiln, which has deploy/'s rights).
fn admin_bearer() -> String {
    format!("Bearer {}", kiln_fake_kube::rbac::ADMIN_TOKEN)
}
