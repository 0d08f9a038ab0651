//! End-to-end tests of `kiln server` and the client commands: the real binary on 127.0.0.1
//! (port 0), a temporary data directory and git repositories made here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

/// Starts the server of `env` on `listen` (see [`Server::start`]).
fn start(env: &Env, listen: &str, vars: &[(&str, &str)]) -> Server {
    Server::start(&env.root, &env.config, listen, vars.iter().copied())
}

/// A test's directory: a git repository of pipelines and the server configuration.
struct Env {
    root: PathBuf,
    config: PathBuf,
    repo_url: String,
    commit: String,
    _dir: tempfile::TempDir,
}

const PIPELINES: &[(&str, &str)] = &[
    (
        "ok.Jenkinsfile",
        "pipeline {\n  agent any\n  parameters { string(name: 'WHO', defaultValue: 'world') }\n  stages { stage('Hi') { steps { echo \"hello ${params.WHO}\" } } }\n}\n",
    ),
    (
        "fail.Jenkinsfile",
        "pipeline {\n  agent any\n  stages { stage('Boom') { steps { sh 'echo about to fail; exit 3' } } }\n}\n",
    ),
    (
        "slow.Jenkinsfile",
        "pipeline {\n  agent any\n  stages { stage('Slow') { steps { sh 'for i in $(seq 1 200); do echo line $i; sleep 0.05; done' } } }\n}\n",
    ),
    (
        "gate.Jenkinsfile",
        "pipeline {\n  agent any\n  stages { stage('Gate') { steps { input message: 'Deploy?'\n echo 'deployed' } } }\n}\n",
    ),
];

