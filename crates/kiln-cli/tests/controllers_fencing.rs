//! A controller that stops but does not die: kiln servers (the real binary) on one
//! PostgreSQL database the test starts on 127.0.0.1, one of them paused (SIGSTOP) past its
//! lease while it runs a build. Another takes the build over; when the paused one goes on
//! (SIGCONT), its writes to the build are refused (the build's epoch moved on), so the
//! build's record and log hold only the new owner's work, and it stops driving the build.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kiln_testkit::TestPostgres;
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
            .prefix("kiln-fence-")
            .tempdir()
            .unwrap();
        let root = dir.path().to_path_buf();
        let (repo, marks) = (root.join("repo"), root.join("marks"));
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::create_dir_all(&marks).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("Ticks.Jenkinsfile"), TICKS).unwrap();
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "pipelines"]);
        let yaml = format!(
            "server:\n  tokens:\n    - {{name: e2e, token: {TOKEN}, role: admin}}\n\
             executors:\n  local:\n    env: [MARKS, CTRL]\n\
             store:\n  postgres:\n    url_env: KILN_TEST_DB\n    pool: 4\n\
             jobs:\n  - name: ticks\n    repo: file://{}\n    jenkinsfile: Ticks.Jenkinsfile\n",
            repo.display()
        );
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

    /// Controller `n`, with a data directory of its own; `CTRL=cN` in its builds.
    fn start(&self, n: usize) -> Server {
        let root = self.root.join(format!("controller-{n}"));
        std::fs::create_dir_all(&root).unwrap();
        let ctrl = format!("c{n}");
        let vars = [
            ("KILN_TEST_DB", self.db.as_str()),
            ("MARKS", self.marks.to_str().unwrap()),
            ("CTRL", ctrl.as_str()),
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

    /// How many ticks the build's process wrote so far.
    fn ticks(&self) -> usize {
        let text = std::fs::read_to_string(self.marks.join("ticks")).unwrap_or_default();
        text.lines().count()
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
