//! End-to-end tests of the real `kiln` binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

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

#[test]
fn lint_accepts_every_example_and_kilns_own_pipeline() {
    let root = root();
    let mut args = vec!["lint".to_string()];
    for entry in std::fs::read_dir(root.join("examples")).unwrap() {
        let dir = entry.unwrap().path();
        if dir.join("Jenkinsfile").exists() {
            args.push(dir.join("Jenkinsfile").display().to_string());
        }
    }
    args.push(root.join("pipelines/Jenkinsfile").display().to_string());
    assert!(args.len() >= 7, "examples missing: {args:?}");
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = kiln(&refs, &root);
    assert!(out.status.success(), "stderr:\n{}", text(&out.stderr));
}

#[test]
fn lint_reports_every_error_with_carets_and_exits_1() {
    // The steps inside the misspelled `stagess` are still checked.
    let out = kiln(&["lint", "tests/pipelines/invalid.Jenkinsfile"], &root());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: unknown directive `stagess`
  --> tests/pipelines/invalid.Jenkinsfile:3:5
   |
 3 |     stagess {
   |     ^^^^^^^ did you mean `stages`?

warning: step `shh` is not provided by kiln
  --> tests/pipelines/invalid.Jenkinsfile:6:17
   |
 6 |                 shh 'make'
   |                 ^^^ did you mean `sh`?
   = the build fails when it reaches this step

error: `pipeline` has no `stages`
  --> tests/pipelines/invalid.Jenkinsfile:1:1
   |
 1 | pipeline {
   | ^^^^^^^^ add `stages { stage('Build') { steps { ... } } }`

tests/pipelines/invalid.Jenkinsfile: invalid (2 errors, 1 warning)
"
    );
}

#[test]
fn lint_json_format_gives_positions() {
    let out = kiln(
        &[
            "lint",
            "--format",
            "json",
            "tests/pipelines/invalid.Jenkinsfile",
        ],
        &root(),
    );
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let diag = &json[0]["diagnostics"][0];
    assert_eq!(diag["code"], "unknown-directive");
    assert_eq!(diag["line"], 3);
    assert_eq!(diag["column"], 5);
    assert_eq!(json[0]["valid"], false);
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(kiln(&["lint"], &root()).status.code(), Some(2));
    assert_eq!(kiln(&["frobnicate"], &root()).status.code(), Some(2));
    let missing = kiln(&["lint", "no/such/Jenkinsfile"], &root());
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("cannot read `no/such/Jenkinsfile`"));
}

#[test]
fn plan_prints_the_stage_tree() {
    let out = kiln(&["plan", "examples/parallel-fanout/Jenkinsfile"], &root());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "pipeline (agent any)
├── Prepare [1 step]
├── Checks [parallel]
│   ├── Shellcheck [1 step]
│   ├── Licenses [1 step]
│   ├── Docs [1 step]
│   └── Secrets scan [1 step]
└── Fan in [1 step]
"
    );
}

#[test]
fn plan_expands_matrix_cells_with_excludes() {
    let out = kiln(
        &["plan", "--format", "json", "examples/matrix/Jenkinsfile"],
        &root(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cells: Vec<String> = json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "cell")
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        cells,
        [
            "Matrix - PLATFORM = 'linux', JDK = '17'",
            "Matrix - PLATFORM = 'linux', JDK = '21'",
            "Matrix - PLATFORM = 'alpine', JDK = '17'",
            "Matrix - PLATFORM = 'alpine', JDK = '21'",
            "Matrix - PLATFORM = 'windows', JDK = '21'",
        ]
    );
    let dot = kiln(
        &["plan", "--format", "dot", "examples/matrix/Jenkinsfile"],
        &root(),
    );
    assert!(text(&dot.stdout).starts_with("digraph pipeline {"));
}

