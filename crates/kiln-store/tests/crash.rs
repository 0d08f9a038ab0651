//! Crash test: a writer process is killed with SIGKILL mid-stream, then the store must open
//! cleanly and hold every write the writer had acknowledged, byte for byte.
//!
//! This is a `harness = false` test: run without arguments it is the parent; with
//! `KILN_STORE_CRASH_WRITER=DIR` in the environment the same binary is the writer, which prints
//! one line to stdout after each write returned `Ok`:
//! `build JOB#N`, `state JOB#N running|finished`, `log JOB#N END`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_store::{BuildStatus, NewBuild, Page, SledStore, Store};
use kiln_types::{BuildRef, JobName};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const WRITER_ENV: &str = "KILN_STORE_CRASH_WRITER";
const JOBS: [&str; 2] = ["alpha", "beta"];
/// The writer stops by itself after this many builds per job (the parent kills it long before).
const MAX_BUILDS: u64 = 5_000;

fn main() {
    if let Ok(dir) = std::env::var(WRITER_ENV) {
        writer(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut acked = Acked::default();
    // Every round reopens the store the previous round crashed. Kills after a count of
    // acknowledgements land just after a known write; kills after a time land anywhere.
    let kills = [
        Kill::AfterAcks(1),
        Kill::AfterAcks(7),
        Kill::AfterAcks(40),
        Kill::AfterMillis(25),
        Kill::AfterAcks(150),
        Kill::AfterMillis(120),
        Kill::AfterAcks(400),
        Kill::AfterMillis(300),
    ];
    for kill in kills {
        let lines = run_and_kill(dir.path(), kill);
        for line in &lines {
            acked.record(line);
        }
        verify(dir.path(), &mut acked);
        println!(
            "crash: killed {kill:?} ({} acks): all acknowledged writes present",
            lines.len()
        );
    }
    println!("crash: ok, {} builds checked", acked.builds.len());
}

/// The writer: one thread per job creating builds, running them, appending log batches of
/// varied sizes and finishing them, acknowledging each step on stdout.
fn writer(dir: &Path) {
    let store = SledStore::open(dir).unwrap();
    std::thread::scope(|scope| {
        for job in JOBS {
            let store = &store;
            scope.spawn(move || write_builds(store, JobName::new(job).unwrap()));
        }
    });
}

fn write_builds(store: &SledStore, job: JobName) {
    for _ in 0..MAX_BUILDS {
        let mut build = store
            .create_build(
                &job,
                NewBuild {
                    cause: "crash test".into(),
                    ..NewBuild::default()
                },
            )
            .unwrap();
        ack(&format!("build {}", build.id));
        build.status = BuildStatus::Running;
        store.update_build(&build).unwrap();
        ack(&format!("state {} running", build.id));
        let mut end = 0u64;
        for k in 0..(3 + build.id.number % 5) {
            let len = batch_len(build.id.number, k);
            let bytes: Vec<u8> = (end..end + len).map(|o| content(&build.id, o)).collect();
            end = store.append_log(&build.id, &bytes).unwrap();
            ack(&format!("log {} {end}", build.id));
        }
        build.status = BuildStatus::Finished;
        store.update_build(&build).unwrap();
        ack(&format!("state {} finished", build.id));
    }
}

fn ack(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

/// Batch sizes from one byte to past the store's chunk size.
fn batch_len(number: u64, k: u64) -> u64 {
    [1, 100, 4_096, 20_000, 70_000, 333][((number + k) % 6) as usize]
}

/// The byte at `offset` of a build's log: a function of the build and the offset, so any
/// stored prefix can be checked.
fn content(id: &BuildRef, offset: u64) -> u8 {
    if offset % 64 == 63 {
        b'\n'
    } else {
        b'a' + ((offset * 7 + id.number * 13 + id.job.as_str().len() as u64) % 26) as u8
    }
}

/// When the parent sends SIGKILL.
#[derive(Clone, Copy, Debug)]
enum Kill {
    AfterAcks(usize),
    AfterMillis(u64),
}

/// Starts a writer on `dir`, sends it SIGKILL as `kill` says and returns every complete line it
/// printed (including the ones printed before the kill landed).
fn run_and_kill(dir: &Path, kill: Kill) -> Vec<String> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(WRITER_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // The killer thread owns the child: it kills it when told, at its deadline, or when the
    // parent stops reading (also on a panic), and reaps it.
    let (kill_now, told) = mpsc::channel::<()>();
    let deadline = match kill {
        Kill::AfterMillis(ms) => Duration::from_millis(ms),
        Kill::AfterAcks(_) => Duration::from_secs(120),
    };
    let killer = std::thread::spawn(move || {
        let _ = told.recv_timeout(deadline);
        child.kill().unwrap(); // SIGKILL on Unix.
        child.wait().unwrap()
    });
    let mut lines = Vec::new();
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        // A line cut by the kill (no newline) was not acknowledged.
        if line.ends_with('\n') {
            lines.push(line.trim_end().to_string());
        }
        line.clear();
        if matches!(kill, Kill::AfterAcks(n) if n == lines.len()) {
            let _ = kill_now.send(());
        }
    }
    drop(kill_now);
    let status = killer.join().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the writer was not killed: {status}"
    );
    if let Kill::AfterAcks(n) = kill {
        assert!(
            lines.len() >= n,
            "the writer acknowledged only {} writes",
            lines.len()
        );
    }
    lines
}

/// What the writers acknowledged, per build: the last status and log length.
#[derive(Default)]
struct Acked {
    builds: BTreeMap<(String, u64), (BuildStatus, u64)>,
    /// Builds per job found on disk by the last check, acknowledged or not.
    stored: BTreeMap<String, usize>,
}

impl Acked {
    fn record(&mut self, line: &str) {
        let words: Vec<&str> = line.split(' ').collect();
        let (job, number) = words[1].split_once('#').unwrap();
        let key = (job.to_string(), number.parse().unwrap());
        let entry = self.builds.entry(key).or_insert((BuildStatus::Queued, 0));
        match words[..] {
            ["build", _] => {}
            ["state", _, "running"] => entry.0 = BuildStatus::Running,
            ["state", _, "finished"] => entry.0 = BuildStatus::Finished,
            ["log", _, end] => entry.1 = end.parse().unwrap(),
            _ => panic!("unexpected line from the writer: {line}"),
        }
    }
}

/// The writer's builds go Queued -> Running -> Finished.
fn rank(status: BuildStatus) -> u8 {
    match status {
        BuildStatus::Queued => 0,
        BuildStatus::Running => 1,
        BuildStatus::Finished => 2,
        BuildStatus::WaitingForInput => panic!("the writer never waits for input"),
    }
}

/// Reopens the store and checks every acknowledged write; unacknowledged writes that made it
/// to disk must be consistent too (the next state, a log prefix of the expected bytes).
fn verify(dir: &Path, acked: &mut Acked) {
    let store = SledStore::open(dir).expect("the store opens after kill -9");
    assert_eq!(store.schema_version(), 4);
    for ((job, number), (status, end)) in &acked.builds {
        let id = BuildRef {
            job: JobName::new(job.as_str()).unwrap(),
            number: *number,
        };
        let build = store
            .get_build(&id)
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged build {id} is missing"));
        assert!(
            rank(build.status) >= rank(*status) && rank(build.status) <= rank(*status) + 1,
            "{id}: stored {:?}, acknowledged {status:?}",
            build.status
        );
        let log = store.read_log(&id, 0, usize::MAX).unwrap();
        assert!(
            log.end >= *end,
            "{id}: log has {} bytes, {end} were acknowledged",
            log.end
        );
        assert_eq!(log.bytes.len() as u64, log.end);
        let bad = (0..log.end).find(|&o| log.bytes[o as usize] != content(&id, o));
        assert_eq!(bad, None, "{id}: log differs at this offset");
        // The log's events cover exactly the text a reader sees, in order.
        let events = store.read_log_events(&id).unwrap();
        let mut at = 0;
        for e in &events {
            assert_eq!(e.offset, at, "{id}: events tile the log");
            at = e.end();
        }
        assert_eq!(at, log.end, "{id}: events end where the log does");
    }
    for job in JOBS {
        let name = JobName::new(job).unwrap();
        let stored = store
            .list_builds(
                &name,
                Page {
                    before: None,
                    limit: usize::MAX,
                },
            )
            .unwrap();
        // Each round's writer numbers on from what is stored, so a build created without its
        // acknowledgement in an earlier round stays on disk unacknowledged. What one round may
        // add beyond its acknowledgements is one build per writer thread.
        let seen = acked.stored.get(job).copied().unwrap_or(0);
        let highest_acked = acked
            .builds
            .keys()
            .filter(|(j, _)| j == job)
            .map(|(_, n)| *n as usize)
            .max()
            .unwrap_or(0);
        assert!(
            stored.len() >= seen,
            "{job}: {} builds stored, {seen} were stored before this round",
            stored.len()
        );
        assert!(
            stored.len() <= seen.max(highest_acked) + 1,
            "{job}: {} builds stored, up to #{highest_acked} acknowledged, {seen} stored before this round",
            stored.len()
        );
        acked.stored.insert(job.to_string(), stored.len());
        let numbers: Vec<u64> = stored.iter().rev().map(|b| b.id.number).collect();
        assert_eq!(
            numbers,
            (1..=stored.len() as u64).collect::<Vec<_>>(),
            "{job}: numbers have gaps"
        );
    }
}
