//! Pod builds under kill churn: three kiln servers (the real binary) on one PostgreSQL
//! database the test starts on 127.0.0.1, their builds' steps in pods on kiln-fake-kube
//! (port-forwarded, as with several controllers). While the builds run, a controller is
//! killed (`kill -9`) every few seconds, whatever its builds are doing, and started again;
//! another takes its builds over and resumes them in their pods (or, when the killed one had
//! not recorded a pod yet, runs them from their start in new pods). Every step runs once (each marks a file of the test's,
//! mounted in the pods), each log holds each line once, and no pod is left.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kiln_testkit::GitRepo;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::controllers::{Controllers, STORE_YAML, pod_agent};
use support::*;

/// Two stages in one pod, each step marking its run in the test's directory (`/marks`); the
/// first lasts long enough for kills to land while it runs.
const POD: &str = r#"pipeline {
  AGENT
  stages {
    stage('One') { steps {
      sh 'echo "$JOB_NAME#$BUILD_NUMBER one" >> /marks/runs; echo "one $JOB_NAME#$BUILD_NUMBER"; sleep 1; echo "one done"'
    } }
    stage('Two') { steps {
      sh 'echo "$JOB_NAME#$BUILD_NUMBER two" >> /marks/runs; echo "two $JOB_NAME#$BUILD_NUMBER"'
    } }
  }
}
"#;

const JOBS: [&str; 3] = ["p0", "p1", "p2"];
/// Builds triggered, spread over the jobs and the controllers. They run one at a time: the
/// fake's pods share this machine's network, where each pod's agent listens on the same port.
const BUILDS: usize = 20;
/// Kills, each of a controller driving a running build, at least [`KILL_GAP`] apart. A
/// killed owner's builds wait for its lease to run out (10 s), so the builds outlast them.
const KILLS: usize = 4;
const KILL_GAP: Duration = Duration::from_secs(3);

fn log(server: &Server, build: &str) -> String {
    String::from_utf8_lossy(&kiln(server, &["logs", build]).stdout).into_owned()
}

fn builds(server: &Server, job: &str) -> Vec<Value> {
    api(server, &format!("/jobs/{job}/builds"))["builds"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Whether a controller's `log` says it started or resumed one of the `running` builds.
fn drives_one_of(log: &str, running: &[&str]) -> bool {
    log.lines()
        .filter(|l| l.contains("build started") || l.contains("build resumed"))
        .any(|l| {
            let l = format!("{l} ");
            running.iter().any(|id| l.contains(&format!("build={id} ")))
        })
}

/// Who listens on `127.0.0.1:port` (from `/proc/net/tcp` and the processes' open files), for
/// a failure's report: the fake's pods share this machine's network, so an agent that outlived
/// its pod would take the next pods' port.
fn port_holder(port: u16) -> String {
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let local = format!("0100007F:{port:04X}");
    let Some(inode) = tcp.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(1) == Some(&local.as_str()) && f.get(3) == Some(&"0A"))
            .then(|| f.get(9).map(|i| i.to_string()))?
    }) else {
        return format!("nothing listens on 127.0.0.1:{port}");
    };
    let socket = format!("socket:[{inode}]");
    let holders: Vec<String> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .any(|fd| {
                    std::fs::read_link(fd.path()).is_ok_and(|t| t.to_string_lossy() == socket)
                })
        })
        .map(|pid| {
            let read = |f: &str| std::fs::read(format!("/proc/{pid}/{f}")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&read("cmdline")).replace('\0', " ");
            let pod = String::from_utf8_lossy(&read("environ"))
                .split('\0')
                .find_map(|v| v.strip_prefix("HOSTNAME=").map(str::to_owned))
                .unwrap_or_default();
            format!("pid {pid} (pod {pod}): {cmdline}")
        })
        .collect();
    format!("127.0.0.1:{port} is held by {holders:?}")
}

/// Lines of `text` that are exactly `line`.
fn lines_equal(text: &str, line: &str) -> usize {
    text.lines().filter(|l| *l == line).count()
}

