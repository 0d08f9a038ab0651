#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a benchmark aborts on setup errors"
)]

//! The server's memory across loud builds (run with `cargo bench -p kiln-cli --bench
//! server_memory`): the real `kiln server` runs `KILN_BENCH_BUILDS` (10) builds one after the
//! other, each a step printing `KILN_BENCH_LOG_MB` (100) MB of short lines (`yes`), followed
//! with `kiln trigger --follow` to the end; after each build the server's resident size
//! (`VmRSS`) and its peak so far (`VmHWM`) are read from `/proc`. Prints, asserts nothing.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `VmRSS` and `VmHWM` of `pid`, in MB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap()
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Starts `kiln server` in `dir` and waits until it says where it listens.
fn start(kiln: &str, dir: &Path) -> (Child, String) {
    let mut child = Command::new(kiln)
        .args(["server", "--config", "kiln.yaml", "--listen", "127.0.0.1:0"])
        .args(["--data-dir", "data"])
        .current_dir(dir)
        .env("KILN_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            let rest = line.split("listening on ").nth(1)?;
            Some(rest.split_whitespace().next()?.to_owned())
        })
        .expect("the server did not start");
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

fn main() {
    let kiln = env!("CARGO_BIN_EXE_kiln");
    let builds = setting("KILN_BENCH_BUILDS", 10);
    let bytes = setting("KILN_BENCH_LOG_MB", 100) * 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("loud");
    std::fs::create_dir_all(&job).unwrap();
    std::fs::write(
        job.join("Jenkinsfile"),
        format!(
            "pipeline {{ agent any\n stages {{ stage('Loud') {{ steps {{ sh 'yes | head -c {bytes}' }} }} }} }}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("kiln.yaml"),
        format!("jobs:\n  - {{ name: loud, dir: '{}' }}\n", job.display()),
    )
    .unwrap();
    let (mut server, url) = start(kiln, dir.path());
    let pid = server.id();
    std::thread::sleep(Duration::from_secs(1));
    let (idle, _) = memory(pid);
    println!(
        "server memory, {builds} builds of {} MB of short lines each: idle VmRSS {idle:.1} MB",
        bytes / 1_000_000
    );
    for n in 1..=builds {
        let started = Instant::now();
        let status = Command::new(kiln)
            .args(["trigger", "loud", "--follow"])
            .env("KILN_SERVER", &url)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        let took = started.elapsed();
        assert!(status.success(), "build {n} failed: {status}");
        // Let the server finish storing the build's end.
        std::thread::sleep(Duration::from_secs(1));
        let (rss, hwm) = memory(pid);
        println!(
            "build {n}: {:.2} s ({:.1} MB/s followed), after it VmRSS {rss:.1} MB, VmHWM {hwm:.1} MB",
            took.as_secs_f64(),
            bytes as f64 / 1e6 / took.as_secs_f64()
        );
    }
    let store = dir.path().join("data/store");
    let stored: u64 = std::fs::read_dir(&store)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    println!("store directory (top level): {:.1} MB", stored as f64 / 1e6);
    let _ = server.kill();
    let _ = server.wait();
}
