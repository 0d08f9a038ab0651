//! `kiln server` builds whose stages run in pods of their own survive a `kill -9` of the
//! controller: the real binary, the fake cluster (in this process, so it outlives the
//! servers the tests kill) and the real kiln-agent, dialling kiln as in a deployment. The
//! steps count their runs in files of a directory of the test's that every pod mounts
//! (hostPath), and wait for a gate file the test creates there once kiln took them over.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use support::*;

/// The pod of every agent below: one container, which the fake runs as a local process, with
/// the test's `shared` directory at `/shared` (`@DIR@`: the test's directory).
const POD: &str = "kubernetes { yaml @PODYAML@ }";

/// The YAML of that pod (also for `podTemplate`).
const POD_YAML: &str = "'''
spec:
  containers:
  - name: work
    image: busybox
    volumeMounts:
    - {name: shared, mountPath: /shared}
  volumes:
  - name: shared
    hostPath: {path: '@DIR@/shared', type: Directory}
'''";

/// Job `seq`: a stage that ends before the restart, one that runs across it, one after it,
/// each in a pod of its own (inside the build's pod). Run counters and the gate are in
/// `/shared`, which every pod and the test see.
const SEQUENTIAL: &str = "pipeline {
  agent { @POD@ }
  stages {
    stage('Prep') {
      agent { @POD@ }
      steps {
        sh 'echo prep >> /shared/prep-runs.txt; echo prepared > prep.txt; cat prep.txt'
        archiveArtifacts 'prep.txt'
        script { env.PREP_VERSION = sh(script: 'echo 1.2.3', returnStdout: true).trim() }
      }
    }
    stage('Work') {
      agent { @POD@ }
      steps {
        sh \"set +x; echo version=${env.PREP_VERSION}\"
        sh 'set +x; echo one >> /shared/work-runs.txt; echo v1 > note.txt; echo first-half; while [ ! -f /shared/go ]; do sleep 0.1; done; echo second-half'
        sh 'echo \"runs=$(wc -l < /shared/work-runs.txt) note=$(cat note.txt)\"'
      }
    }
    stage('After') {
      agent { @POD@ }
      steps { sh 'echo after >> /shared/after-runs.txt; echo after' }
    }
  }
}
";

/// Job `par`: two parallel stages, each in a pod of its own, both running across the restart;
/// then the build's pod writes and archives a file (it is past the replay by then).
const PARALLEL: &str = "pipeline {
  agent { @POD@ }
  stages {
    stage('Both') {
      parallel {
        stage('A') {
          agent { @POD@ }
          steps {
            sh 'set +x; echo a >> /shared/a-runs.txt; echo a-first; while [ ! -f /shared/go ]; do sleep 0.1; done; echo a-second'
            sh 'echo \"a-runs=$(wc -l < /shared/a-runs.txt)\"'
          }
        }
        stage('B') {
          agent { @POD@ }
          steps {
            sh 'set +x; echo b >> /shared/b-runs.txt; echo b-first; while [ ! -f /shared/go ]; do sleep 0.1; done; echo b-second'
            sh 'echo \"b-runs=$(wc -l < /shared/b-runs.txt)\"'
          }
        }
      }
    }
  }
  post { success { writeFile file: 'done.txt', text: 'both done'; archiveArtifacts 'done.txt' } }
}
";

/// Job `mixed`: no pod of its own, a stage on the controller's machine (`agent any`), then
/// one in a pod running across the restart.
const MIXED: &str = "pipeline {
  agent none
  stages {
    stage('Local') {
      agent any
      steps { sh 'echo local >> @DIR@/shared/local-runs.txt' }
    }
    stage('Work') {
      agent { @POD@ }
      steps { sh 'set +x; echo first-half; while [ ! -f /shared/go ]; do sleep 0.1; done' }
    }
  }
}
";

/// Job `scripted`: a `podTemplate` whose `node` block runs across the restart; `@LOCAL@` is
/// what runs before it on the controller's machine (nothing, or a step for `scriptedlocal`).
const SCRIPTED: &str = "@LOCAL@
podTemplate(yaml: @PODYAML@) {
  node(POD_LABEL) {
    stage('Work') {
      sh 'set +x; echo one >> /shared/s-runs.txt; echo first-half; while [ ! -f /shared/go ]; do sleep 0.1; done; echo second-half'
      sh 'echo \"runs=$(wc -l < /shared/s-runs.txt)\"'
    }
  }
}
";

/// The test's directory, git repository, configuration and fake cluster.
struct Env {
    root: PathBuf,
    config: PathBuf,
    cluster: FakeCluster,
    _dir: tempfile::TempDir,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.cluster.shutdown();
        // A `git` a killed server had started may still write its mirror for a moment, so
        // that one removal can fail: try again until the directory is gone (bounded).
        for _ in 0..100 {
            if std::fs::remove_dir_all(&self.root).is_ok() || !self.root.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Env {
    /// Jobs `seq`, `par`, `none`, `mixed`, `scripted` and `scriptedlocal` in a git repository, run on the fake cluster; agents dial kiln.
    fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("kiln-stage-pods-")
            .tempdir()
            .unwrap();
        let root = dir.path().to_path_buf();
        let repo = root.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::create_dir_all(root.join("shared")).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        // Job `none`: `seq` without a pod of its own (`agent none`, stage pods only).
        let none = SEQUENTIAL.replacen("agent { @POD@ }", "agent none", 1);
        let scripted = SCRIPTED.replace("@LOCAL@", "");
        let local = "stage('Local') { sh 'echo local >> @DIR@/shared/local-runs.txt' }";
        let scripted_local = SCRIPTED.replace("@LOCAL@", local);
        let jobs = [
            ("seq", SEQUENTIAL),
            ("par", PARALLEL),
            ("none", &none),
            ("mixed", MIXED),
            ("scripted", &scripted),
            ("scriptedlocal", &scripted_local),
        ];
        for (name, text) in jobs {
            let text = text
                .replace("@POD@", POD)
                .replace("@PODYAML@", POD_YAML)
                .replace("@DIR@", &root.display().to_string());
            std::fs::write(repo.join(format!("{name}.Jenkinsfile")), text).unwrap();
        }
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "pipelines"]);
        let cluster = FakeCluster::start(&root);
        let mut yaml = format!(
            "server:\n  tokens:\n    - {{name: e2e, token: {TOKEN}, role: admin}}\njobs:\n"
        );
        let jobs = ["seq", "par", "none", "mixed", "scripted", "scriptedlocal"];
        for job in jobs {
            yaml.push_str(&format!(
                "  - name: {job}\n    repo: file://{}\n    jenkinsfile: {job}.Jenkinsfile\n",
                repo.display()
            ));
        }
        yaml.push_str(&cluster.executor_yaml(true));
        let config = root.join("kiln.yaml");
        std::fs::write(&config, yaml).unwrap();
        Env {
            root,
            config,
            cluster,
            _dir: dir,
        }
    }

    fn fake(&self) -> &kiln_fake_kube::FakeKube {
        self.cluster.fake()
    }

    fn pod_exists(&self, name: &str) -> bool {
        self.cluster.pod_exists(name)
    }

    /// How many pods were created since the request log was last cleared.
    fn pods_created(&self) -> usize {
        let created = |r: &&kiln_fake_kube::RequestRecord| {
            r.method == "POST" && r.path == "/api/v1/namespaces/default/pods" && r.status == 201
        };
        self.fake().requests().iter().filter(created).count()
    }

    fn server(&self, listen: &str) -> Server {
        let vars = [("KILN_AGENT_INSTALL", &self.cluster.install)];
        Server::start(&self.root, &self.config, listen, vars)
    }

    /// The number of lines in the run counter `name` the steps append to.
    fn runs(&self, name: &str) -> usize {
        let text = std::fs::read_to_string(self.root.join("shared").join(name));
        let text = text.unwrap_or_default();
        text.lines().count()
    }

    /// Waits until the new server took over `n` stage pods (its log says so).
    fn taken_over(&self, n: usize) {
        wait_for("the stage pods to be taken over", || {
            let log = std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default();
            log.matches("stage pod taken over after a controller restart")
                .count()
                >= n
        });
    }

    /// Lets the steps waiting for the gate go on.
    fn open_gate(&self) {
        std::fs::write(self.root.join("shared/go"), "").unwrap();
    }
}

fn log_of(server: &Server, build: &str) -> String {
    String::from_utf8_lossy(&kiln(server, &["logs", build]).stdout).into_owned()
}

/// Triggers `job`, waits until its log has every line of `seen`, then kills the server with
/// `kill -9`; returns the log so far and the server's address (the next one listens there).
fn killed_mid_step(env: &Env, job: &str, seen: &[&str]) -> (String, String) {
    stopped_mid_step(env, job, seen, Stop::Kill9)
}

/// How the server is stopped.
#[derive(Clone, Copy, PartialEq)]
enum Stop {
    Kill9,
    /// SIGTERM: builds in pods are left running there.
    Graceful,
}

/// [`killed_mid_step`], stopping the server as `stop` says.
fn stopped_mid_step(env: &Env, job: &str, seen: &[&str], stop: Stop) -> (String, String) {
    let mut server = env.server("127.0.0.1:0");
    assert!(kiln(&server, &["trigger", job]).status.success());
    let mut log = String::new();
    wait_for("the steps to run in their stage pods", || {
        log = log_of(&server, &format!("{job}#1"));
        seen.iter().all(|l| log.contains(&format!("{l}\n")))
    });
    match stop {
        Stop::Kill9 => server.child.kill().unwrap(),
        Stop::Graceful => {
            let pid = server.child.id().to_string();
            let term = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
            assert!(term.success());
        }
    }
    let exit = server.child.wait().unwrap();
    assert!(stop == Stop::Kill9 || exit.success(), "{exit:?}");
    (log, server.addr.clone())
}

/// Waits for build 1 of `job` to finish (at most two minutes); its record and log.
fn finished(env: &Env, server: &Server, job: &str) -> (Value, String) {
    for _ in 0..1200 {
        let b = build(server, job, 1);
        if b["status"] == "finished" {
            return (b, log_of(server, &format!("{job}#1")));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = log_of(server, &format!("{job}#1"));
    let server_log = std::fs::read_to_string(env.root.join("server.log")).unwrap_or_default();
    panic!("{job}#1 did not finish:\n{log}\n--- server log:\n{server_log}");
}

/// The pod a stage's log line `[STAGE] Running in pod NAME` names.
fn stage_pod(log: &str, stage: &str) -> String {
    let start = format!("[{stage}] Running in pod ");
    log.lines()
        .find_map(|l| l.strip_prefix(&start))
        .unwrap_or_else(|| panic!("no pod for {stage}:\n{log}"))
        .to_owned()
}

fn assert_once(log: &str, lines: &[String]) {
    for line in lines {
        let n = log.lines().filter(|l| l == line).count();
        assert_eq!(n, 1, "`{line}` {n} times:\n{log}");
    }
}

#[test]
fn a_step_running_in_a_stage_pod_survives_a_kill_9_of_the_controller() {
    let log = sequential_resumed("seq", Stop::Kill9);
    // The build's own pod got the workspace once too.
    let uploads = log.lines().filter(|l| l.starts_with("Uploaded ")).count();
    assert_eq!(uploads, 1, "{log}");
}

#[test]
fn a_stage_pod_is_left_running_by_a_graceful_stop_and_taken_over() {
    let log = sequential_resumed("seq", Stop::Graceful);
    let stopping = "kiln: the controller is stopping; the build goes on in pod ";
    let n = log.lines().filter(|l| l.starts_with(stopping)).count();
    assert_eq!(n, 1, "{log}");
}

#[test]
fn a_build_with_agent_none_and_stage_pods_survives_a_kill_9_of_the_controller() {
    let log = sequential_resumed("none", Stop::Kill9);
    assert_once(
        &log,
        &["kiln: controller restarted; build resumed in its stage pods".to_owned()],
    );
    // The build had no pod of its own, and got none.
    assert!(
        !log.lines().any(|l| l.starts_with("Running in pod ")),
        "{log}"
    );
}

/// `job` (`seq` or `none`) stopped while Work's first step runs, resumed to SUCCESS with every
/// step run once, Work's pod taken over and After's new; returns the log.
fn sequential_resumed(job: &str, stop: Stop) -> String {
    let env = Env::new();
    let (before, addr) = stopped_mid_step(&env, job, &["[Work] first-half"], stop);
    let (prep, work) = (stage_pod(&before, "Prep"), stage_pod(&before, "Work"));
    assert!(env.pod_exists(&work), "{before}");
    // The finished stage's pod was deleted when its stage ended.
    wait_for("Prep's pod to be deleted", || !env.pod_exists(&prep));
    env.fake().clear_requests();
    let server = env.server(&addr);
    env.taken_over(1);
    env.open_gate();
    let (b, log) = finished(&env, &server, job);
    assert_eq!(b["result"], "SUCCESS", "{b}\n{log}");
    // Every step ran once: the finished stage was not run again, the running one was
    // followed, the later one ran after the restart.
    assert_eq!(
        (env.runs("prep-runs.txt"), env.runs("work-runs.txt")),
        (1, 1)
    );
    assert_eq!(env.runs("after-runs.txt"), 1);
    assert_once(
        &log,
        &[
            "Started by user e2e".to_owned(),
            format!("[Prep] Running in pod {prep}"),
            "[Prep] prepared".to_owned(),
            format!("[Work] Running in pod {work}"),
            "[Work] first-half".to_owned(),
            "[Work] second-half".to_owned(),
            "[Work] runs=1 note=v1".to_owned(),
            // Set by Prep's script, which was not run again: set again on the resume.
            "[Work] version=1.2.3".to_owned(),
            "[After] after".to_owned(),
            "Finished: SUCCESS".to_owned(),
        ],
    );
    assert!(!log.contains("version=null"), "{log}");
    // The workspace went into each stage pod once: no second upload into Work's pod.
    for stage in ["Prep", "Work", "After"] {
        let upload = format!("[{stage}] Uploaded ");
        let n = log.lines().filter(|l| l.starts_with(&upload)).count();
        assert_eq!(n, 1, "{stage}:\n{log}");
    }
    let marker = log.find("kiln: controller restarted").unwrap();
    assert!(log.find("[Work] first-half").unwrap() < marker, "{log}");
    assert!(marker < log.find("[Work] second-half").unwrap(), "{log}");
    // After the restart the fake saw one new pod: After's. Work's pod was taken over.
    assert_eq!(env.pods_created(), 1, "{log}");
    let after = stage_pod(&log, "After");
    assert!(![prep.as_str(), work.as_str()].contains(&after.as_str()));
    // What the finished stage archived stays the build's artifact.
    assert_eq!(b["artifacts"][0]["path"], "prep.txt", "{b}");
    let stages = b["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 3, "{stages:?}");
    assert!(
        stages.iter().all(|s| s["outcome"] == "SUCCESS"),
        "{stages:?}"
    );
    wait_for("the stage pods to be deleted", || {
        !env.pod_exists(&work) && !env.pod_exists(&after)
    });
    log
}

#[test]
fn parallel_stage_pods_both_survive_a_kill_9_of_the_controller() {
    let env = Env::new();
    let seen = ["[Both / A] a-first", "[Both / B] b-first"];
    let (before, addr) = killed_mid_step(&env, "par", &seen);
    let (a, b_pod) = (
        stage_pod(&before, "Both / A"),
        stage_pod(&before, "Both / B"),
    );
    env.fake().clear_requests();
    let server = env.server(&addr);
    env.taken_over(2);
    env.open_gate();
    let (b, log) = finished(&env, &server, "par");
    assert_eq!(b["result"], "SUCCESS", "{b}\n{log}");
    assert_eq!((env.runs("a-runs.txt"), env.runs("b-runs.txt")), (1, 1));
    assert_once(
        &log,
        &[
            format!("[Both / A] Running in pod {a}"),
            format!("[Both / B] Running in pod {b_pod}"),
            "[Both / A] a-first".to_owned(),
            "[Both / A] a-second".to_owned(),
            "[Both / A] a-runs=1".to_owned(),
            "[Both / B] b-first".to_owned(),
            "[Both / B] b-second".to_owned(),
            "[Both / B] b-runs=1".to_owned(),
            "Finished: SUCCESS".to_owned(),
        ],
    );
    // Both stage pods were taken over: the fake saw no new pod.
    assert_eq!(env.pods_created(), 0, "{log}");
    // The build's pod left the replay with its stages' pods: its post wrote and archived.
    assert_eq!(b["artifacts"][0]["path"], "done.txt", "{b}");
    let archived = env.root.join("data/builds/par/1/artifacts/done.txt");
    assert_eq!(std::fs::read_to_string(archived).unwrap(), "both done");
    wait_for("the stage pods to be deleted", || {
        !env.pod_exists(&a) && !env.pod_exists(&b_pod)
    });
}

#[test]
fn a_stage_pod_deleted_while_kiln_is_down_fails_its_stage_with_the_reason() {
    let env = Env::new();
    let (before, addr) = killed_mid_step(&env, "seq", &["[Work] first-half"]);
    let work = stage_pod(&before, "Work");
    let url = format!(
        "{}/api/v1/namespaces/default/pods/{work}?gracePeriodSeconds=0",
        env.fake().url()
    );
    let r = ureq::delete(&url)
        .header("Authorization", &admin_bearer())
        .call()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    wait_for("the pod to be gone", || !env.pod_exists(&work));
    env.fake().clear_requests();
    env.open_gate();
    let server = env.server(&addr);
    let (b, log) = finished(&env, &server, "seq");
    assert_eq!(b["result"], "FAILURE", "{b}\n{log}");
    let reason = format!(
        "[Work] ERROR: the pod {work} of stage 'Work' cannot be taken over after the controller restarted: pod {work} is gone; the stage's steps are not run again"
    );
    assert_once(&log, &[reason, "[Work] first-half".to_owned()]);
    // The step was not run again (nor anything after it), and no pod replaced the gone one.
    assert_eq!(env.runs("work-runs.txt"), 1);
    assert_eq!(env.runs("after-runs.txt"), 0);
    assert!(!log.contains("[Work] second-half"), "{log}");
    assert!(log.ends_with("Finished: FAILURE\n"), "{log}");
    assert_eq!(env.pods_created(), 0, "{log}");
}

#[test]
fn a_build_that_ran_steps_on_the_controller_is_not_resumed_in_its_stage_pods() {
    let env = Env::new();
    let (before, addr) = killed_mid_step(&env, "mixed", &["[Work] first-half"]);
    let work = stage_pod(&before, "Work");
    let server = env.server(&addr);
    let (b, log) = finished(&env, &server, "mixed");
    // Running it again would run `Local`'s step a second time on this machine.
    let why = "stage `Local` ran on the controller's machine, which is not resumed";
    assert_eq!(b["result"], "ABORTED", "{b}\n{log}");
    assert_eq!(b["reason"], format!("controller restarted: {why}"), "{b}");
    assert!(log.contains(why), "{log}");
    assert!(log.ends_with("Finished: ABORTED\n"), "{log}");
    assert_eq!(env.runs("local-runs.txt"), 1);
    // The stage pod it recorded is not left behind.
    wait_for("Work's pod to be deleted", || !env.pod_exists(&work));
}

#[test]
fn taken_over_stage_pods_count_against_max_concurrent_pods() {
    let env = Env::new();
    let seen = ["[Both / A] a-first", "[Both / B] b-first"];
    let (_, addr) = killed_mid_step(&env, "par", &seen);
    // The next server allows two pods; `par` holds three (its own and its two stages').
    let mut yaml = std::fs::read_to_string(&env.config).unwrap();
    yaml.push_str("    max_concurrent_pods: 2\n");
    std::fs::write(&env.config, yaml).unwrap();
    let server = env.server(&addr);
    env.taken_over(2);
    assert!(kiln(&server, &["trigger", "seq"]).status.success());
    let mut seq = String::new();
    wait_for("seq to wait for a pod", || {
        seq = log_of(&server, "seq#1");
        seq.contains("Waiting for a pod: 3 of 2 pods in use\n")
    });
    assert!(!seq.contains("Running in pod"), "{seq}");
    env.open_gate();
    let (par, log) = finished(&env, &server, "par");
    assert_eq!(par["result"], "SUCCESS", "{par}\n{log}");
    let (b, seq) = finished(&env, &server, "seq");
    assert_eq!(b["result"], "SUCCESS", "{b}\n{seq}");
}

#[test]
fn a_scripted_node_pod_survives_a_kill_9_of_the_controller() {
    let env = Env::new();
    let (before, addr) = killed_mid_step(&env, "scripted", &["[Work] first-half"]);
    let pod = before
        .lines()
        .find_map(|l| l.strip_prefix("Running in pod "))
        .unwrap_or_else(|| panic!("no pod:\n{before}"))
        .to_owned();
    env.fake().clear_requests();
    let server = env.server(&addr);
    env.taken_over(1);
    env.open_gate();
    let (b, log) = finished(&env, &server, "scripted");
    assert_eq!(b["result"], "SUCCESS", "{b}\n{log}");
    assert_eq!(env.runs("s-runs.txt"), 1);
    assert_once(
        &log,
        &[
            format!("Running in pod {pod}"),
            "kiln: controller restarted; build resumed in its stage pods".to_owned(),
            "[Work] first-half".to_owned(),
            "[Work] second-half".to_owned(),
            "[Work] runs=1".to_owned(),
            "Finished: SUCCESS".to_owned(),
        ],
    );
    assert_eq!(env.pods_created(), 0, "{log}");
    wait_for("the pod to be deleted", || !env.pod_exists(&pod));
}

#[test]
fn a_scripted_build_that_ran_a_process_on_the_controller_is_not_resumed() {
    let env = Env::new();
    let (before, addr) = killed_mid_step(&env, "scriptedlocal", &["[Work] first-half"]);
    let pod = before
        .lines()
        .find_map(|l| l.strip_prefix("Running in pod "))
        .unwrap_or_else(|| panic!("no pod:\n{before}"))
        .to_owned();
    let server = env.server(&addr);
    let (b, log) = finished(&env, &server, "scriptedlocal");
    let why = "the pipeline ran processes on the controller's machine, which are not resumed";
    assert_eq!(b["result"], "ABORTED", "{b}\n{log}");
    assert_eq!(b["reason"], format!("controller restarted: {why}"), "{b}");
    assert_eq!(env.runs("local-runs.txt"), 1);
    wait_for("the pod to be deleted", || !env.pod_exists(&pod));
}

/// The fake's administrator (the tests act as it beside kiln, which has deploy/'s rights).
fn admin_bearer() -> String {
    format!("Bearer {}", kiln_fake_kube::rbac::ADMIN_TOKEN)
}