impl Env {
    /// Jobs `ok`, `fail`, `slow`, `gate` (one pipeline each) and `signed` (= ok, with a webhook
    /// secret); `extra` is appended to each job's YAML.
    fn new(extra_jobs: &str) -> Env {
        let dir = tempfile::Builder::new()
            .prefix("kiln-e2e-")
            .tempdir()
            .unwrap();
        let root = dir.path().to_path_buf();
        let repo = root.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        for (name, text) in PIPELINES {
            std::fs::write(repo.join(name), text).unwrap();
        }
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "pipelines"]);
        let commit = git(&repo, &["rev-parse", "HEAD"]);
        let repo_url = format!("file://{}", repo.display());
        let mut yaml = format!(
            "server:\n  tokens:\n    - {{name: e2e, token: {TOKEN}, role: admin}}\n    - {{name: viewer, token: view-only, role: read}}\njobs:\n"
        );
        for job in ["ok", "fail", "slow", "gate"] {
            yaml.push_str(&format!(
                "  - name: {job}\n    repo: {repo_url}\n    jenkinsfile: {job}.Jenkinsfile\n"
            ));
        }
        yaml.push_str(&format!(
            "  - name: signed\n    repo: {repo_url}\n    jenkinsfile: ok.Jenkinsfile\n    webhook_secret: hook-secret\n"
        ));
        yaml.push_str(extra_jobs);
        let config = root.join("kiln.yaml");
        std::fs::write(&config, yaml).unwrap();
        Env {
            root,
            config,
            repo_url,
            commit,
            _dir: dir,
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Polls build `job#n` until `done` holds for it (at most a minute, as `wait_for`) and
/// returns it; when it gives up it shows the build, its log and the server's log.
fn wait_for_build(
    env: &Env,
    server: &Server,
    job: &str,
    n: u64,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut b = Value::Null;
    for _ in 0..600 {
        b = build(server, job, n);
        if done(&b) {
            return b;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = text(&kiln(server, &["logs", &format!("{job}#{n}")]).stdout);
    let server_log = std::fs::read_to_string(env.root.join("server.log")).unwrap_or_default();
    panic!("gave up waiting for {what}: {b}\n--- build log:\n{log}\n--- server log:\n{server_log}");
}

#[test]
fn trigger_with_follow_streams_the_log_and_exits_with_the_result() {
    let env = Env::new("");
    let server = start(&env, "127.0.0.1:0", &[]);
    let out = kiln(&server, &["trigger", "ok", "-p", "WHO=kiln", "--follow"]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let first = stdout.lines().next().unwrap();
    assert_eq!(first, format!("ok#1 {}/jobs/ok/1", server.url));
    assert!(stdout.contains("hello kiln"), "{stdout}");
    assert!(stdout.trim_end().ends_with("Finished: SUCCESS"), "{stdout}");

    let out = kiln(&server, &["trigger", "fail", "--follow"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("about to fail"), "{stdout}");
    assert!(stdout.trim_end().ends_with("Finished: FAILURE"), "{stdout}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "fail#1: Failed at stage Boom, step `sh 'echo about to fail; exit 3'`: script returned exit code 3\n"
        ),
        "the end names the failed step:\n{stderr}"
    );

    let out = kiln(&server, &["builds", "ok", "--output", "json"]);
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["builds"][0]["id"], "ok#1");
    assert_eq!(listed["builds"][0]["result"], "SUCCESS");
    let out = kiln(&server, &["logs", "ok#1"]);
    assert!(text(&out.stdout).contains("hello kiln"));

    let out = kiln(&server, &["trigger", "ok", "-p", "NOPE=1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("NOPE"), "{}", text(&out.stderr));
}

#[test]
fn client_commands_need_a_token_with_the_right_role() {
    let env = Env::new("");
    let server = start(&env, "127.0.0.1:0", &[]);
    let out = Command::new(KILN)
        .args(["jobs"])
        .env("KILN_SERVER", &server.url)
        .env_remove("KILN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("authentication required"),
        "{}",
        text(&out.stderr)
    );
    let out = Command::new(KILN)
        .args(["trigger", "ok"])
        .env("KILN_SERVER", &server.url)
        .env("KILN_TOKEN", "view-only")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("needs `trigger`"),
        "{}",
        text(&out.stderr)
    );
    let out = kiln(&server, &["jobs"]);
    assert!(
        text(&out.stdout).contains("signed"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn webhooks_build_when_signed_and_refuse_bad_signatures() {
    let env = Env::new("");
    let server = start(&env, "127.0.0.1:0", &[]);
    let payload = json!({
        "ref": "refs/heads/main",
        "after": env.commit,
        "repository": { "clone_url": env.repo_url },
        "sender": { "login": "octo" },
    })
    .to_string();
    let send = |signature: &str| {
        let mut r = agent()
            .post(&format!("{}/hooks/github", server.url))
            .header("x-github-event", "push")
            .header("x-hub-signature-256", signature)
            .send(payload.clone())
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    let (status, body) = send(&kiln_server::hooks::signature::github_sign(
        "wrong",
        payload.as_bytes(),
    ));
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains("hook-secret"));
    let (status, body) = send(&kiln_server::hooks::signature::github_sign(
        "hook-secret",
        payload.as_bytes(),
    ));
    assert_eq!(status, 202, "{body}");
    assert!(body.contains("signed#1"), "{body}");
    let out = kiln(&server, &["logs", "signed#1", "-f"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let b = build(&server, "signed", 1);
    assert_eq!(b["commit"], env.commit.as_str());
    assert!(
        b["cause"].as_str().unwrap().contains("GitHub push by octo"),
        "{b}"
    );
    let listed = api(&server, "/jobs/signed/builds");
    assert_eq!(
        listed["builds"].as_array().unwrap().len(),
        1,
        "the badly signed push must not build"
    );
}

#[test]
fn cron_triggers_build_when_the_clock_passes_the_schedule() {
    let env = Env::new("");
    let yaml = std::fs::read_to_string(&env.config).unwrap();
    let yaml = yaml.replace(
        "jenkinsfile: ok.Jenkinsfile\n    webhook_secret",
        "jenkinsfile: ok.Jenkinsfile\n    triggers: {cron: '*/5 * * * *'}\n    webhook_secret",
    );
    std::fs::write(&env.config, yaml).unwrap();
    let server = start(&env, "127.0.0.1:0", &[("KILN_MANUAL_CLOCK", "1")]);
    assert_eq!(
        api(&server, "/jobs/signed/builds")["builds"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let (status, body) = api_post(
        &server,
        "/api/v1/admin/clock",
        &json!({ "advance_secs": 360 }),
    );
    assert_eq!(status, 200, "{body}");
    wait_for("a timer build", || {
        !api(&server, "/jobs/signed/builds")["builds"]
            .as_array()
            .unwrap()
            .is_empty()
    });
    let out = kiln(&server, &["logs", "signed#1", "-f"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(build(&server, "signed", 1)["cause"], "Started by timer");
}

#[test]
fn cancel_stops_a_running_build() {
    let env = Env::new("");
    let server = start(&env, "127.0.0.1:0", &[]);
    let out = kiln(&server, &["trigger", "slow"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    wait_for("the build to print", || {
        build(&server, "slow", 1)["status"] == "running"
    });
    let out = kiln(&server, &["cancel", "slow#1"]);
    assert_eq!(
        text(&out.stdout),
        "cancelled slow#1\n",
        "{}",
        text(&out.stderr)
    );
    let out = kiln(&server, &["logs", "slow#1", "--follow"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).trim_end().ends_with("Finished: ABORTED"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(build(&server, "slow", 1)["result"], "ABORTED");
}

#[test]
fn input_is_answered_through_the_cli() {
    let env = Env::new("");
    let server = start(&env, "127.0.0.1:0", &[]);
    for (n, args, result) in [(1, vec![], "SUCCESS"), (2, vec!["--abort"], "ABORTED")] {
        assert!(kiln(&server, &["trigger", "gate"]).status.success());
        wait_for("the input", || {
            build(&server, "gate", n)["status"] == "waiting_for_input"
        });
        assert_eq!(
            build(&server, "gate", n)["pending_input"]["message"],
            "Deploy?"
        );
        let id = format!("gate#{n}");
        let mut approve = vec!["approve", id.as_str()];
        approve.extend(args.iter().copied());
        let out = kiln(&server, &approve);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let out = kiln(&server, &["logs", &id, "-f"]);
        let log = text(&out.stdout);
        assert!(
            log.trim_end().ends_with(&format!("Finished: {result}")),
            "{log}"
        );
        assert_eq!(log.contains("deployed"), result == "SUCCESS", "{log}");
    }
}

#[test]
fn kill_9_mid_build_keeps_every_line_seen_and_aborts_the_build() {
    let env = Env::new("");
    let mut server = start(&env, "127.0.0.1:0", &[]);
    assert!(kiln(&server, &["trigger", "slow"]).status.success());
    let mut follower = Command::new(KILN)
        .args(["logs", "slow#1", "-f"])
        .env("KILN_SERVER", &server.url)
        .env("KILN_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let seen = Arc::new(Mutex::new(String::new()));
    let reader = {
        let seen = seen.clone();
        let mut out = follower.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let _reap = ChildGuard(&mut follower);
    wait_for("twenty lines", || {
        seen.lock().unwrap().contains("line 20\n")
    });
    server.kill_9();
    let before_kill: Vec<String> = {
        let s = seen.lock().unwrap();
        s.lines()
            .filter(|l| l.contains("line "))
            .map(str::to_owned)
            .collect()
    };
    assert!(before_kill.len() >= 20);
    let addr = server.addr.clone();
    drop(server);
    let server = start(&env, &addr, &[]);
    let b = build(&server, "slow", 1);
    assert_eq!(b["result"], "ABORTED", "{b}");
    assert_eq!(b["reason"], "controller restarted", "{b}");
    let out = kiln(&server, &["logs", "slow#1"]);
    let stored = text(&out.stdout);
    for line in &before_kill {
        assert!(
            stored.lines().any(|l| l == line),
            "`{line}` was seen but is not stored:\n{stored}"
        );
    }
    assert!(stored.trim_end().ends_with("Finished: ABORTED"), "{stored}");
    // The follower reconnects to the restarted server and ends with the build.
    drop(_reap);
    reader.join().unwrap();
    let followed = seen.lock().unwrap().clone();
    assert_eq!(followed, stored, "the follower resumed where it stopped");
}

/// Waits for a client process (or kills it) when dropped.
struct ChildGuard<'a>(&'a mut Child);

impl Drop for ChildGuard<'_> {
    fn drop(&mut self) {
        for _ in 0..300 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn config_changes_are_reloaded_and_sigterm_stops_the_server() {
    let env = Env::new("");
    let mut server = start(&env, "127.0.0.1:0", &[]);
    let names = |server: &Server| -> Vec<String> {
        api(server, "/jobs")["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(!names(&server).contains(&"later".to_string()));
    let mut yaml = std::fs::read_to_string(&env.config).unwrap();
    yaml.push_str(&format!(
        "  - name: later\n    repo: {}\n    jenkinsfile: ok.Jenkinsfile\n",
        env.repo_url
    ));
    std::fs::write(&env.config, &yaml).unwrap();
    wait_for("the file change to be picked up", || {
        names(&server).contains(&"later".to_string())
    });
    // A broken file is reported and the configuration in force is kept.
    std::fs::write(&env.config, "jobz: []\n").unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_for("the error to be logged", || {
        std::fs::read_to_string(env.root.join("server.log"))
            .unwrap()
            .contains("unknown key `jobz`")
    });
    assert!(names(&server).contains(&"later".to_string()));
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

/// Job `kpod`'s pipeline: its step waits halfway until the test creates `go` in the gate (a
/// host directory, `GATE`, mounted at /gate), so that a restart falls between the halves
/// however slow the machine is.
const KPOD_PIPELINE: &str = "pipeline {\n  agent { kubernetes { yaml '''\nspec:\n  containers:\n  - name: work\n    image: busybox\n    volumeMounts:\n    - {name: gate, mountPath: /gate}\n  volumes:\n  - name: gate\n    hostPath: {path: GATE}\n''' } }\n  stages {\n  stage('Prep') { steps { sh 'echo prepared' } }\n  stage('Work') { steps {\n    input message: 'Go?'\n    writeFile file: 'note.txt', text: 'v1'\n    archiveArtifacts 'note.txt'\n    sh 'echo one >> runs.txt; echo v2 > note.txt; echo first-half; while [ ! -e /gate/go ]; do sleep 0.1; done; echo second-half'\n    sh 'set -- $(wc -l < runs.txt); echo \"runs=$1 note=$(cat note.txt)\"'\n  } } }\n}\n";

/// A fake Kubernetes cluster (kiln-fake-kube, in this process: it outlives the servers the
/// tests kill) and the server environment that runs job `kpod` in it.
struct Cluster {
    cluster: FakeCluster,
    /// `KILN_AGENT_PORT`: where the pods' agents listen when kiln port-forwards to them.
    port: String,
}

impl Cluster {
    /// Starts the fake and adds job `kpod` and `executors.kubernetes` to `env`'s config
    /// (`dial`: the agents dial kiln, as in the deployment; else kiln port-forwards to them).
    fn start(env: &Env, dial: bool) -> Cluster {
        let cluster = FakeCluster::start(&env.root);
        let gate = env.root.join("gate");
        std::fs::create_dir_all(&gate).unwrap();
        let repo = env.root.join("repo");
        let pipeline = KPOD_PIPELINE.replace("GATE", &gate.display().to_string());
        std::fs::write(repo.join("kpod.Jenkinsfile"), pipeline).unwrap();
        git(&repo, &["add", "kpod.Jenkinsfile"]);
        git(&repo, &["commit", "-q", "-m", "kpod"]);
        let mut yaml = std::fs::read_to_string(&env.config).unwrap();
        yaml.push_str(&format!(
            "  - name: kpod\n    repo: {}\n    jenkinsfile: kpod.Jenkinsfile\n{}",
            env.repo_url,
            cluster.executor_yaml(dial)
        ));
        std::fs::write(&env.config, yaml).unwrap();
        let port = kiln_fake_kube::free_agent_ports(1).to_string();
        Cluster { cluster, port }
    }

    fn server(&self, env: &Env, listen: &str) -> Server {
        let vars = [
            ("KILN_AGENT_INSTALL", self.cluster.install.as_str()),
            ("KILN_AGENT_PORT", self.port.as_str()),
        ];
        start(env, listen, &vars)
    }

    fn fake(&self) -> &kiln_fake_kube::FakeKube {
        self.cluster.fake()
    }

    fn pod_exists(&self, name: &str) -> bool {
        self.cluster.pod_exists(name)
    }
}

/// Triggers `kpod`, waits until its step printed its first half, then kills the server with
/// `kill -9` (or, `graceful`, stops it with SIGTERM); returns the build's pod and the
/// server's address.
fn kpod_stopped_mid_step(cluster: &Cluster, env: &Env, graceful: bool) -> (String, String) {
    let mut server = cluster.server(env, "127.0.0.1:0");
    assert!(kiln(&server, &["trigger", "kpod"]).status.success());
    wait_for_build(env, &server, "kpod", 1, "the input", |b| {
        b["status"] == "waiting_for_input"
    });
    assert!(kiln(&server, &["approve", "kpod#1"]).status.success());
    let mut log = String::new();
    wait_for("the step's first half", || {
        log = text(&kiln(&server, &["logs", "kpod#1"]).stdout);
        log.contains("[Work] first-half\n")
    });
    if graceful {
        let pid = server.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        assert!(server.child.wait().unwrap().success());
    } else {
        server.kill_9();
    }
    let pod = log
        .lines()
        .find_map(|l| l.strip_prefix("Running in pod "))
        .expect("the log names the pod")
        .to_owned();
    assert!(cluster.pod_exists(&pod), "{log}");
    (pod, server.addr.clone())
}

fn kpod_finished(env: &Env, server: &Server) -> (Value, String) {
    let b = wait_for_build(env, server, "kpod", 1, "kpod#1 to finish", |b| {
        b["status"] == "finished"
    });
    (b, text(&kiln(server, &["logs", "kpod#1"]).stdout))
}

#[test]
fn a_build_in_a_pod_survives_a_kill_9_of_the_controller() {
    let env = Env::new("");
    let cluster = Cluster::start(&env, false);
    let (pod, addr) = kpod_stopped_mid_step(&cluster, &env, false);
    let server = cluster.server(&env, &addr);
    let log = kpod_resumed_to_success(&cluster, &env, &server, &pod);
    assert!(!log.contains("the controller is stopping"), "{log}");
}

#[test]
fn a_build_in_a_pod_whose_agents_dial_kiln_survives_a_kill_9_of_the_controller() {
    let env = Env::new("");
    let cluster = Cluster::start(&env, true);
    let (pod, addr) = kpod_stopped_mid_step(&cluster, &env, false);
    let server = cluster.server(&env, &addr);
    kpod_resumed_to_success(&cluster, &env, &server, &pod);
}

#[test]
fn a_build_in_a_pod_is_left_running_by_a_graceful_stop_and_taken_over() {
    let env = Env::new("");
    let cluster = Cluster::start(&env, false);
    let (pod, addr) = kpod_stopped_mid_step(&cluster, &env, true);
    let b = {
        let server = cluster.server(&env, &addr);
        kpod_resumed_to_success(&cluster, &env, &server, &pod)
    };
    let stopping = format!(
        "kiln: the controller is stopping; the build goes on in pod {pod} and is taken over at the next start"
    );
    assert_eq!(b.lines().filter(|l| *l == stopping).count(), 1, "{b}");
}

/// Lets `kpod#1`'s step go on, waits for the resumed build and checks it: SUCCESS, every line
/// once (the step that counts its runs ran once), the marker between the halves, the pod
/// deleted; returns the log.
fn kpod_resumed_to_success(cluster: &Cluster, env: &Env, server: &Server, pod: &str) -> String {
    std::fs::write(env.root.join("gate/go"), "").unwrap();
    let (b, log) = kpod_finished(env, server);
    assert_eq!(b["result"], "SUCCESS", "{b}\n{log}");
    let once = [
        "Started by user e2e".to_owned(),
        format!("Running in pod {pod}"),
        format!("kiln: controller restarted; build resumed in pod {pod}"),
        "[Prep] prepared".to_owned(),
        "[Work] first-half".to_owned(),
        "[Work] second-half".to_owned(),
        // The input answered before the restart is answered again, without a wait.
        "[Work] Approved by e2e".to_owned(),
        // The step that appends to the counter ran once, and the note it wrote over the one
        // `writeFile` wrote was not written over again by the repeated `writeFile`.
        "[Work] runs=1 note=v2".to_owned(),
        "Finished: SUCCESS".to_owned(),
    ];
    for line in &once {
        assert_eq!(
            log.lines().filter(|l| l == line).count(),
            1,
            "`{line}`:\n{log}"
        );
    }
    for once in ["Uploaded ", "Waiting for input `Go`"] {
        let n = log.lines().filter(|l| l.starts_with(once)).count();
        assert_eq!(n, 1, "`{once}`:\n{log}");
    }
    // What was archived before the restart is kept (the workspace's note is v2 by now).
    let archived = env.root.join("data/builds/kpod/1/artifacts/note.txt");
    assert_eq!(std::fs::read_to_string(archived).unwrap(), "v1");
    let marker = log.find("kiln: controller restarted").unwrap();
    assert!(log.find("[Work] first-half").unwrap() < marker, "{log}");
    assert!(marker < log.find("[Work] second-half").unwrap(), "{log}");
    assert!(log.ends_with("Finished: SUCCESS\n"), "{log}");
    wait_for("the pod to be deleted", || !cluster.pod_exists(pod));
    log
}

#[test]
fn a_build_whose_pod_is_gone_after_a_restart_is_aborted_with_the_reason() {
    let env = Env::new("");
    let cluster = Cluster::start(&env, false);
    let (pod, addr) = kpod_stopped_mid_step(&cluster, &env, false);
    let url = format!(
        "{}/api/v1/namespaces/default/pods/{pod}?gracePeriodSeconds=0",
        cluster.fake().url()
    );
    let r = agent()
        .delete(&url)
        .header("Authorization", &admin_bearer())
        .call()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    wait_for("the pod to be gone", || !cluster.pod_exists(&pod));
    let server = cluster.server(&env, &addr);
    let (b, log) = kpod_finished(&env, &server);
    assert_eq!(b["result"], "ABORTED", "{b}\n{log}");
    let reason = format!("controller restarted: pod {pod} is gone");
    assert_eq!(b["reason"], reason.as_str(), "{b}");
    assert!(
        log.contains(&format!("pod {pod} is gone; the build was aborted\n")),
        "{log}"
    );
    assert!(log.ends_with("Finished: ABORTED\n"), "{log}");
    assert_eq!(log.matches("[Work] first-half").count(), 1, "{log}");
}

/// README's two commands: `kiln server --config examples/kiln.yaml` from the repository root
/// (a relative config path, `data_dir: ../kiln-data`, a `dir:` job and a `repo: ..` job),
/// then `kiln trigger hello --follow` and the same for the git job, both SUCCESS. Run in a
/// copy of the repository's examples, committed to a fresh git repository.
#[test]
fn the_readme_server_runs_the_example_jobs_from_a_relative_config() {
    let dir = tempfile::Builder::new()
        .prefix("kiln-readme-")
        .tempdir()
        .unwrap();
    let root = dir.path();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    for file in [
        "kiln.yaml",
        "hello/Jenkinsfile",
        "parallel-fanout/Jenkinsfile",
        "release-train/Jenkinsfile",
    ] {
        let to = root.join("examples").join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(examples.join(file), &to).unwrap();
    }
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "examples"]);
    // The example listens on 8080; a free port instead, everything else as written.
    let mut child = Command::new(KILN)
        .args([
            "server",
            "--config",
            "examples/kiln.yaml",
            "--listen",
            "127.0.0.1:0",
        ])
        .current_dir(root)
        .env_remove("KILN_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // Killed when the test ends, however it ends.
    let server = Server {
        child,
        url: String::new(),
        addr: String::new(),
    };
    let mut lines = BufReader::new(stdout).lines();
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split("listening on ")
                .nth(1)
                .map(|r| r.split_whitespace().next().unwrap_or("").to_owned())
        })
        .expect("the server did not start");
    std::thread::spawn(move || for _ in lines {});
    for job in ["hello", "fanout", "release"] {
        let out = Command::new(KILN)
            .args(["trigger", job, "--follow"])
            .env("KILN_SERVER", &url)
            .output()
            .unwrap();
        let stdout = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{job}:\n{stdout}\n{}",
            text(&out.stderr)
        );
        assert!(stdout.trim_end().ends_with("Finished: SUCCESS"), "{stdout}");
    }
    assert!(
        root.join("kiln-data").is_dir(),
        "data_dir is relative to the config file"
    );
    drop(server);
}

/// The fake's administrator (the tests act as it beside kiln, which has deploy/'s rights).
fn admin_bearer() -> String {
    format!("Bearer {}", kiln_fake_kube::rbac::ADMIN_TOKEN)
}

#[test]
fn a_server_builds_log_shows_its_pods_events_and_retried_pulls() {
    let env = Env::new("");
    let cluster = Cluster::start(&env, false);
    // The registry answers 429 to the first two pulls of the build's image.
    cluster.fake().fail_image_pulls("busybox", 2);
    let server = cluster.server(&env, "127.0.0.1:0");
    assert!(kiln(&server, &["trigger", "kpod"]).status.success());
    wait_for_build(&env, &server, "kpod", 1, "the input", |b| {
        b["status"] == "waiting_for_input"
    });
    let log = text(&kiln(&server, &["logs", "kpod#1"]).stdout);
    let at = |part: &str| {
        log.find(part)
            .unwrap_or_else(|| panic!("{part:?} missing:\n{log}"))
    };
    let scheduled = at("][Scheduled] Successfully assigned ");
    let refused = at("][Failed] Failed to pull image \"busybox\": ");
    let counted = at("kiln: pulling image `busybox` for container `work` failed (2 of 5 tries)");
    let running = at("Running in pod ");
    assert!(
        scheduled < refused && refused < counted && counted < running,
        "{log}"
    );
    assert!(log.contains("429 Too Many Requests"), "{log}");
    assert_eq!(
        log.matches("][Failed] Error: ErrImagePull").count(),
        1,
        "{log}"
    );
}
