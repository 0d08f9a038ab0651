//! Several `kiln server` processes (the real binary) on one PostgreSQL database the test
//! starts on 127.0.0.1: queued builds are claimed in the database, so each runs on exactly
//! one controller, within the job's concurrency and the capacity across all controllers.
//! Every build step records which controller ran it and when, in a directory of the test's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kiln_testkit::{GitRepo, TestPostgres};
use std::collections::BTreeMap;
use std::path::PathBuf;
use support::*;

/// Records the build's start (with the controller that runs it) and end.
const PIPELINE: &str = r#"pipeline {
  agent any
  stages { stage('Work') { steps { sh '''
echo "$JOB_NAME#$BUILD_NUMBER start $(date +%s%N) $CTRL" >> "$MARKS/events"
sleep 0.3
echo "$JOB_NAME#$BUILD_NUMBER end $(date +%s%N) $CTRL" >> "$MARKS/events"
''' } } }
}
"#;

/// Runs until the test's directory is gone (no process outlives the test).
const SLOW: &str = r#"pipeline {
  agent any
  stages { stage('Slow') { steps { sh '''
echo "slow started on $CTRL"
while [ -d "$MARKS" ]; do sleep 0.1; done
''' } } }
}
"#;

const JOBS: [&str; 3] = ["a", "b", "c"];
/// Running builds across every controller at most.
const CAPACITY: usize = 4;
/// Running builds of one job at most.
const PER_JOB: usize = 2;

struct Env {
    root: PathBuf,
    config: PathBuf,
    marks: PathBuf,
    db: String,
    _pg: TestPostgres,
    _dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let pg = TestPostgres::start();
        let db = pg.new_database();
        let dir = tempfile::Builder::new()
            .prefix("kiln-ctrl-")
            .tempdir()
            .unwrap();
        let root = dir.path().to_path_buf();
        let marks = root.join("marks");
        std::fs::create_dir_all(&marks).unwrap();
        let git = GitRepo::init(root.join("repo"));
        git.commit(
            &[("Jenkinsfile", PIPELINE), ("Slow.Jenkinsfile", SLOW)],
            "pipeline",
        );
        let repo = git.path();
        let mut yaml = format!(
            "server:\n  tokens:\n    - {{name: e2e, token: {TOKEN}, role: admin}}\nexecutors:\n  local:\n    capacity: {CAPACITY}\n    env: [MARKS, CTRL]\nstore:\n  postgres:\n    url_env: KILN_TEST_DB\n    pool: 4\njobs:\n"
        );
        for job in JOBS {
            yaml.push_str(&format!(
                "  - name: {job}\n    repo: file://{}\n    jenkinsfile: Jenkinsfile\n    concurrency: {PER_JOB}\n",
                repo.display()
            ));
        }
        yaml.push_str(&format!(
            "  - name: slow\n    repo: file://{}\n    jenkinsfile: Slow.Jenkinsfile\n",
            repo.display()
        ));
        let config = root.join("kiln.yaml");
        std::fs::write(&config, yaml).unwrap();
        Env {
            root,
            config,
            marks,
            db,
            _pg: pg,
            _dir: dir,
        }
    }

    /// Controller `n`, with a data directory of its own.
    fn start(&self, n: usize) -> Server {
        let root = self.root.join(format!("controller-{n}"));
        std::fs::create_dir_all(&root).unwrap();
        let ctrl = format!("c{n}");
        Server::start(
            &root,
            &self.config,
            "127.0.0.1:0",
            [
                ("KILN_TEST_DB", self.db.as_str()),
                ("MARKS", self.marks.to_str().unwrap()),
                ("CTRL", ctrl.as_str()),
            ],
        )
    }

    /// The recorded `(build, start|end, nanos, controller)` events.
    fn events(&self) -> Vec<(String, String, u128, String)> {
        let text = std::fs::read_to_string(self.marks.join("events")).unwrap_or_default();
        text.lines()
            .map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                assert_eq!(w.len(), 4, "a whole event line: {l:?}");
                (
                    w[0].to_owned(),
                    w[1].to_owned(),
                    w[2].parse().unwrap(),
                    w[3].to_owned(),
                )
            })
            .collect()
    }

    fn server_log(&self, n: usize) -> String {
        let path = self.root.join(format!("controller-{n}/server.log"));
        std::fs::read_to_string(path).unwrap_or_default()
    }

    fn server_logs(&self) -> String {
        (1..=3)
            .map(|n| {
                let path = self.root.join(format!("controller-{n}/server.log"));
                let text = std::fs::read_to_string(path).unwrap_or_default();
                format!("--- controller {n}\n{text}")
            })
            .collect()
    }
}

/// The most builds running at once among `builds` (by their start and end events).
fn most_at_once(events: &[(String, String, u128, String)], keep: impl Fn(&str) -> bool) -> usize {
    let mut edges: Vec<(u128, i64)> = events
        .iter()
        .filter(|e| keep(&e.0))
        .map(|e| (e.2, if e.1 == "start" { 1 } else { -1 }))
        .collect();
    // An end and a start at the same nanosecond: the end first.
    edges.sort();
    let (mut now, mut most) = (0i64, 0i64);
    for (_, d) in edges {
        now += d;
        most = most.max(now);
    }
    usize::try_from(most).unwrap()
}

