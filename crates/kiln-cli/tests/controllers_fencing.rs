//! A controller that stops but does not die: kiln servers (the real binary) on one
//! PostgreSQL database the test starts on 127.0.0.1, one of them paused (SIGSTOP) past its
//! lease while it runs a build. Another takes the build over; when the paused one goes on
//! (SIGCONT), its writes to the build are refused (the build's epoch moved on), so the
//! build's record and log hold only the new owner's work, and it stops driving the build.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kiln_testkit::{GitRepo, TestPostgres};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::*;

/// Writes a line to its log and to a file of the test's every 0.1 s, until the test's
/// directory is gone.
const TICKS: &str = r#"pipeline {
  agent any
  stages { stage('Ticks') { steps { sh '''
i=0
while [ -d "$MARKS" ]; do
  i=$((i+1)); echo "tick $i on $CTRL"; echo "$i" >> "$MARKS/ticks"; sleep 0.1
done
''' } } }
}
"#;

/// A build pod (port-forwarded, as with several controllers) that counts its runs in the
/// test's directory, mounted at /marks, and waits there for `go`.
const POD: &str = r#"pipeline {
  agent { kubernetes { yaml '''
spec:
  containers:
  - name: work
    image: busybox
    volumeMounts:
    - {name: marks, mountPath: /marks}
  volumes:
  - name: marks
    hostPath: {path: MARKS}
''' } }
  stages { stage('Work') { steps {
    sh 'echo run >> /marks/runs; echo first-half; while [ ! -e /marks/go ]; do sleep 0.1; done; echo second-half'
  } } }
}
"#;

