#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a benchmark aborts on setup errors"
)]

//! Benchmarks for BENCHMARKS.md (run with `cargo bench -p kiln-cli`):
//! 1. parse + validate + plan throughput on a generated 10,000-stage pipeline;
//! 2. `kiln run` overhead per step: 1,000 `sh 'true'` steps against a plain shell script
//!    running `sh -c true` 1,000 times.
//!
//! Each figure is the median of several runs; nothing here asserts a time.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn large_pipeline(stages: usize) -> String {
    let mut s = String::from("pipeline {\n  agent any\n  environment { BASE = 'x' }\n  stages {\n");
    for i in 0..stages {
        let _ = write!(
            s,
            "    stage('Stage {i}') {{\n      when {{ branch 'main' }}\n      environment {{ N = \"${{BASE}}-{i}\" }}\n      steps {{\n        sh \"echo building {i} $N\"\n        echo 'stage {i}'\n        dir('sub{i}') {{ sh script: 'make', label: 'make {i}' }}\n      }}\n      post {{ failure {{ echo 'failed {i}' }} }}\n    }}\n"
        );
    }
    s.push_str("  }\n  post { always { echo 'done' } }\n}\n");
    s
}

fn front_end() {
    let text = large_pipeline(10_000);
    let mb = text.len() as f64 / 1_000_000.0;
    let mut times = Vec::new();
    for _ in 0..7 {
        let start = Instant::now();
        let (doc, diags) = kiln_model::load(&text);
        assert!(
            diags.iter().all(|d| !d.is_error()),
            "generated pipeline must be valid"
        );
        let Some(kiln_model::Document::Declarative(p)) = doc else {
            panic!("declarative pipeline expected");
        };
        let plan = kiln_plan::plan(&p);
        assert_eq!(plan.nodes.len(), 10_000);
        times.push(start.elapsed());
    }
    let m = median(times);
    println!(
        "front end: 10,000 stages, {:.2} MB: median {:.1} ms for parse+validate+plan = {:.1} MB/s",
        mb,
        m.as_secs_f64() * 1000.0,
        mb / m.as_secs_f64()
    );
}

fn run_timed(cmd: &mut Command) -> Duration {
    let start = Instant::now();
    let status = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("spawn");
    let took = start.elapsed();
    assert!(status.success(), "benchmark command failed: {cmd:?}");
    took
}

fn step_overhead() {
    let dir = tempfile::tempdir().expect("tempdir");
    let steps = 1_000;
    let mut pipeline =
        String::from("pipeline {\n  agent any\n  stages {\n    stage('Steps') {\n      steps {\n");
    let mut script = String::new();
    for _ in 0..steps {
        pipeline.push_str("        sh 'true'\n");
        script.push_str("sh -c true\n");
    }
    pipeline.push_str("      }\n    }\n  }\n}\n");
    let jf = dir.path().join("Jenkinsfile");
    let sh = dir.path().join("steps.sh");
    std::fs::write(&jf, pipeline).expect("write");
    std::fs::write(&sh, script).expect("write");
    let kiln = env!("CARGO_BIN_EXE_kiln");
    let ws = dir.path();
    let runs = 5;
    let kiln_t = median(
        (0..runs)
            .map(|_| {
                run_timed(
                    Command::new(kiln)
                        .args(["run", "Jenkinsfile"])
                        .current_dir(ws),
                )
            })
            .collect(),
    );
    let sh_t = median(
        (0..runs)
            .map(|_| run_timed(Command::new("sh").arg(&sh).current_dir(ws)))
            .collect(),
    );
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / f64::from(steps);
    println!(
        "run: {steps} sh steps: kiln median {:.0} ms ({:.3} ms/step), plain shell median {:.0} ms ({:.3} ms/step); overhead {:.3} ms/step, ratio {:.2}x",
        kiln_t.as_secs_f64() * 1000.0,
        per(kiln_t),
        sh_t.as_secs_f64() * 1000.0,
        per(sh_t),
        per(kiln_t) - per(sh_t),
        kiln_t.as_secs_f64() / sh_t.as_secs_f64()
    );
    let _ = Path::new(kiln);
}

fn phases() {
    let text = large_pipeline(10_000);
    let t = Instant::now();
    let (file, _) = kiln_syntax::parse(&text);
    let parse = t.elapsed();
    let t = Instant::now();
    let (doc, _) = kiln_model::lower(&file);
    let lower = t.elapsed();
    let t = Instant::now();
    if let Some(kiln_model::Document::Declarative(p)) = doc {
        let _ = kiln_plan::plan(&p);
    }
    let plan = t.elapsed();
    println!("phases: parse {parse:?}, lower {lower:?}, plan {plan:?}");
}

fn main() {
    phases();
    front_end();
    if std::env::var_os("KILN_BENCH_FRONT_ONLY").is_none() {
        step_overhead();
    }
}