fn temp_workspace() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// `kiln run` of a pipeline of this repository in a fresh workspace, with more arguments.
fn run_in_temp(pipeline: &str, extra: &[&str]) -> (Output, tempfile::TempDir) {
    let ws = temp_workspace();
    let file = root().join(pipeline);
    let mut args = vec!["run", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    (kiln(&args, ws.path()), ws)
}

#[test]
fn run_succeeds_with_params_and_ends_with_finished() {
    let (out, _ws) = run_in_temp(
        "tests/pipelines/params.Jenkinsfile",
        &["-p", "WHO=kiln", "-p", "LOUD=true"],
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("[Greet] hello kiln in red\n"), "{stdout}");
    assert!(stdout.contains("[Shout] HELLO KILN\n"), "{stdout}");
    assert!(stdout.ends_with("Finished: SUCCESS\n"), "{stdout}");
}

#[test]
fn run_skips_when_false_stages() {
    let (out, _ws) = run_in_temp("tests/pipelines/params.Jenkinsfile", &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("[Greet] hello world in red\n"), "{stdout}");
    assert!(!stdout.contains("HELLO"), "{stdout}");
    assert!(stdout.contains("SKIPPED (when)"), "{stdout}");
}

#[test]
fn run_failure_skips_later_stages_runs_posts_and_exits_1() {
    let (out, _ws) = run_in_temp("tests/pipelines/failing.Jenkinsfile", &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("[Build] compiling\n"), "{stdout}");
    assert!(!stdout.contains("never"), "{stdout}");
    let always = stdout.find("always ran").expect("always post");
    let failure = stdout.find("the build failed").expect("failure post");
    assert!(
        always < failure,
        "posts run in Jenkins' order (always first):\n{stdout}"
    );
    assert!(!stdout.contains("no success"), "{stdout}");
    assert!(stdout.contains("SKIPPED (earlier failure)"), "{stdout}");
    assert!(
        stdout.ends_with(
            "Failed at stage Build, step `sh 'echo compiling; exit 3'`: script returned exit code 3\nFinished: FAILURE\n"
        ),
        "the summary names the failed step:\n{stdout}"
    );
}

#[test]
fn run_rejects_bad_parameters_before_running() {
    let (out, _ws) = run_in_temp(
        "tests/pipelines/params.Jenkinsfile",
        &["-p", "COLOR=green", "-p", "NOPE=1"],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("COLOR"), "{stderr}");
    assert!(stderr.contains("NOPE"), "{stderr}");
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn run_refuses_an_invalid_pipeline() {
    let (out, _ws) = run_in_temp("tests/pipelines/invalid.Jenkinsfile", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nothing was run"));
}

#[test]
fn run_hello_example_archives_its_artifacts() {
    let (out, ws) = run_in_temp("examples/hello/Jenkinsfile", &["-p", "TARGET=production"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("Deploying hello-kiln to production"),
        "{stdout}"
    );
    assert!(
        ws.path()
            .join(".kiln/builds/1/artifacts/build/hello-kiln/app.txt")
            .exists()
    );
}

#[test]
fn lint_reports_unsupported_groovy_in_scripts_with_positions() {
    let dir = temp_workspace();
    let file = dir.path().join("Jenkinsfile");
    std::fs::write(
        &file,
        "node {\n    stage('A') {\n        def x = Jenkins.instance\n    }\n}\n",
    )
    .unwrap();
    let out = kiln(&["lint", "Jenkinsfile"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("error: the Java class `Jenkins.instance` is not available in kiln scripts\n  --> Jenkinsfile:3:17"),
        "{err}"
    );
}

fn shared_library_example(args: &[&str], cwd: &Path) -> Output {
    let root = root();
    let lib = format!(
        "acme={}",
        root.join("examples/shared-library/acme-lib").display()
    );
    let mut all: Vec<String> = vec![args[0].to_owned(), "--library".to_owned(), lib];
    all.extend(args[1..].iter().map(|a| (*a).to_owned()));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    kiln(&refs, cwd)
}

#[test]
fn run_shared_library_examples() {
    let root = root();
    let ex = root.join("examples/shared-library");
    for (file, expect) in [
        ("Jenkinsfile", "[Java] JAVA_VERSION=17"),
        (
            "Jenkinsfile.scripted",
            "[Builds / java] Maven package with JDK 21",
        ),
        ("Jenkinsfile.standard", "] ACME CI  (built by kiln)"),
    ] {
        let ws = temp_workspace();
        let path = ex.join(file).display().to_string();
        let out = shared_library_example(
            &[
                "run",
                "--workspace",
                &ws.path().display().to_string(),
                &path,
            ],
            ws.path(),
        );
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "{file}:\n{stdout}\n{}",
            text(&out.stderr)
        );
        assert!(
            stdout.lines().any(|l| l.ends_with(expect) || l == expect),
            "{file}: no {expect:?} in\n{stdout}"
        );
        assert!(stdout.ends_with("Finished: SUCCESS\n"), "{stdout}");
    }
}

#[test]
fn plan_shows_a_pipeline_a_library_builds() {
    let root = root();
    let path = root
        .join("examples/shared-library/Jenkinsfile.standard")
        .display()
        .to_string();
    let out = shared_library_example(&["plan", &path], &root);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "pipeline (agent any)\n├── Checkout [1 step]\n├── Build [1 step]\n└── Deploy [1 step, when]\n"
    );
}

#[test]
fn server_refuses_a_kubernetes_section_agents_cannot_dial_naming_the_line() {
    let dir = temp_workspace();
    let config = "server:\n  listen: 127.0.0.1:0\nexecutors:\n  kubernetes:\n    controller_url: http://kiln.kiln.svc:7777\n";
    std::fs::write(dir.path().join("kiln.yaml"), config).unwrap();
    let out = kiln(&["server", "--config", "kiln.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "error: `controller_url` `http://kiln.kiln.svc:7777` is not an address agents can dial: expected tls://HOST:PORT, e.g. tls://kiln.kiln.svc:7777
  --> kiln.yaml:5:21
   |
 5 |     controller_url: http://kiln.kiln.svc:7777
   |                     ^^^^^^^^^^^^^^^^^^^^^^^^^ here

"
    );
}

#[test]
fn a_dockerfile_agent_run_here_says_why_and_what_to_configure() {
    let ws = temp_workspace();
    std::fs::write(
        ws.path().join("Jenkinsfile"),
        "pipeline {\n  agent { dockerfile { filename 'Dockerfile.ci' } }\n  stages { stage('a') { steps { sh 'echo here' } } }\n}\n",
    )
    .unwrap();
    let out = kiln(&["run", "Jenkinsfile"], ws.path());
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("[a] here\n"), "{stdout}");
    let notice = "agent dockerfile is ignored by the local executor: steps run on this machine (kiln builds a dockerfile agent's image with Kaniko and runs it as a pod only when a registry repository for the images is configured: `executors.kubernetes.dockerfile_agents.repository` for the server, `kiln run --kubeconfig PATH --dockerfile-repository REPO` on a laptop)";
    assert!(stdout.contains(notice), "{stdout}");
    let out = kiln(
        &[
            "run",
            "--kubeconfig",
            "/nonexistent",
            "--dockerfile-repository",
            "agents:1",
            "Jenkinsfile",
        ],
        ws.path(),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a usage error: {stderr}");
    assert!(
        stderr.contains(
            "--dockerfile-repository: `dockerfile_agents.repository` `agents:1` is not a repository"
        ),
        "{stderr}"
    );
}

/// Regression: `kiln plan ... | head` panicked with a broken pipe (exit 101); a reader that
/// goes away now ends the command quietly.
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let stages: String = (0..3000)
        .map(|i| format!("    stage('stage number {i}') {{ steps {{ echo 'x' }} }}\n"))
        .collect();
    let file = dir.path().join("Jenkinsfile");
    std::fs::write(
        &file,
        format!("pipeline {{\n  agent any\n  stages {{\n{stages}  }}\n}}\n"),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["plan", "--format", "json"])
        .arg(&file)
        .env_remove("KILN_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The plan is far larger than a pipe's buffer: closing the reader breaks the pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
}
