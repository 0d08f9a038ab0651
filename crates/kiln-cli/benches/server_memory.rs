#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a benchmark aborts on setup errors"
)]

//! The server's log path and memory across loud builds (run with `cargo bench -p kiln-cli
//! --bench server_memory`): the real `kiln server` runs `KILN_BENCH_BUILDS` (5) builds one
//! after the other, each a step printing `KILN_BENCH_LOG_MB` (100) MB of short lines
//! (`yes`), followed with `kiln trigger --follow` to the end; after each build the server's
//! resident size (`VmRSS`) and its peak so far (`VmHWM`) are read from `/proc`, and the
//! store's size on disk, and the CPU time the server spent on the build (`utime + stime` of
//! its process, which a busy machine inflates less than wall time). The baselines, in the
//! same run, are `kiln run` of the same Jenkinsfile with its log to a file (the same engine,
//! no store, no follower) and the bare pipe (`sh -c 'yes | head -c N > FILE'`). Prints
//! medians and the ratios, asserts nothing.

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

/// The size of everything under `path`, in bytes.
fn disk_usage(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_usage(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// CPU seconds `pid` has used (user and system), from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command's name (in parentheses, which may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// The bare pipe, `yes | head -c BYTES` to a file in `dir`: seconds.
fn bare_pipe(dir: &Path, bytes: u64) -> f64 {
    let out = dir.join("pipe.out");
    let started = Instant::now();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("yes | head -c {bytes} > '{}'", out.display()))
        .status()
        .unwrap();
    assert!(status.success(), "the bare pipe failed: {status}");
    let took = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(out);
    took
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// `kiln run` of the job's Jenkinsfile, its log to a file: seconds.
fn kiln_run(kiln: &str, job: &Path) -> f64 {
    let log = std::fs::File::create(job.join("run.log")).unwrap();
    let started = Instant::now();
    let status = Command::new(kiln)
        .args(["run", "Jenkinsfile"])
        .current_dir(job)
        .stdout(log)
        .status()
        .unwrap();
    assert!(status.success(), "kiln run failed: {status}");
    let took = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(job.join("run.log"));
    took
}

fn main() {
    let kiln = env!("CARGO_BIN_EXE_kiln");
    let builds = setting("KILN_BENCH_BUILDS", 5);
    let bytes = setting("KILN_BENCH_LOG_MB", 100) * 1_000_000;
    let mb = bytes as f64 / 1e6;
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
    let store = dir.path().join("data/store");
    let empty_store = disk_usage(&store);
    println!(
        "server log path, {builds} builds of {mb:.0} MB of short lines each: idle VmRSS {idle:.1} MB"
    );
    let (mut server_rates, mut run_rates) = (Vec::new(), Vec::new());
    let (mut pipe_rates, mut cpus) = (Vec::new(), Vec::new());
    let mut last_store = empty_store;
    for n in 1..=builds {
        let cpu_before = cpu_seconds(pid);
        let started = Instant::now();
        let status = Command::new(kiln)
            .args(["trigger", "loud", "--follow"])
            .env("KILN_SERVER", &url)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        let took = started.elapsed().as_secs_f64();
        assert!(status.success(), "build {n} failed: {status}");
        // Let the server finish storing the build's end.
        std::thread::sleep(Duration::from_secs(1));
        let (rss, hwm) = memory(pid);
        let cpu = cpu_seconds(pid) - cpu_before;
        let stored = disk_usage(&store);
        let run_took = kiln_run(kiln, &job);
        let pipe_took = bare_pipe(dir.path(), bytes);
        server_rates.push(mb / took);
        run_rates.push(mb / run_took);
        pipe_rates.push(mb / pipe_took);
        cpus.push(cpu);
        println!(
            "build {n}: server {took:.2} s ({:.1} MB/s followed, {cpu:.2} CPU s), kiln run {run_took:.2} s ({:.1} MB/s), \
             bare pipe {pipe_took:.2} s ({:.1} MB/s); after it VmRSS {rss:.1} MB, VmHWM {hwm:.1} MB, store +{:.1} MB",
            mb / took,
            mb / run_took,
            mb / pipe_took,
            (stored.saturating_sub(last_store)) as f64 / 1e6
        );
        last_store = stored;
    }
    let (server_rate, run_rate) = (median(server_rates), median(run_rates));
    let (pipe_rate, cpu) = (median(pipe_rates), median(cpus));
    println!(
        "median: server {server_rate:.1} MB/s ({cpu:.2} CPU s a build), kiln run {run_rate:.1} MB/s, \
         bare pipe {pipe_rate:.1} MB/s (server/run {:.2}, server/pipe {:.2}); store {:.1} MB per build",
        server_rate / run_rate,
        server_rate / pipe_rate,
        (last_store.saturating_sub(empty_store)) as f64 / 1e6 / builds as f64
    );
    let _ = server.kill();
    let _ = server.wait();
}
