#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a benchmark aborts on setup errors"
)]

//! kiln servers on PostgreSQL against one on sled (run with `cargo bench -p kiln-cli --bench
//! controllers`): the real `kiln server` (release), PostgreSQL started by the bench on
//! 127.0.0.1 (Debian's server programs, as the tests start it), all in one run on one
//! machine, so the ratios compare like with like:
//!
//! 1. **drain**: `KILN_BENCH_DRAIN` (200, at most 400) trivial builds (one `echo`) over four jobs, each
//!    job one build at a time, four at once in all, triggered through the API as fast as one
//!    client sends them: builds per second from the first build queued to the last one
//!    finished (the builds' own timestamps). One controller on sled, one on PostgreSQL,
//!    three on PostgreSQL (triggers spread over them), taken in turn in each of
//!    `KILN_BENCH_ROUNDS` (3) rounds; medians, and ratios against sled.
//! 2. **per step**: a build of one stage of 50 `sh 'true'` steps, the stage's duration as the
//!    store has it over its steps (as the scheduler bench's server-build row), two builds in
//!    each round on sled and on PostgreSQL (one controller); medians.
//! 3. **takeover**: two controllers on PostgreSQL and kiln-fake-kube; a build's step runs in
//!    its pod on one of them, which is killed (`kill -9`) as the step ends; the time from the
//!    kill to the next step's first line, read from the other controller.
//!    `KILN_BENCH_TAKEOVERS` (5) kills; median, fastest, slowest.
//!
//! Prints, asserts nothing (except that every build succeeded).

#[path = "../tests/support/mod.rs"]
mod support;

use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};
use support::controllers::{Controllers, STORE_YAML, pod_agent};
use support::{FakeCluster, Server, api, api_post, build, kiln};

const DRAIN_JOBS: [&str; 4] = ["d0", "d1", "d2", "d3"];
const STEPS: usize = 50;
const STEP_BUILDS: usize = 2;

/// A pod build: its first step waits for the bench's go (a file in `/marks`), the second
/// says it ran.
const TAKE: &str = r#"pipeline {
  AGENT
  stages {
    stage('One') { steps {
      sh 'echo one; while [ ! -e /marks/go-$BUILD_NUMBER ]; do sleep 0.05; done'
    } }
    stage('Two') { steps { sh 'echo two' } }
  }
}
"#;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One way to run controllers: how many, and whether on PostgreSQL.
#[derive(Clone, Copy)]
struct Setup {
    name: &'static str,
    postgres: bool,
    controllers: usize,
}

const SETUPS: [Setup; 3] = [
    Setup {
        name: "sled, 1 controller",
        postgres: false,
        controllers: 1,
    },
    Setup {
        name: "PostgreSQL, 1 controller",
        postgres: true,
        controllers: 1,
    },
    Setup {
        name: "PostgreSQL, 3 controllers",
        postgres: true,
        controllers: 3,
    },
];

/// Writes the drain and step jobs' Jenkinsfiles under `dir`; their kiln.yaml `jobs:` lines.
fn local_jobs(dir: &Path) -> String {
    let steps = vec!["sh 'true'"; STEPS].join("\n        ");
    let files = [
        (
            "drain",
            "pipeline {\n  agent any\n  stages { stage('Drain') { steps { echo 'drained' } } }\n}\n"
                .to_owned(),
        ),
        (
            "steps",
            format!(
                "pipeline {{\n  agent any\n  stages {{\n    stage('Steps') {{\n      steps {{\n        {steps}\n      }}\n    }}\n  }}\n}}\n"
            ),
        ),
    ];
    for (name, text) in &files {
        std::fs::create_dir_all(dir.join(name)).unwrap();
        std::fs::write(dir.join(name).join("Jenkinsfile"), text).unwrap();
    }
    let mut yaml = String::from("jobs:\n");
    for job in DRAIN_JOBS {
        yaml.push_str(&format!(
            "  - name: {job}\n    dir: {}\n",
            dir.join("drain").display()
        ));
    }
    yaml.push_str(&format!(
        "  - name: steps\n    dir: {}\n",
        dir.join("steps").display()
    ));
    yaml
}

/// Starts `setup`'s controllers on a fresh database and directory.
fn start(ctl: &mut Controllers, setup: Setup, run: &str) -> Vec<Server> {
    ctl.fresh(run);
    let store = if setup.postgres { STORE_YAML } else { "" };
    let jobs = local_jobs(&ctl.root.join("src"));
    ctl.configure(&format!(
        "executors:\n  local:\n    capacity: 4\n{store}{jobs}"
    ));
    (1..=setup.controllers).map(|n| ctl.start(n, &[])).collect()
}

