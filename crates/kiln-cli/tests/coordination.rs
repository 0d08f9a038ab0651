//! End-to-end tests of the steps that coordinate builds on the server (`lock`, `build`,
//! `milestone`): the real `kiln server` on 127.0.0.1 (port 0), pipelines in a git
//! repository made here, and builds that wait on gate files the test creates, so every
//! ordering is decided by the test, never by timing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use std::path::PathBuf;
use support::*;

/// A build step that records its start, waits for its gate file (or for the test's
/// directory to be gone, so no process outlives the test), and records its end.
const GATED: &str = r#"sh '''
echo "$JOB_NAME#$BUILD_NUMBER start $(date +%s%N)" >> "$COORD_DIR/events"
while [ ! -e "$COORD_DIR/gate-$JOB_NAME-$BUILD_NUMBER" ] && [ -d "$COORD_DIR" ]; do sleep 0.05; done
echo "$JOB_NAME#$BUILD_NUMBER end $(date +%s%N)" >> "$COORD_DIR/events"
'''"#;

fn pipelines() -> Vec<(&'static str, String)> {
    vec![
        // The lock three ways: the pipeline's option, a stage's option, the step.
        (
            "a",
            format!(
                "pipeline {{\n  agent any\n  options {{ lock('db') }}\n  stages {{ stage('Work') {{ steps {{ {GATED} }} }} }}\n}}\n"
            ),
        ),
        (
            "b",
            format!(
                "pipeline {{\n  agent any\n  stages {{ stage('Work') {{\n    options {{ lock(resource: 'db', variable: 'HELD') }}\n    steps {{ echo \"holding ${{env.HELD}}\"\n {GATED} }}\n  }} }}\n}}\n"
            ),
        ),
        (
            "c",
            format!(
                "pipeline {{\n  agent any\n  stages {{ stage('Work') {{ steps {{ lock('db') {{ {GATED} }} }} }} }}\n}}\n"
            ),
        ),
        (
            "down",
            "pipeline {\n  agent any\n  parameters { string(name: 'MODE', defaultValue: 'ok') }\n  stages { stage('Down') { steps { script {\n    env.SEEN = \"mode ${params.MODE}\"\n    if (params.MODE == 'fail') { error 'asked to fail' }\n    if (params.MODE == 'unstable') { unstable 'asked to be unstable' }\n  } } } }\n}\n".to_owned(),
        ),
        (
            "up",
            "pipeline {\n  agent any\n  parameters { string(name: 'MODE', defaultValue: 'ok') }\n  stages {\n    stage('Look') { steps { script {\n      def b = build(job: 'down', propagate: false, parameters: [string(name: 'MODE', value: 'fail')])\n      echo \"looked: ${b.result} #${b.number} ${b.buildVariables.SEEN}\"\n    } } }\n    stage('Call') { steps { build job: 'down', parameters: [string(name: 'MODE', value: \"${params.MODE}\")] } }\n    stage('After') { steps { echo 'after the call' } }\n  }\n}\n".to_owned(),
        ),
        (
            "fire",
            "pipeline {\n  agent any\n  stages { stage('Fire') { steps {\n    build job: 'down', wait: false\n    echo 'not waiting'\n  } } }\n}\n".to_owned(),
        ),
        (
            "later",
            "pipeline {\n  agent any\n  stages { stage('Later') { steps { build job: 'down', wait: false, quietPeriod: 30 } } }\n}\n".to_owned(),
        ),
        (
            "loop",
            "pipeline {\n  agent any\n  stages { stage('Again') { steps { build job: 'loop' } } }\n}\n".to_owned(),
        ),
        (
            "ms",
            format!(
                "pipeline {{\n  agent any\n  stages {{ stage('Wait') {{ steps {{ {GATED}\n milestone(1)\n echo 'past the milestone' }} }} }}\n}}\n"
            ),
        ),
    ]
}

/// The test's directory: the repository, the configuration and the gate directory.
struct Env {
    root: PathBuf,
    config: PathBuf,
    gates: PathBuf,
    _dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("kiln-coord-")
            .tempdir()
            .unwrap();
        let root = dir.path().to_path_buf();
        let repo = root.join("repo");
        let gates = root.join("gates");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::create_dir_all(&gates).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        let mut yaml = format!(
            "server:\n  tokens:\n    - {{name: e2e, token: {TOKEN}, role: admin}}\nexecutors:\n  local:\n    capacity: 6\n    env: [COORD_DIR]\nlocks:\n  - name: db\n    labels: [database]\njobs:\n"
        );
        for (name, text) in pipelines() {
            std::fs::write(repo.join(format!("{name}.Jenkinsfile")), text).unwrap();
            yaml.push_str(&format!(
                "  - name: {name}\n    repo: file://{}\n    jenkinsfile: {name}.Jenkinsfile\n    concurrency: 3\n",
                repo.display()
            ));
        }
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "pipelines"]);
        let config = root.join("kiln.yaml");
        std::fs::write(&config, yaml).unwrap();
        Env {
            root,
            config,
            gates,
            _dir: dir,
        }
    }

    fn start(&self, listen: &str) -> Server {
        self.start_with(listen, &[])
    }

    fn start_with(&self, listen: &str, vars: &[(&str, &str)]) -> Server {
        let mut all: Vec<(&str, &std::ffi::OsStr)> = vec![("COORD_DIR", self.gates.as_os_str())];
        all.extend(vars.iter().map(|(k, v)| (*k, std::ffi::OsStr::new(*v))));
        Server::start(&self.root, &self.config, listen, all)
    }

    fn open_gate(&self, build: &str) {
        let name = build.replace('#', "-");
        std::fs::write(self.gates.join(format!("gate-{name}")), "").unwrap();
    }

    /// The recorded `(build, start|end, nanos)` events, in the order they were written.
    fn events(&self) -> Vec<(String, String, u128)> {
        let text = std::fs::read_to_string(self.gates.join("events")).unwrap_or_default();
        text.lines()
            .map(|l| {
                let mut w = l.split_whitespace();
                let (b, kind, t) = (w.next().unwrap(), w.next().unwrap(), w.next().unwrap());
                (b.to_owned(), kind.to_owned(), t.parse().unwrap())
            })
            .collect()
    }
}

fn trigger(server: &Server, job: &str) {
    let out = kiln(server, &["trigger", job]);
    assert!(out.status.success(), "{out:?}");
}

fn locks(server: &Server) -> Value {
    api(server, "/locks")
}

fn holder(server: &Server) -> Value {
    locks(server)["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "db")
        .map_or(Value::Null, |r| r["held_by"]["name"].clone())
}

fn waiting(server: &Server) -> Vec<String> {
    locks(server)["waiting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["build"]["name"].as_str().unwrap().to_owned())
        .collect()
}

fn log(server: &Server, build: &str) -> String {
    String::from_utf8_lossy(&kiln(server, &["logs", build]).stdout).into_owned()
}

fn finished(env: &Env, server: &Server, job: &str, n: u64) -> Value {
    let id = format!("{job}#{n}");
    wait_or_show(
        &format!("{id} to finish"),
        || build(server, job, n)["status"] == "finished",
        || {
            let server_log =
                std::fs::read_to_string(env.root.join("server.log")).unwrap_or_default();
            format!(
                "{}\n{}\n{server_log}",
                build(server, job, n),
                log(server, &id)
            )
        },
    );
    build(server, job, n)
}

/// Checks that no two builds' start..end intervals overlap; the builds in start order.
fn sequential(events: &[(String, String, u128)]) -> Vec<String> {
    let mut order = Vec::new();
    let mut open: Option<&str> = None;
    for (b, kind, _) in events {
        match kind.as_str() {
            "start" => {
                assert!(
                    open.is_none(),
                    "{b} started while {open:?} held the lock: {events:?}"
                );
                open = Some(b);
                order.push(b.clone());
            }
            _ => {
                assert_eq!(open, Some(b.as_str()), "{events:?}");
                open = None;
            }
        }
    }
    order
}

#[test]
fn builds_holding_lock_db_never_overlap_and_take_it_in_arrival_order() {
    let env = Env::new();
    let server = env.start("127.0.0.1:0");
    trigger(&server, "a");
    wait_for("a#1 to hold db", || holder(&server) == "a#1");
    trigger(&server, "b");
    wait_for("b#1 to wait", || waiting(&server) == ["b#1"]);
    trigger(&server, "c");
    wait_for("c#1 to wait", || waiting(&server) == ["b#1", "c#1"]);
    let view = locks(&server);
    let db = &view["resources"][0];
    assert_eq!(db["name"], "db", "{view}");
    assert_eq!(db["labels"], serde_json::json!(["database"]), "{view}");
    assert!(log(&server, "b#1").contains("Waiting for lock db, held by a#1"));
    for id in ["a#1", "b#1", "c#1"] {
        env.open_gate(id);
    }
    for job in ["a", "b", "c"] {
        assert_eq!(finished(&env, &server, job, 1)["result"], "SUCCESS");
    }
    assert_eq!(sequential(&env.events()), ["a#1", "b#1", "c#1"]);
    let b = log(&server, "b#1");
    assert!(b.contains("[Work] holding db"), "{b}");
    assert!(b.contains("[Work] Lock released on resource [db]"), "{b}");
    assert_eq!(holder(&server), Value::Null);
    assert!(waiting(&server).is_empty());
}

#[test]
fn a_cancelled_holder_releases_the_lock_and_a_cancelled_waiter_leaves_the_queue() {
    let env = Env::new();
    let server = env.start("127.0.0.1:0");
    trigger(&server, "a");
    wait_for("a#1 to hold db", || holder(&server) == "a#1");
    trigger(&server, "b");
    wait_for("b#1 to wait", || waiting(&server) == ["b#1"]);
    trigger(&server, "c");
    wait_for("c#1 to wait", || waiting(&server) == ["b#1", "c#1"]);
    kiln_ok(&server, &["cancel", "b#1"]);
    assert_eq!(finished(&env, &server, "b", 1)["result"], "ABORTED");
    assert_eq!(waiting(&server), ["c#1"]);
    kiln_ok(&server, &["cancel", "a#1"]);
    assert_eq!(finished(&env, &server, "a", 1)["result"], "ABORTED");
    wait_for("c#1 to hold db", || holder(&server) == "c#1");
    env.open_gate("c#1");
    assert_eq!(finished(&env, &server, "c", 1)["result"], "SUCCESS");
}

#[test]
fn a_lock_held_when_the_controller_is_killed_is_free_after_the_restart() {
    let env = Env::new();
    let mut server = env.start("127.0.0.1:0");
    trigger(&server, "a");
    wait_for("a#1 to hold db", || holder(&server) == "a#1");
    server.kill_9();
    let addr = server.addr.clone();
    drop(server);
    let server = env.start(&addr);
    assert_eq!(build(&server, "a", 1)["result"], "ABORTED");
    assert_eq!(holder(&server), Value::Null);
    env.open_gate("c#1");
    trigger(&server, "c");
    assert_eq!(finished(&env, &server, "c", 1)["result"], "SUCCESS");
    let c = log(&server, "c#1");
    assert!(!c.contains("Waiting for lock"), "{c}");
}

#[test]
fn build_waits_for_the_downstream_build_and_propagates_its_result() {
    let env = Env::new();
    let server = env.start("127.0.0.1:0");
    let out = kiln(&server, &["trigger", "up", "-p", "MODE=fail"]);
    assert!(out.status.success(), "{out:?}");
    let up = finished(&env, &server, "up", 1);
    assert_eq!(up["result"], "FAILURE", "{up}");
    let text = log(&server, "up#1");
    let url = format!("{}/jobs/down/1", server.url);
    assert!(
        text.contains(&format!("[Look] Starting building: down #1 ({url})")),
        "{text}"
    );
    assert!(
        text.contains("[Look] Build down #1 completed: FAILURE"),
        "{text}"
    );
    assert!(
        text.contains("[Look] looked: FAILURE #1 mode fail"),
        "{text}"
    );
    assert!(
        text.contains("[Call] Build down #2 completed: FAILURE"),
        "{text}"
    );
    assert!(
        text.contains("down #2 completed with status FAILURE (propagate: false to ignore)"),
        "{text}"
    );
    assert!(!text.contains("after the call"), "{text}");
    let down = build(&server, "down", 2);
    assert_eq!(
        down["cause"],
        "Started by upstream project up build number 1"
    );
    assert_eq!(down["params"]["MODE"], "fail");

    let out = kiln(&server, &["trigger", "up", "-p", "MODE=unstable"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(finished(&env, &server, "up", 2)["result"], "UNSTABLE");
    assert!(log(&server, "up#2").contains("[After] after the call"));
}

#[test]
fn a_build_starting_a_job_already_in_its_chain_is_refused() {
    let env = Env::new();
    let server = env.start("127.0.0.1:0");
    trigger(&server, "loop");
    assert_eq!(finished(&env, &server, "loop", 1)["result"], "FAILURE");
    let text = log(&server, "loop#1");
    assert!(
        text.contains(
            "build: refusing to start job `loop`: it would form a cycle (loop#1 -> loop)"
        ),
        "{text}"
    );
    assert!(
        build(&server, "loop", 2)["error"].is_string(),
        "no loop#2 was queued"
    );
}

#[test]
fn cancelling_the_upstream_build_aborts_the_downstream_build_it_waits_for() {
    let env = Env::new();
    // `up` waits for `a`, which holds `db` until its gate opens.
    let up =
        "pipeline {\n  agent any\n  stages { stage('Call') { steps { build job: 'a' } } }\n}\n";
    std::fs::write(env.root.join("repo/up.Jenkinsfile"), up).unwrap();
    git(
        &env.root.join("repo"),
        &["commit", "-q", "-am", "up calls a"],
    );
    let server = env.start("127.0.0.1:0");
    trigger(&server, "up");
    wait_for("a#1 to hold db", || holder(&server) == "a#1");
    kiln_ok(&server, &["cancel", "up#1"]);
    assert_eq!(finished(&env, &server, "up", 1)["result"], "ABORTED");
    let a = finished(&env, &server, "a", 1);
    assert_eq!(a["result"], "ABORTED", "{a}");
    assert_eq!(a["reason"], "Aborted by the upstream build up#1", "{a}");
}

#[test]
fn a_newer_build_passing_a_milestone_aborts_the_older_one() {
    let env = Env::new();
    let server = env.start("127.0.0.1:0");
    trigger(&server, "ms");
    wait_for("ms#1 to run", || {
        build(&server, "ms", 1)["status"] == "running"
    });
    trigger(&server, "ms");
    env.open_gate("ms#2");
    assert_eq!(finished(&env, &server, "ms", 2)["result"], "SUCCESS");
    let older = finished(&env, &server, "ms", 1);
    assert_eq!(older["result"], "ABORTED", "{older}");
    assert_eq!(older["reason"], "Superseded by ms#2", "{older}");
    assert!(log(&server, "ms#2").contains("[Wait] past the milestone"));
}

#[test]
fn kiln_run_starts_build_jobs_only_on_a_server_given_with_server() {
    let env = Env::new();
    let server = env.start("127.0.0.1:0");
    let work = env.root.join("local");
    std::fs::create_dir_all(&work).unwrap();
    let jenkinsfile = work.join("Jenkinsfile");
    std::fs::write(
        &jenkinsfile,
        "pipeline {\n  agent any\n  stages { stage('Call') { steps { script {\n    def b = build(job: 'down', parameters: [string(name: 'MODE', value: 'ok')])\n    echo \"down said ${b.buildVariables.SEEN}\"\n  } } } }\n}\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        std::process::Command::new(KILN)
            .arg("run")
            .arg(&jenkinsfile)
            .arg("--workspace")
            .arg(&work)
            .args(extra)
            .env("KILN_TOKEN", TOKEN)
            .env_remove("KILN_LOG")
            .output()
            .unwrap()
    };
    let out = run(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("build: `kiln run` cannot start job `down` by itself; give `--server URL`"),
        "{stdout}"
    );
    let out = run(&["--server", &server.url]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = format!("{}/jobs/down/1", server.url);
    assert!(
        stdout.contains(&format!("[Call] Starting building: down #1 ({url})")),
        "{stdout}"
    );
    assert!(
        stdout.contains("[Call] Build down #1 completed: SUCCESS"),
        "{stdout}"
    );
    assert!(stdout.contains("[Call] down said mode ok"), "{stdout}");
    assert_eq!(build(&server, "down", 1)["variables"]["SEEN"], "mode ok");
}

#[test]
fn lint_knows_the_coordination_steps() {
    let env = Env::new();
    for (name, _) in pipelines() {
        let file = env.root.join(format!("repo/{name}.Jenkinsfile"));
        let out = std::process::Command::new(KILN)
            .arg("lint")
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {out:?}");
    }
}

#[test]
fn build_without_wait_returns_once_the_downstream_build_is_queued() {
    let env = Env::new();
    let server = env.start("127.0.0.1:0");
    trigger(&server, "fire");
    assert_eq!(finished(&env, &server, "fire", 1)["result"], "SUCCESS");
    let text = log(&server, "fire#1");
    assert!(text.contains("[Fire] Starting building: down #1"), "{text}");
    assert!(text.contains("[Fire] not waiting"), "{text}");
    assert!(!text.contains("completed"), "{text}");
    let down = finished(&env, &server, "down", 1);
    assert_eq!(down["result"], "SUCCESS", "{down}");
    assert_eq!(
        down["cause"],
        "Started by upstream project fire build number 1"
    );
}

#[test]
fn build_quiet_period_holds_the_downstream_build_in_the_queue() {
    let env = Env::new();
    let server = env.start_with("127.0.0.1:0", &[("KILN_MANUAL_CLOCK", "1")]);
    trigger(&server, "later");
    assert_eq!(finished(&env, &server, "later", 1)["result"], "SUCCESS");
    // A build queued after it, without a quiet period, runs to the end meanwhile.
    env.open_gate("c#1");
    trigger(&server, "c");
    assert_eq!(finished(&env, &server, "c", 1)["result"], "SUCCESS");
    assert_eq!(build(&server, "down", 1)["status"], "queued");
    let (status, body) = api_post(
        &server,
        "/api/v1/admin/clock",
        &serde_json::json!({ "advance_secs": 29 }),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(build(&server, "down", 1)["status"], "queued");
    api_post(
        &server,
        "/api/v1/admin/clock",
        &serde_json::json!({ "advance_secs": 2 }),
    );
    assert_eq!(finished(&env, &server, "down", 1)["result"], "SUCCESS");
}

#[test]
fn kiln_run_locks_are_shared_by_parallel_branches() {
    let dir = tempfile::Builder::new()
        .prefix("kiln-coord-run-")
        .tempdir()
        .unwrap();
    let step = r#"lock('x') { sh 'echo "$STAGE_NAME start" >> events; sleep 0.3; echo "$STAGE_NAME end" >> events' }"#;
    let branches: Vec<String> = ["one", "two", "three"]
        .iter()
        .map(|b| format!("stage('{b}') {{ steps {{ {step} }} }}"))
        .collect();
    let jenkinsfile = dir.path().join("Jenkinsfile");
    std::fs::write(
        &jenkinsfile,
        format!(
            "pipeline {{\n  agent any\n  stages {{ stage('All') {{ parallel {{\n{}\n  }} }} }}\n}}\n",
            branches.join("\n")
        ),
    )
    .unwrap();
    let out = std::process::Command::new(KILN)
        .arg("run")
        .arg(&jenkinsfile)
        .arg("--workspace")
        .arg(dir.path())
        .env_remove("KILN_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let events = std::fs::read_to_string(dir.path().join("events")).unwrap();
    let lines: Vec<&str> = events.lines().collect();
    assert_eq!(lines.len(), 6, "{events}");
    for pair in lines.chunks(2) {
        let who = pair[0].trim_end_matches(" start");
        assert_eq!(
            pair[1],
            format!("{who} end"),
            "branches overlapped:\n{events}"
        );
    }
}