fn finished(server: &Server, job: &str, n: u64) -> bool {
    build(server, job, n)["status"] == "finished"
}

fn wait_all_finished(env: &Env, server: &Server, builds: &[(&str, u64)]) {
    for (job, n) in builds {
        wait_or_show(
            &format!("{job}#{n} to finish"),
            || finished(server, job, *n),
            || format!("{}\n{}", build(server, job, *n), env.server_logs()),
        );
    }
}

#[test]
fn builds_triggered_across_three_controllers_each_run_exactly_once() {
    let env = Env::new();
    let servers: Vec<Server> = (1..=3).map(|n| env.start(n)).collect();
    let mut builds = Vec::new();
    // Numbers are handed out by the database: each job's builds are 1 to 10 whichever
    // controller took the trigger.
    for i in 0..30u64 {
        let job = JOBS[(i % 3) as usize];
        let server = &servers[(i / 3 % 3) as usize];
        let out = kiln_ok(server, &["trigger", job]);
        let id = out.split_whitespace().next().unwrap_or_default();
        let (named, n) = id.split_once('#').expect("trigger answers JOB#N");
        assert_eq!(named, job);
        builds.push((job, n.parse::<u64>().unwrap()));
    }
    // Any controller answers for every build.
    wait_all_finished(&env, &servers[2], &builds);
    for (job, n) in &builds {
        let b = build(&servers[0], job, *n);
        assert_eq!(b["result"], "SUCCESS", "{b}\n{}", env.server_logs());
    }

    let events = env.events();
    let mut seen: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (b, kind, _, _) in &events {
        let e = seen.entry(b.clone()).or_default();
        if kind == "start" {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    assert_eq!(seen.len(), 30, "every build ran: {seen:?}");
    let mut numbers: Vec<(&str, u64)> = builds.clone();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(
        numbers.len(),
        30,
        "no number was handed out twice: {builds:?}"
    );
    for (b, counts) in &seen {
        assert_eq!(
            *counts,
            (1, 1),
            "{b} ran exactly once\n{}",
            env.server_logs()
        );
    }
    let controllers: std::collections::BTreeSet<&str> =
        events.iter().map(|e| e.3.as_str()).collect();
    assert!(
        controllers.len() >= 2,
        "the builds spread over the controllers: {controllers:?}"
    );
    assert!(
        most_at_once(&events, |_| true) <= CAPACITY,
        "the capacity holds across controllers: {events:?}"
    );
    for job in JOBS {
        let prefix = format!("{job}#");
        assert!(
            most_at_once(&events, |b| b.starts_with(&prefix)) <= PER_JOB,
            "job {job}'s concurrency holds across controllers"
        );
    }
    let logs = env.server_logs();
    let started = logs
        .lines()
        .filter(|l| l.contains("build started build="))
        .count();
    assert_eq!(
        started, 30,
        "each build started once in all the controllers\n{logs}"
    );
}

#[test]
fn a_killed_controllers_running_build_is_ended_by_another_within_15_s() {
    let env = Env::new();
    let mut first = env.start(1);
    kiln_ok(&first, &["trigger", "slow"]);
    wait_or_show(
        "slow#1 to run on the first controller",
        || log(&first, "slow#1").contains("slow started on c1"),
        || env.server_logs(),
    );
    let second = env.start(2);
    // The second controller holds a lease (it claims and takes over only then).
    wait_or_show(
        "the second controller to hold its lease",
        || env.server_log(2).contains("lease held"),
        || env.server_logs(),
    );
    first.kill_9();
    let killed = std::time::Instant::now();
    wait_or_show(
        "slow#1 to be ended by the second controller",
        || finished(&second, "slow", 1),
        || format!("{}\n{}", build(&second, "slow", 1), env.server_logs()),
    );
    let took = killed.elapsed();
    assert!(
        took <= std::time::Duration::from_secs(15),
        "taken over in {took:?}\n{}",
        env.server_logs()
    );
    let b = build(&second, "slow", 1);
    assert_eq!(b["result"], "ABORTED", "{b}");
    let text = log(&second, "slow#1");
    assert!(
        text.contains("stopped renewing its lease")
            && text.contains("cannot be resumed")
            && text.ends_with("Finished: ABORTED\n"),
        "{text}"
    );
    // A build queued now runs on the controller that is left.
    kiln_ok(&second, &["trigger", "a"]);
    wait_or_show(
        "a#1 to finish on the second controller",
        || finished(&second, "a", 1),
        || env.server_logs(),
    );
    assert_eq!(build(&second, "a", 1)["result"], "SUCCESS");
    assert!(
        env.events().iter().all(|e| e.3 == "c2"),
        "a#1 ran on the second controller"
    );
}

fn log(server: &Server, build: &str) -> String {
    String::from_utf8_lossy(&kiln(server, &["logs", build]).stdout).into_owned()
}
