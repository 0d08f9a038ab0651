//! Several `kiln server` processes (the real binary) on one PostgreSQL database: a server of
//! the test's own on 127.0.0.1 (kiln-testkit's [`TestPostgres`]), and a root directory
//! holding kiln.yaml and each controller's data directory and log. Shared by the churn
//! tests and the `controllers` bench (which includes this module).

use super::{Server, TOKEN};
use kiln_testkit::TestPostgres;
use std::path::PathBuf;

/// kiln.yaml's lines selecting the database (its URL in `KILN_TEST_DB`).
pub const STORE_YAML: &str = "store:\n  postgres:\n    url_env: KILN_TEST_DB\n    pool: 4\n";

/// A PostgreSQL server, a database and a root directory for controllers.
pub struct Controllers {
    /// This run's directory: `kiln.yaml`, `controller-N/` (data and `server.log`), and
    /// what the caller puts there.
    pub root: PathBuf,
    pub config: PathBuf,
    /// The database's URL, given to every controller as `KILN_TEST_DB`.
    pub db: String,
    pg: TestPostgres,
    base: tempfile::TempDir,
}

impl Controllers {
    /// Starts PostgreSQL and makes a database and an empty root directory.
    pub fn new(prefix: &str) -> Controllers {
        let pg = TestPostgres::start();
        let db = pg.new_database();
        let base = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
        let root = base.path().join("run");
        std::fs::create_dir_all(&root).unwrap();
        Controllers {
            config: root.join("kiln.yaml"),
            root,
            db,
            pg,
            base,
        }
    }

    /// Starts over on the same PostgreSQL server: a new empty database and a new root
    /// directory `name` (for runs one after the other, such as a bench's).
    pub fn fresh(&mut self, name: &str) {
        self.db = self.pg.new_database();
        self.root = self.base.path().join(name);
        std::fs::create_dir_all(&self.root).unwrap();
        self.config = self.root.join("kiln.yaml");
    }

    /// Writes kiln.yaml: the admin token of [`TOKEN`], then `yaml` (executors, store, jobs).
    pub fn configure(&self, yaml: &str) {
        let head =
            format!("server:\n  tokens:\n    - {{name: e2e, token: {TOKEN}, role: admin}}\n");
        std::fs::write(&self.config, head + yaml).unwrap();
    }

    /// Starts controller `n` (its directory `controller-N`), with `KILN_TEST_DB` and `vars`.
    pub fn start(&self, n: usize, vars: &[(&str, &str)]) -> Server {
        let root = self.root.join(format!("controller-{n}"));
        std::fs::create_dir_all(&root).unwrap();
        let mut all = vec![("KILN_TEST_DB", self.db.as_str())];
        all.extend_from_slice(vars);
        Server::start(&root, &self.config, "127.0.0.1:0", all)
    }

    /// Controller `n`'s own log so far.
    pub fn server_log(&self, n: usize) -> String {
        let path = self.root.join(format!("controller-{n}/server.log"));
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// The logs of controllers 1 to `count`, each under a heading.
    pub fn server_logs(&self, count: usize) -> String {
        (1..=count)
            .map(|n| format!("--- controller {n}\n{}", self.server_log(n)))
            .collect()
    }
}

/// A pipeline's `agent` line for a pod of the fake cluster with `marks` (a directory of the
/// test's) mounted at `/marks`, where its steps meet the test.
pub fn pod_agent(marks: &std::path::Path) -> String {
    format!(
        "agent {{ kubernetes {{ yaml '''
spec:
  containers:
  - name: work
    image: busybox
    volumeMounts:
    - {{name: marks, mountPath: /marks}}
  volumes:
  - name: marks
    hostPath: {{path: {}}}
''' }} }}",
        marks.display()
    )
}
