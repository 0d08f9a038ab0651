//! Issue 11: log volume must not exhaust memory. A step printing 50 MB of two-byte lines
//! through the real `kiln run` keeps the run's peak memory bounded (it took gigabytes when
//! every line was an event on an unbounded channel), and every line still arrives.
//!
//! Alone in its test binary, so the children this process waits for are kiln and what kiln
//! started, and `getrusage(RUSAGE_CHILDREN)` gives their peak resident size.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nix::sys::resource::{UsageWho, getrusage};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Bytes the step prints: `y\n`, 25 million times.
const OUTPUT: u64 = 50_000_000;
/// The bound on `kiln run`'s peak resident size.
const LIMIT_KB: i64 = 200 * 1024;

#[test]
fn kiln_run_memory_stays_bounded_for_50_mb_of_short_lines() {
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(
        ws.path().join("Jenkinsfile"),
        format!(
            "pipeline {{\n  agent any\n  stages {{\n    stage('Loud') {{\n      steps {{\n        sh 'yes | head -c {OUTPUT}'\n      }}\n    }}\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["run", "--color", "never", "Jenkinsfile"])
        .current_dir(ws.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = BufReader::with_capacity(1 << 20, child.stdout.take().unwrap());
    let (mut ys, mut last) = (0_u64, String::new());
    for line in stdout.split(b'\n') {
        let line = line.unwrap();
        if line == b"[Loud] y" {
            ys += 1;
        } else if !line.is_empty() {
            last = String::from_utf8_lossy(&line).into_owned();
        }
    }
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "kiln run failed: {status}; last line: {last}"
    );
    assert_eq!(ys, OUTPUT / 2, "every line of output is printed once");
    assert_eq!(last, "Finished: SUCCESS");
    let peak_kb = getrusage(UsageWho::RUSAGE_CHILDREN).unwrap().max_rss();
    assert!(
        peak_kb < LIMIT_KB,
        "kiln run peaked at {} MB for {} MB of output (limit {} MB)",
        peak_kb / 1024,
        OUTPUT / 1_000_000,
        LIMIT_KB / 1024
    );
}
