//! What kiln-cli's end-to-end server tests share: a running `kiln server` (the real binary),
//! the `kiln` client, git, and waiting for a condition.
#![allow(dead_code)] // each test crate uses the part it needs

#[allow(
    unused_imports,
    reason = "not every test binary that includes `support` runs git"
)]
pub use kiln_testkit::git;
use serde_json::Value;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub mod controllers;

pub const KILN: &str = env!("CARGO_BIN_EXE_kiln");
pub const TOKEN: &str = "e2e-admin-token";

/// A running `kiln server`, killed (and reaped) when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `kiln server --config CONFIG` on `listen` with its data in `root/data` and its
    /// own log appended to `root/server.log`, and waits for its `listening on` line.
    pub fn start<K, V>(
        root: &Path,
        config: &Path,
        listen: &str,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Server
    where
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(root.join("server.log"))
            .unwrap();
        let mut child = Command::new(KILN)
            .args(["server", "--config"])
            .arg(config)
            .args(["--listen", listen, "--data-dir"])
            .arg(root.join("data"))
            .env("KILN_LOG", "info")
            .envs(vars)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = lines.by_ref().map_while(Result::ok).find_map(|line| {
            let rest = line.split("listening on ").nth(1)?;
            Some(rest.split_whitespace().next()?.to_owned())
        });
        let Some(url) = url else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(root.join("server.log")).unwrap_or_default();
            panic!("the server did not start:\n{log}");
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let addr = url.trim_start_matches("http://").to_owned();
        Server { child, url, addr }
    }

    /// Stops the server with SIGKILL and reaps it.
    pub fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// Runs a client command against `server`.
pub fn kiln(server: &Server, args: &[&str]) -> Output {
    Command::new(KILN)
        .args(args)
        .env("KILN_SERVER", &server.url)
        .env("KILN_TOKEN", TOKEN)
        .env_remove("KILN_LOG")
        .output()
        .unwrap()
}

/// A client command against `server` that must succeed; its stdout.
pub fn kiln_ok(server: &Server, args: &[&str]) -> String {
    let out = kiln(server, args);
    assert!(out.status.success(), "kiln {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An HTTP client that gives non-2xx answers back instead of failing.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// `GET /api/v1{path}` as the admin; the JSON answer, whatever its status.
pub fn api(server: &Server, path: &str) -> Value {
    let mut r = agent()
        .get(&format!("{}/api/v1{path}", server.url))
        .header("authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
    serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
}

/// `POST {path}` with a JSON body as the admin; the status and the JSON answer.
pub fn api_post(server: &Server, path: &str, body: &Value) -> (u16, Value) {
    let mut r = agent()
        .post(&format!("{}{path}", server.url))
        .header("authorization", &format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .send(body.to_string())
        .unwrap();
    let status = r.status().as_u16();
    (
        status,
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap_or(Value::Null),
    )
}

/// Build `job#n` as the API gives it.
pub fn build(server: &Server, job: &str, n: u64) -> Value {
    api(server, &format!("/jobs/{job}/builds/{n}"))
}

/// Polls until `check` holds (at most two minutes: a bound, not a timing assertion).
pub fn wait_for(what: &str, check: impl FnMut() -> bool) {
    wait_or_show(what, check, String::new);
}

/// [`wait_for`], showing `context()` (e.g. the build, its log, the server's log) when it
/// gives up.
pub fn wait_or_show(what: &str, mut check: impl FnMut() -> bool, context: impl Fn() -> String) {
    for _ in 0..1200 {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("gave up waiting for {what}\n{}", context());
}

/// [`wait_or_show`] with a deadline of the caller's (a bound scaled to the work waited for).
pub fn wait_until(
    deadline: Instant,
    what: &str,
    mut check: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    loop {
        if check() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("gave up waiting for {what}\n{}", context());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A fake Kubernetes cluster (kiln-fake-kube, in this process, on a runtime of its own: it
/// outlives the servers the tests kill), its kubeconfig in the test's directory, and what a
/// server needs to run pods in it; shut down when dropped.
pub struct FakeCluster {
    fake: Option<kiln_fake_kube::FakeKube>,
    runtime: tokio::runtime::Runtime,
    pub kubeconfig: std::path::PathBuf,
    /// `KILN_AGENT_INSTALL` for the server: the init container installs the built kiln-agent.
    pub install: String,
}

impl FakeCluster {
    /// Starts the fake and writes its kubeconfig to `root/kubeconfig`.
    pub fn start(root: &Path) -> FakeCluster {
        FakeCluster::hiding(root, &[])
    }

    /// [`FakeCluster::start`] with pods that do not see the host directories `hidden` (as if
    /// they ran on another machine than the server).
    pub fn hiding(root: &Path, hidden: &[&Path]) -> FakeCluster {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let config = kiln_fake_kube::FakeKubeConfig {
            hidden_paths: hidden.iter().map(|p| p.to_path_buf()).collect(),
            ..kiln_fake_kube::FakeKubeConfig::default()
        };
        let fake = runtime
            .block_on(kiln_fake_kube::FakeKube::start(config, 0))
            .unwrap();
        // kiln acts as deploy/'s `kiln` service account under deploy/'s RBAC.
        let kubeconfig = root.join("kubeconfig");
        fake.write_kiln_kubeconfig(&kubeconfig).unwrap();
        let agent = kiln_fake_kube::workspace_binary("kiln-agent", "kiln-agent").unwrap();
        let install = format!("{} --install {}", agent.display(), kiln_kube::AGENT_BINARY);
        FakeCluster {
            fake: Some(fake),
            runtime,
            kubeconfig,
            install,
        }
    }

    pub fn fake(&self) -> &kiln_fake_kube::FakeKube {
        self.fake.as_ref().unwrap()
    }

    pub fn pod_exists(&self, name: &str) -> bool {
        self.fake().object("pods", "default", name).is_some()
    }

    /// The configuration's `executors.kubernetes` lines up to its connection; with `dial`, the
    /// agents dial kiln on a free agent port (as in the deployment), else kiln port-forwards.
    /// The pod policy allows hostPath volumes: the tests' pods meet the test through host
    /// directories (the fake's containers run on this machine).
    pub fn executor_yaml(&self, dial: bool) -> String {
        let mut yaml = format!(
            "executors:\n  kubernetes:\n    connection: {{kubeconfig: {{path: '{}'}}}}\n    pod_policy: {{allow_host_path: true}}\n",
            self.kubeconfig.display()
        );
        if !dial {
            // kiln outside the cluster port-forwards, which deploy/'s Role leaves out.
            self.fake()
                .grant_kiln("default", "pods/portforward", &["create"])
                .unwrap();
        }
        if dial {
            let port = kiln_fake_kube::free_agent_ports(1);
            yaml.push_str(&format!(
                "    controller_url: tls://127.0.0.1:{port}\n    agent_listen: 127.0.0.1:{port}\n"
            ));
        }
        yaml
    }

    /// Stops the fake (its pods' processes end); also done when dropped.
    pub fn shutdown(&mut self) {
        if let Some(fake) = self.fake.take() {
            self.runtime.block_on(fake.shutdown());
        }
    }
}

impl Drop for FakeCluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}