#[test]
fn pod_builds_under_kill_churn_run_each_step_once_and_leave_no_pod() {
    let ctl = Controllers::new("kiln-churn-");
    let marks = ctl.root.join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let git = GitRepo::init(ctl.root.join("repo"));
    let pod = POD.replace("AGENT", &pod_agent(&marks));
    git.commit(&[("Pod.Jenkinsfile", &pod)], "pipeline");
    let cluster = FakeCluster::start(&ctl.root);
    let mut yaml = format!(
        "{}queue:\n  capacity: 1\n{STORE_YAML}jobs:\n",
        cluster.executor_yaml(false)
    );
    for job in JOBS {
        yaml.push_str(&format!(
            "  - name: {job}\n    repo: file://{}\n    jenkinsfile: Pod.Jenkinsfile\n",
            git.path().display()
        ));
    }
    ctl.configure(&yaml);
    // The fake's pods share this machine's network: the agents' port is this test's own.
    let port = kiln_fake_kube::free_agent_ports(1);
    let agent_port = port.to_string();
    let report = || format!("{}\n{}", ctl.server_logs(3), port_holder(port));
    let vars = [
        ("KILN_AGENT_INSTALL", cluster.install.as_str()),
        ("KILN_AGENT_PORT", agent_port.as_str()),
    ];
    let mut servers: Vec<Server> = (1..=3).map(|n| ctl.start(n, &vars)).collect();
    // Every build queued at once (one client each), spread over the controllers.
    let ids: Vec<String> = std::thread::scope(|s| {
        let sent: Vec<_> = (0..BUILDS)
            .map(|i| {
                let (job, server) = (JOBS[i % 3], &servers[(i / 3) % 3]);
                s.spawn(move || {
                    let path = format!("/api/v1/jobs/{job}/builds");
                    let (status, body) = api_post(server, &path, &json!({}));
                    assert_eq!(status, 201, "{body}");
                    format!("{job}#{}", body["number"].as_u64().unwrap())
                })
            })
            .collect();
        sent.into_iter().map(|t| t.join().unwrap()).collect()
    });
    // Kill the owner of a running build (and start it again, under a new id) every few
    // seconds, until every build finished. Where each controller's log began at its last
    // start: what it runs since is said after that.
    let mut since = [0; 3];
    let (mut last_kill, mut kills) = (Instant::now(), 0);
    let deadline = Instant::now() + Duration::from_secs(120 + 10 * BUILDS as u64);
    wait_until(
        deadline,
        "every build to finish",
        || {
            let all: Vec<Value> = JOBS
                .iter()
                .flat_map(|job| builds(&servers[0], job))
                .collect();
            // Killed at any time: before its pod is made or recorded, during a step, between.
            let running: Vec<&str> = all
                .iter()
                .filter(|b| b["status"] == "running")
                .filter_map(|b| b["id"].as_str())
                .collect();
            if kills < KILLS && last_kill.elapsed() >= KILL_GAP {
                if let Some(c) =
                    (0..3).find(|&c| drives_one_of(&ctl.server_log(c + 1)[since[c]..], &running))
                {
                    servers[c].kill_9();
                    since[c] = ctl.server_log(c + 1).len();
                    servers[c] = ctl.start(c + 1, &vars);
                    (last_kill, kills) = (Instant::now(), kills + 1);
                }
            }
            all.len() == BUILDS && all.iter().all(|b| b["status"] == "finished")
        },
        report,
    );
    assert_eq!(kills, KILLS, "owners were killed while their builds ran");
    let count = |what: &str| -> usize {
        (1..=3)
            .map(|n| ctl.server_log(n).matches(what).count())
            .sum()
    };
    let (resumed, restarted) = (
        count("build resumed in its pod"),
        count("build resumed from its start"),
    );
    assert!(
        resumed + restarted >= 1,
        "a killed owner's pod build was resumed by another\n{}",
        ctl.server_logs(3)
    );
    // Every step ran once, and its build's log has each line once.
    let runs = std::fs::read_to_string(marks.join("runs")).unwrap_or_default();
    let mut ran: BTreeMap<&str, usize> = BTreeMap::new();
    for line in runs.lines() {
        *ran.entry(line).or_default() += 1;
    }
    for id in &ids {
        let text = log(&servers[0], id);
        let (job, n) = id.split_once('#').unwrap();
        let b = build(&servers[1], job, n.parse().unwrap());
        assert_eq!(b["result"], "SUCCESS", "{b}\n{text}\n{}", report());
        for step in ["one", "two"] {
            let key = format!("{id} {step}");
            assert_eq!(ran.get(key.as_str()), Some(&1), "{key} ran once: {ran:?}");
        }
        for line in [
            format!("[One] one {id}"),
            "[One] one done".to_owned(),
            format!("[Two] two {id}"),
            "Finished: SUCCESS".to_owned(),
        ] {
            assert_eq!(lines_equal(&text, &line), 1, "{line} once in {id}:\n{text}");
        }
    }
    assert_eq!(
        ran.len(),
        2 * BUILDS,
        "no step ran that was not triggered: {ran:?}"
    );
    wait_or_show(
        "no pod to be left",
        || cluster.fake().objects("pods", "default").is_empty(),
        report,
    );
    eprintln!(
        "pod churn: {BUILDS} builds, {kills} kills, {resumed} resumed in their pods, {restarted} from their start"
    );
}