fn builds(server: &Server, job: &str) -> Vec<Value> {
    api(server, &format!("/jobs/{job}/builds?limit=100"))["builds"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn trigger(server: &Server, job: &str) -> u64 {
    let (status, body) = api_post(server, &format!("/api/v1/jobs/{job}/builds"), &json!({}));
    assert_eq!(status, 201, "{body}");
    body["number"].as_u64().unwrap()
}

/// Polls until `check` holds; panics after `limit`.
fn wait(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Triggers `count` drain builds spread over the jobs and `servers`; builds per second
/// from the first queued to the last finished.
fn drain(servers: &[Server], count: usize) -> f64 {
    for i in 0..count {
        trigger(
            &servers[i % servers.len()],
            DRAIN_JOBS[i % DRAIN_JOBS.len()],
        );
    }
    let mut all = Vec::new();
    wait("the drain", Duration::from_secs(600), || {
        all = DRAIN_JOBS
            .iter()
            .flat_map(|job| builds(&servers[0], job))
            .collect();
        all.len() == count && all.iter().all(|b| b["status"] == "finished")
    });
    for b in &all {
        assert_eq!(b["result"], "SUCCESS", "{b}");
    }
    let field = |b: &Value, name: &str| b[name].as_u64().unwrap();
    let first = all.iter().map(|b| field(b, "queued_at_ms")).min().unwrap();
    let last = all
        .iter()
        .map(|b| field(b, "finished_at_ms"))
        .max()
        .unwrap();
    count as f64 * 1000.0 / (last - first).max(1) as f64
}

/// Runs one build of the step job; its stage's stored duration per step (ms).
fn per_step(server: &Server) -> f64 {
    let n = trigger(server, "steps");
    wait("the step build", Duration::from_secs(300), || {
        build(server, "steps", n)["status"] == "finished"
    });
    let b = build(server, "steps", n);
    assert_eq!(b["result"], "SUCCESS", "{b}");
    b["stages"][0]["duration_ms"].as_u64().unwrap() as f64 / STEPS as f64
}

fn log(server: &Server, build: &str) -> String {
    String::from_utf8_lossy(&kiln(server, &["logs", build]).stdout).into_owned()
}

/// Which of controllers 1 and 2 started `take#n` (its log says so).
fn owner(ctl: &Controllers, n: u64) -> Option<usize> {
    let started = format!("build=take#{n} ");
    (1..=2).find(|c| {
        ctl.server_log(*c)
            .lines()
            .any(|l| l.contains("build started") && format!("{l} ").contains(&started))
    })
}

/// Seconds from killing the owner of a running pod build to its next step's first line on
/// the other controller, `count` times.
fn takeovers(ctl: &mut Controllers, count: usize) -> Vec<f64> {
    ctl.fresh("takeover");
    let marks = ctl.root.join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let src = ctl.root.join("src-take");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("Jenkinsfile"),
        TAKE.replace("AGENT", &pod_agent(&marks)),
    )
    .unwrap();
    let cluster = FakeCluster::start(&ctl.root);
    ctl.configure(&format!(
        "{}{STORE_YAML}jobs:\n  - name: take\n    dir: {}\n",
        cluster.executor_yaml(false),
        src.display()
    ));
    let port = kiln_fake_kube::free_agent_ports(1).to_string();
    let vars = [
        ("KILN_AGENT_INSTALL", cluster.install.as_str()),
        ("KILN_AGENT_PORT", port.as_str()),
    ];
    let mut servers: Vec<Server> = (1..=2).map(|c| ctl.start(c, &vars)).collect();
    let mut took = Vec::new();
    for _ in 0..count {
        let n = trigger(&servers[0], "take");
        let id = format!("take#{n}");
        wait("the first step", Duration::from_secs(120), || {
            log(&servers[0], &id).contains("[One] one")
        });
        let c = owner(ctl, n).expect("a controller started the build");
        let other = 2 - c; // the index of the other controller
        servers[c - 1].kill_9();
        let killed = Instant::now();
        std::fs::write(marks.join(format!("go-{n}")), "").unwrap();
        wait(
            "the next step on the other",
            Duration::from_secs(120),
            || log(&servers[other], &id).contains("[Two] two"),
        );
        took.push(killed.elapsed().as_secs_f64());
        wait("the build to finish", Duration::from_secs(60), || {
            build(&servers[other], "take", n)["status"] == "finished"
        });
        assert_eq!(build(&servers[other], "take", n)["result"], "SUCCESS");
        servers[c - 1] = ctl.start(c, &vars);
    }
    took
}

fn main() {
    let rounds = setting("KILN_BENCH_ROUNDS", 3);
    let count = setting("KILN_BENCH_DRAIN", 200);
    let kills = setting("KILN_BENCH_TAKEOVERS", 5);
    let mut ctl = Controllers::new("kiln-controllers-bench-");
    let mut drained = vec![Vec::new(); SETUPS.len()];
    let mut steps = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        for (i, setup) in SETUPS.iter().enumerate() {
            let servers = start(&mut ctl, *setup, &format!("round-{round}-{i}"));
            drained[i].push(drain(&servers, count));
            if setup.controllers == 1 {
                for _ in 0..STEP_BUILDS {
                    steps[usize::from(setup.postgres)].push(per_step(&servers[0]));
                }
            }
        }
    }
    println!(
        "drain: {count} builds (one `echo`), 4 jobs, 4 at once; builds/s, median of {rounds} rounds (each round: {})",
        drained
            .iter()
            .map(|v| v
                .iter()
                .map(|x| format!("{x:.1}"))
                .collect::<Vec<_>>()
                .join("/"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let sled = median(&mut drained[0].clone());
    for (setup, v) in SETUPS.iter().zip(&mut drained) {
        let m = median(v);
        println!(
            "  {:<26} {m:7.1} builds/s  ({:.2}x sled)",
            setup.name,
            m / sled
        );
    }
    let (s, p) = (median(&mut steps[0]), median(&mut steps[1]));
    println!(
        "per step ({STEPS} `sh 'true'`, stored stage duration, median of {} builds): sled {s:.2} ms, PostgreSQL {p:.2} ms ({:+.2} ms, {:.2}x)",
        steps[0].len(),
        p - s,
        p / s
    );
    let mut took = takeovers(&mut ctl, kills);
    let (fast, slow) = (
        took.iter().copied().fold(f64::MAX, f64::min),
        took.iter().copied().fold(0.0, f64::max),
    );
    println!(
        "takeover: kill -9 of a pod build's owner to its next step on another controller, {} kills: median {:.1} s (fastest {fast:.1} s, slowest {slow:.1} s)",
        took.len(),
        median(&mut took)
    );
}
