//! The real `kiln server` with its data directory on a 20 MB tmpfs filled mid-build, and a
//! second server on the same data directory. Needs root (to mount the tmpfs); fails, loudly,
//! where it cannot mount.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::json;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::{Server, api_post, build, kiln, kiln_ok, wait_for, wait_or_show};

/// A tmpfs mounted at `dir` for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test needs to mount a tmpfs (run it as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem holding `path` with that file until the disk is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![b'f'; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    let _ = file.sync_all();
}

fn readyz(server: &Server) -> u16 {
    support::agent()
        .get(&format!("{}/readyz", server.url))
        .call()
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Writes a config with one job `app` whose step prints `lines` lines slowly.
fn config(root: &Path, lines: u32) -> PathBuf {
    let project = root.join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("Jenkinsfile"),
        format!(
            "pipeline {{ agent any\n stages {{ stage('Print') {{ steps {{\n sh 'for i in $(seq 1 {lines}); do echo \"line $i of the build\"; sleep 0.02; done'\n }} }} }} }}\n"
        ),
    )
    .unwrap();
    let config = root.join("kiln.yaml");
    std::fs::write(
        &config,
        format!("jobs:\n  - {{ name: app, dir: '{}' }}\n", project.display()),
    )
    .unwrap();
    config
}

/// Regression: with the data directory full mid-build, lines were dropped silently, the build
/// stayed running, triggers failed until a restart, `/readyz` said ready, and log the API had
/// served was gone after the restart.
#[test]
fn a_full_data_dir_loses_nothing_served_and_the_server_recovers_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let _fs = Tmpfs::mount(&root.join("data"), "20m");
    let config = config(root, 1500);
    let server = Server::start(root, &config, "127.0.0.1:0", [("KILN_TEST", "1")]);
    let server_log = || std::fs::read_to_string(root.join("server.log")).unwrap_or_default();
    let (status, _) = api_post(&server, "/api/v1/jobs/app/builds", &json!({}));
    assert_eq!(status, 201);
    wait_or_show(
        "the build's first lines",
        || kiln_ok(&server, &["logs", "app#1"]).contains("line 20 of the build"),
        server_log,
    );

    let filler = root.join("data/filler");
    fill(&filler);
    wait_or_show(
        "/readyz to say not ready",
        || readyz(&server) == 503,
        server_log,
    );
    let served = kiln_ok(&server, &["logs", "app#1"]);

    std::fs::remove_file(&filler).unwrap();
    wait_or_show(
        "/readyz to say ready again",
        || readyz(&server) == 200,
        server_log,
    );
    wait_or_show(
        "the build to finish",
        || build(&server, "app", 1)["status"] == "finished",
        server_log,
    );
    let log = kiln_ok(&server, &["logs", "app#1"]);
    assert!(log.starts_with(&served), "served log lost:\n{log}");
    assert!(log.contains("line 1500 of the build"), "{log}");
    assert_eq!(build(&server, "app", 1)["result"], "SUCCESS", "{log}");
    let (status, _) = api_post(&server, "/api/v1/jobs/app/builds", &json!({}));
    assert_eq!(status, 201, "a trigger after the disk was freed");

    // SIGTERM ends the server in bounded time, and a restart keeps the served log.
    let pid = server.child.id().to_string();
    let mut server = server;
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    wait_for("the server to stop after SIGTERM", || {
        server.child.try_wait().unwrap().is_some()
    });
    drop(server);
    let server = Server::start(root, &config, "127.0.0.1:0", [("KILN_TEST", "1")]);
    assert_eq!(kiln_ok(&server, &["logs", "app#1"]), log);
}

/// Regression: a second server on the same data directory hung silently.
#[test]
fn a_second_server_on_the_same_data_dir_says_the_store_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let config = config(root, 1);
    let first = Server::start(root, &config, "127.0.0.1:0", [("KILN_TEST", "1")]);
    let second = Command::new(support::KILN)
        .args(["server", "--config"])
        .arg(&config)
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(root.join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: the store in {} is in use by another process",
            root.join("data/store").display()
        )),
        "{stderr}"
    );
    // The first one is unharmed.
    assert!(kiln(&first, &["jobs"]).status.success());
}