struct Env {
    root: PathBuf,
    config: PathBuf,
    marks: PathBuf,
    db: String,
    /// The fake cluster of the `pod` job's pods, when the test has one.
    cluster: Option<FakeCluster>,
    /// The pods' agent port (`KILN_AGENT_PORT`): the fake's pods share this machine's
    /// network, so each test's is its own.
    agent_port: String,
    _pg: TestPostgres,
    _dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env::with(false)
    }

    /// With `pods`, a fake cluster and job `pod` running [`POD`] in it.
    fn with(pods: bool) -> Env {
        let pg = TestPostgres::start();
        let db = pg.new_database();
        let dir = tempfile::Builder::new()
            .prefix("kiln-fence-")
            .tempdir()
            .unwrap();
        let root = dir.path().to_path_buf();
        let marks = root.join("marks");
        std::fs::create_dir_all(&marks).unwrap();
        let pod = POD.replace("MARKS", marks.to_str().unwrap());
        let git = GitRepo::init(root.join("repo"));
        git.commit(
            &[("Ticks.Jenkinsfile", TICKS), ("Pod.Jenkinsfile", &pod)],
            "pipelines",
        );
        let repo = git.path();
        let cluster = pods.then(|| FakeCluster::start(&root));
        let kubernetes = cluster.as_ref().map_or(String::new(), |c| {
            let yaml = c.executor_yaml(false);
            yaml.trim_start_matches("executors:\n").to_owned()
        });
        let yaml = format!(
            "server:\n  tokens:\n    - {{name: e2e, token: {TOKEN}, role: admin}}\n\
             executors:\n  local:\n    env: [MARKS, CTRL]\n{kubernetes}\
             store:\n  postgres:\n    url_env: KILN_TEST_DB\n    pool: 4\n\
             jobs:\n  - name: ticks\n    repo: file://{repo}\n    jenkinsfile: Ticks.Jenkinsfile\n\
             \x20 - name: pod\n    repo: file://{repo}\n    jenkinsfile: Pod.Jenkinsfile\n",
            repo = repo.display()
        );
        let config = root.join("kiln.yaml");
        std::fs::write(&config, yaml).unwrap();
        Env {
            root,
            config,
            marks,
            db,
            cluster,
            agent_port: kiln_fake_kube::free_agent_ports(1).to_string(),
            _pg: pg,
            _dir: dir,
        }
    }

    /// Controller `n`, with a data directory of its own; `CTRL=cN` in its builds.
    fn start(&self, n: usize) -> Server {
        let root = self.root.join(format!("controller-{n}"));
        std::fs::create_dir_all(&root).unwrap();
        let ctrl = format!("c{n}");
        let install = self.cluster.as_ref().map_or("", |c| c.install.as_str());
        let vars = [
            ("KILN_TEST_DB", self.db.as_str()),
            ("MARKS", self.marks.to_str().unwrap()),
            ("CTRL", ctrl.as_str()),
            ("KILN_AGENT_INSTALL", install),
            ("KILN_AGENT_PORT", self.agent_port.as_str()),
        ];
        Server::start(&root, &self.config, "127.0.0.1:0", vars)
    }

    fn server_log(&self, n: usize) -> String {
        let path = self.root.join(format!("controller-{n}/server.log"));
        std::fs::read_to_string(path).unwrap_or_default()
    }

    fn server_logs(&self) -> String {
        (1..=2)
            .map(|n| format!("--- controller {n}\n{}", self.server_log(n)))
            .collect()
    }

    /// How many lines the build's processes wrote to `file` of the test's directory.
    fn lines(&self, file: &str) -> usize {
        let text = std::fs::read_to_string(self.marks.join(file)).unwrap_or_default();
        text.lines().count()
    }

    /// How many ticks the build's process wrote so far.
    fn ticks(&self) -> usize {
        self.lines("ticks")
    }

    /// The pods the fake cluster holds.
    fn pods(&self) -> usize {
        let cluster = self.cluster.as_ref().expect("a test with a cluster");
        cluster.fake().objects("pods", "default").len()
    }

    /// `pod#1` triggered on `first`, its step running in its pod; then a second controller
    /// holding its lease.
    fn pod_build_running(&self, first: &Server) -> Server {
        kiln_ok(first, &["trigger", "pod"]);
        wait_or_show(
            "pod#1 to run in its pod on the first controller",
            || log(first, "pod#1").contains("first-half"),
            || format!("{}\n{}", log(first, "pod#1"), self.server_logs()),
        );
        let second = self.start(2);
        wait_or_show(
            "the second controller to hold its lease",
            || self.server_log(2).contains("lease held"),
            || self.server_logs(),
        );
        second
    }

    /// Lets `pod#1` finish (on `server`), then checks that its step ran once, its log has
    /// each line once, it succeeded and no pod is left.
    fn pod_build_finishes_once(&self, server: &Server) {
        std::fs::write(self.marks.join("go"), "").unwrap();
        wait_or_show(
            "pod#1 to finish",
            || build(server, "pod", 1)["status"] == "finished",
            || format!("{}\n{}", log(server, "pod#1"), self.server_logs()),
        );
        let text = log(server, "pod#1");
        assert_eq!(build(server, "pod", 1)["result"], "SUCCESS", "{text}");
        assert_eq!(self.lines("runs"), 1, "the step ran once\n{text}");
        for line in [
            "[Work] first-half",
            "[Work] second-half",
            "Finished: SUCCESS",
        ] {
            let n = text.lines().filter(|l| *l == line).count();
            assert_eq!(n, 1, "{line} once:\n{text}");
        }
        wait_or_show(
            "no pod to be left",
            || self.pods() == 0,
            || self.server_logs(),
        );
    }
}

/// Sends `signal` (`STOP`, `CONT`) to the server's process.
fn signal(server: &Server, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal}");
}

fn log(server: &Server, build: &str) -> String {
    String::from_utf8_lossy(&kiln(server, &["logs", build]).stdout).into_owned()
}

