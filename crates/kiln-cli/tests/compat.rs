//! Jenkinsfile compatibility, end to end with the real `kiln` binary: what Jenkins accepts
//! lints clean (or with warnings) and runs with Jenkins' semantics; what it refuses is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn kiln(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("KILN_LOG")
        .output()
        .expect("run kiln")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes `pipeline` as a Jenkinsfile in a fresh directory and runs `kiln ARGS Jenkinsfile`
/// there; returns the output and the directory (kept alive by the caller).
fn with_file(args: &[&str], pipeline: &str) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("Jenkinsfile"), pipeline).unwrap();
    let mut all = args.to_vec();
    all.push("Jenkinsfile");
    let out = kiln(&all, dir.path());
    (out, dir)
}

fn lint(pipeline: &str, extra: &[&str]) -> Output {
    let mut args = vec!["lint"];
    args.extend_from_slice(extra);
    with_file(&args, pipeline).0
}

fn run(pipeline: &str) -> (i32, String) {
    let (out, _dir) = with_file(&["run"], pipeline);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    (out.status.code().expect("exit code"), all)
}

const AGENT_NONE: &str = "pipeline {
    agent none
    stages {
        stage('Greet') { steps { echo 'hello from nowhere' } }
        stage('Build') { steps { sh 'echo compiled' } }
    }
}
";

#[test]
fn a_stage_without_agent_under_agent_none_lints_with_a_warning_only() {
    let out = lint(AGENT_NONE, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: `sh` needs an agent, but stage `Build` runs outside any agent"),
        "{stderr}"
    );
    assert!(stderr.contains("Jenkinsfile: ok (1 warning)"), "{stderr}");
}

#[test]
fn a_stage_without_agent_runs_echo_and_fails_at_a_step_needing_a_workspace() {
    let (code, out) = run(AGENT_NONE);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("[Greet] hello from nowhere\n"), "{out}");
    assert!(!out.contains("[Build] compiled"), "{out}");
    assert!(
        out.contains("[Build] ERROR: `sh` needs an agent: stage 'Build' runs outside any agent"),
        "{out}"
    );
    assert!(out.contains("Finished: FAILURE"), "{out}");
}

const UNPROVIDED: &str = "pipeline {
    agent any
    stages {
        stage('Before') { steps { echo 'before' } }
        stage('Notify') { steps { discordSend webhookURL: 'https://chat.example/hook', description: 'hi' } }
        stage('After') { steps { echo 'after' } }
    }
}
";

#[test]
fn a_step_kiln_does_not_provide_is_a_warning_naming_the_plugin() {
    let out = lint(UNPROVIDED, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.starts_with(
            "warning: step `discordSend` is not provided by kiln (it comes from the Discord Notifier plugin)\n"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("Jenkinsfile: ok (1 warning)"), "{stderr}");
}

#[test]
fn lint_strict_makes_a_step_kiln_does_not_provide_an_error() {
    let out = lint(UNPROVIDED, &["--strict"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: step `discordSend` is not provided by kiln"),
        "{stderr}"
    );
    // `--strict` is about steps: other warnings stay warnings.
    let out = lint(AGENT_NONE, &["--strict"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn the_build_fails_at_a_step_kiln_does_not_provide_with_lints_message() {
    let (code, out) = run(UNPROVIDED);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("[Before] before\n"), "{out}");
    assert!(
        out.contains(
            "[Notify] ERROR: step `discordSend` is not provided by kiln (it comes from the Discord Notifier plugin)\n"
        ),
        "{out}"
    );
    assert!(!out.contains("[After] after"), "{out}");
    assert!(out.contains("Finished: FAILURE"), "{out}");
}

#[test]
fn parallel_as_the_only_step_runs_its_branches() {
    let (code, out) = run("pipeline {
    agent any
    stages {
        stage('Fan') {
            steps {
                parallel(left: { echo 'left ran' }, right: { echo 'right ran' })
            }
        }
    }
}
");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("left ran\n"), "{out}");
    assert!(out.contains("right ran\n"), "{out}");
}
