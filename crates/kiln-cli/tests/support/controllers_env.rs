#![allow(dead_code)] // each test uses the part it needs

//! What the tests of control and logs across controllers share: kiln servers (the real
//! binary) on one PostgreSQL database the test starts on 127.0.0.1, the fake cluster their
//! pod builds run in, a directory the builds and the test meet in, and a stand-in for the
//! Service in front of the controllers (a TCP relay to the first one that answers).

use crate::support::controllers::{Controllers, STORE_YAML};
use crate::support::*;
use kiln_testkit::GitRepo;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;

/// A pod's spec that mounts the test's directory at /marks; `MARKS_POD` in a pipeline's
/// text stands for it.
const MARKS_POD: &str = "
spec:
  containers:
  - name: work
    image: busybox
    volumeMounts:
    - {name: marks, mountPath: /marks}
  volumes:
  - name: marks
    hostPath: {path: MARKS}
";

pub struct Env {
    /// The run's directory (kiln-cli's `support::controllers`), holding `marks/`.
    pub root: PathBuf,
    /// The directory the builds and the test meet in (`$MARKS`, `/marks` in pods).
    pub marks: PathBuf,
    pub cluster: FakeCluster,
    agent_port: String,
    ctl: Controllers,
}

impl Env {
    /// Jobs named as `pipelines`' keys, each running its text. `MARKS` in a text is the
    /// test's directory, `MARKS_POD` a pod's spec that mounts it at /marks.
    pub fn new(pipelines: &[(&str, &str)]) -> Env {
        Env::with_job_keys(pipelines, "")
    }

    /// [`Env::new`], with `keys` (YAML lines of a job's keys, indented by four) in every job.
    pub fn with_job_keys(pipelines: &[(&str, &str)], keys: &str) -> Env {
        let ctl = Controllers::new("kiln-ctl-");
        let root = ctl.root.clone();
        let marks = root.join("marks");
        std::fs::create_dir_all(&marks).unwrap();
        let files: Vec<(String, String)> = pipelines
            .iter()
            .map(|(job, text)| {
                let text = text
                    .replace("MARKS_POD", MARKS_POD)
                    .replace("MARKS", marks.to_str().unwrap());
                (format!("{job}.Jenkinsfile"), text)
            })
            .collect();
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let git = GitRepo::init(root.join("repo"));
        git.commit(&refs, "pipelines");
        let cluster = FakeCluster::start(&root);
        let kubernetes = cluster.executor_yaml(false);
        let mut yaml = format!("{kubernetes}  local:\n    env: [MARKS, CTRL]\n{STORE_YAML}jobs:\n");
        for (job, _) in pipelines {
            yaml.push_str(&format!(
                "  - name: {job}\n    repo: file://{repo}\n    jenkinsfile: {job}.Jenkinsfile\n{keys}",
                repo = git.path().display()
            ));
        }
        ctl.configure(&yaml);
        Env {
            root,
            marks,
            cluster,
            agent_port: kiln_fake_kube::free_agent_ports(1).to_string(),
            ctl,
        }
    }

    /// Controller `n`, with a data directory of its own; `CTRL=cN` in its builds.
    pub fn start(&self, n: usize) -> Server {
        let ctrl = format!("c{n}");
        let vars = [
            ("MARKS", self.marks.to_str().unwrap()),
            ("CTRL", ctrl.as_str()),
            ("KILN_AGENT_INSTALL", self.cluster.install.as_str()),
            ("KILN_AGENT_PORT", self.agent_port.as_str()),
        ];
        let server = self.ctl.start(n, &vars);
        wait_or_show(
            &format!("controller {n} to hold its lease"),
            || self.server_log(n).contains("lease held"),
            || self.server_logs(),
        );
        server
    }

    pub fn server_log(&self, n: usize) -> String {
        self.ctl.server_log(n)
    }

    pub fn server_logs(&self) -> String {
        self.ctl.server_logs(3)
    }

    /// Which of the servers (by their `CTRL`, `c1`...) wrote `marker` into the test's
    /// directory: the builds say where they run with `echo $CTRL > MARKS/NAME`.
    pub fn mark(&self, name: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.marks.join(name)).ok()?;
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }

    /// Lets the builds waiting for `name` in the test's directory go on.
    pub fn touch(&self, name: &str) {
        std::fs::write(self.marks.join(name), "").unwrap();
    }

    /// The pods the fake cluster holds.
    pub fn pods(&self) -> usize {
        self.cluster.fake().objects("pods", "default").len()
    }
}

/// A build's whole log, read from `server`.
pub fn log(server: &Server, build: &str) -> String {
    String::from_utf8_lossy(&kiln(server, &["logs", build]).stdout).into_owned()
}

/// A stand-in for the Service in front of the controllers: each connection goes to the first
/// of `backends` (`host:port`) that accepts it, as a Service sends a client elsewhere once a
/// replica is gone. Lives as long as the test.
pub fn relay(backends: Vec<String>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Some(server) = backends.iter().find_map(|b| TcpStream::connect(b).ok()) else {
                continue;
            };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || pipe(client, server));
            std::thread::spawn(move || pipe(s2, c2));
        }
    });
    format!("http://{addr}")
}

/// Copies `from` to `to` until either ends, then closes both.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
