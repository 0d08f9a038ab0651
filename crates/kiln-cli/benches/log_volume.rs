#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a benchmark aborts on setup errors"
)]

//! Log volume through `kiln run` (run with `cargo bench -p kiln-cli --bench log_volume`):
//! a step printing 100 MB (`KILN_BENCH_LOG_MB`) of short lines (`yes`: two bytes a line) and 100 MB of 1 KB lines,
//! its log printed to a file, against a baseline that makes the same bytes and writes them
//! to a file with the shell alone. Each figure is the median of several runs; the peak
//! resident size is the largest `getrusage` maxrss of `kiln run` and what it started, taken
//! in a fresh measuring process per run. Nothing here asserts a time.

use nix::sys::resource::{UsageWho, getrusage};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Megabytes each step prints (`KILN_BENCH_LOG_MB` changes it, e.g. for a debug build).
fn megabytes() -> u64 {
    std::env::var("KILN_BENCH_LOG_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}
/// Runs per figure.
const RUNS: usize = 3;

/// The shell commands making the output: short lines, and 1 KB lines (1,023 digits and `\n`).
const KINDS: [(&str, &str); 2] = [
    ("short lines (2 B)", "yes"),
    ("1 KB lines", "yes $(printf %01023d 0)"),
];

/// One measured run: wall time and peak resident size in KiB.
struct Sample {
    took: Duration,
    peak_kb: i64,
}

/// Runs `argv` from a fresh copy of this benchmark (so `RUSAGE_CHILDREN` holds that run
/// alone) with stdout to `out`.
fn measure(dir: &Path, argv: &[&str], out: &Path) -> Sample {
    let exe = std::env::current_exe().unwrap();
    let output = Command::new(exe)
        .arg("--measure")
        .arg(out)
        .args(argv)
        .current_dir(dir)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(output.status.success(), "measuring {argv:?} failed");
    let text = String::from_utf8(output.stdout).unwrap();
    let mut parts = text.split_whitespace();
    let nanos: u64 = parts.next().unwrap().parse().unwrap();
    let peak_kb: i64 = parts.next().unwrap().parse().unwrap();
    Sample {
        took: Duration::from_nanos(nanos),
        peak_kb,
    }
}

/// The measuring process: runs the command, prints nanoseconds and peak KiB.
fn measured(args: &[String]) {
    let (out, argv) = args.split_first().unwrap();
    let file = std::fs::File::create(out).unwrap();
    let start = Instant::now();
    let status = Command::new(&argv[0])
        .args(&argv[1..])
        .stdout(file)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let took = start.elapsed();
    assert!(status.success(), "{argv:?} failed: {status}");
    let peak = getrusage(UsageWho::RUSAGE_CHILDREN).unwrap().max_rss();
    println!("{} {peak}", took.as_nanos());
}

fn median<T: Copy + Ord>(mut v: Vec<T>) -> T {
    v.sort();
    v[v.len() / 2]
}

fn mb_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--measure") {
        measured(&args[1..]);
        return;
    }
    let kiln = env!("CARGO_BIN_EXE_kiln");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.log");
    let bytes = megabytes() * 1_000_000;
    for (name, producer) in KINDS {
        let make = format!("{producer} | head -c {bytes}");
        std::fs::write(
            dir.path().join("Jenkinsfile"),
            format!(
                "pipeline {{\n  agent any\n  stages {{\n    stage('Loud') {{\n      steps {{\n        sh '{make}'\n      }}\n    }}\n  }}\n}}\n"
            ),
        )
        .unwrap();
        let mut kiln_runs = Vec::new();
        let mut shell_runs = Vec::new();
        for _ in 0..RUNS {
            shell_runs.push(measure(dir.path(), &["sh", "-c", &make], &out));
            kiln_runs.push(measure(
                dir.path(),
                &[kiln, "run", "--color", "never", "Jenkinsfile"],
                &out,
            ));
        }
        let logged = std::fs::metadata(&out).unwrap().len();
        let k = median(kiln_runs.iter().map(|s| s.took).collect());
        let s = median(shell_runs.iter().map(|s| s.took).collect());
        let peak = kiln_runs.iter().map(|s| s.peak_kb).max().unwrap_or(0);
        let peaks: Vec<_> = kiln_runs.iter().map(|s| s.peak_kb / 1024).collect();
        println!(
            "{name}, {} MB: kiln run median {:.2} s = {:.1} MB/s; shell to a file {:.2} s = {:.1} MB/s; ratio {:.2}x; kiln run peak RSS {} MB (runs: {peaks:?} MB); log file {:.1} MB",
            bytes / 1_000_000,
            k.as_secs_f64(),
            mb_per_s(bytes, k),
            s.as_secs_f64(),
            mb_per_s(bytes, s),
            k.as_secs_f64() / s.as_secs_f64(),
            peak / 1024,
            logged as f64 / 1e6,
        );
    }
}