#[test]
fn an_owner_paused_past_its_lease_has_its_writes_refused_after_a_takeover() {
    let env = Env::new();
    let first = env.start(1);
    kiln_ok(&first, &["trigger", "ticks"]);
    wait_or_show(
        "ticks#1 to run on the first controller",
        || log(&first, "ticks#1").contains("tick 3 on c1"),
        || env.server_logs(),
    );
    let second = env.start(2);
    wait_or_show(
        "the second controller to hold its lease",
        || env.server_log(2).contains("lease held"),
        || env.server_logs(),
    );
    // Paused, the first neither renews its lease nor writes; its build's process goes on.
    signal(&first, "STOP");
    let paused = Instant::now();
    wait_or_show(
        "ticks#1 to be taken over and ended by the second controller",
        || build(&second, "ticks", 1)["status"] == "finished",
        || format!("{}\n{}", build(&second, "ticks", 1), env.server_logs()),
    );
    let took = paused.elapsed();
    let taken = log(&second, "ticks#1");
    assert!(
        taken.contains("stopped renewing its lease") && taken.ends_with("Finished: ABORTED\n"),
        "{taken}"
    );
    assert!(
        took >= Duration::from_secs(8),
        "not taken over before the lease ran out ({took:?})"
    );
    signal(&first, "CONT");
    // The first has its lines of the paused time to append (and its lease to find gone):
    // the store refuses them, and it lets the build go.
    wait_or_show(
        "the first controller to have a write refused and let the build go",
        || {
            let text = env.server_log(1);
            text.contains("a write to this build was refused")
                && text.contains("stopped driving the build")
        },
        || env.server_logs(),
    );
    // Its local process is stopped: the ticks stop.
    wait_or_show(
        "the build's process on the first controller to stop",
        || {
            let before = env.ticks();
            std::thread::sleep(Duration::from_millis(500));
            env.ticks() == before
        },
        || env.server_logs(),
    );
    // Read from either controller, the build is what the second made of it.
    for server in [&first, &second] {
        assert_eq!(log(server, "ticks#1"), taken, "{}", env.server_logs());
        let b = build(server, "ticks", 1);
        assert_eq!(b["result"], "ABORTED", "{b}");
        assert_eq!(b["status"], "finished", "{b}");
        assert_eq!(b["reason"], "controller lost", "{b}");
    }
    let logs = env.server_log(1);
    assert_eq!(
        logs.matches("a write to this build was refused").count(),
        1,
        "refused once, then no retry loop:\n{logs}"
    );
}

#[test]
fn a_killed_owners_pod_build_resumes_on_another_controller_within_15_s() {
    let env = Env::with(true);
    let mut first = env.start(1);
    let second = env.pod_build_running(&first);
    first.kill_9();
    let killed = Instant::now();
    wait_or_show(
        "pod#1 to be resumed in its pod by the second controller",
        || env.server_log(2).contains("build resumed in its pod"),
        || env.server_logs(),
    );
    let took = killed.elapsed();
    assert!(
        took <= Duration::from_secs(15),
        "resumed in {took:?}\n{}",
        env.server_logs()
    );
    env.pod_build_finishes_once(&second);
}

#[test]
fn an_owner_of_a_pod_build_paused_past_its_lease_lets_the_new_owner_finish_it() {
    let env = Env::with(true);
    let first = env.start(1);
    let second = env.pod_build_running(&first);
    signal(&first, "STOP");
    wait_or_show(
        "pod#1 to be resumed in its pod by the second controller",
        || env.server_log(2).contains("build resumed in its pod"),
        || env.server_logs(),
    );
    // The new owner told the pod's agent its epoch, which cut the paused owner's connection
    // off. Going on, the old owner has its writes refused and lets the build go (as refused,
    // or as a controller whose lease ran out, whichever it sees first). Whether it also reads
    // the agent's refusal depends on which of the two it notices first: when the store's
    // refusal comes first it drops the connection unread. The agent's refusal itself is
    // checked in kiln-agent's `a_connection_driving_a_build_at_a_lower_epoch_than_seen_is_refused`.
    signal(&first, "CONT");
    wait_or_show(
        "the first controller to be refused and let the build go",
        || {
            let text = env.server_log(1);
            let agent_refused = text.contains("the agent refuses this controller")
                && text.contains("driven by another controller now (epoch 2");
            let store_refused = text.contains("a write to this build was refused");
            (agent_refused || store_refused)
                && (text.contains("stopped driving the build")
                    || text.contains("build left running in its pod"))
        },
        || env.server_logs(),
    );
    env.pod_build_finishes_once(&second);
    assert_eq!(log(&first, "pod#1"), log(&second, "pod#1"));
}
