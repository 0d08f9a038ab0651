//! Plugin steps and globals scripted pipelines use, run by the real `kiln run`: `nodejs`
//! (a kiln.yaml `tools:` installation on PATH), `withDockerContainer` (with a fake `docker`
//! first on PATH that records its arguments and runs `exec` commands here, as in
//! `docker.rs`), plugin globals kiln does not provide (named with their plugin), and
//! Groovy enums and class inheritance in a Jenkinsfile.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const FAKE_DOCKER: &str = r#"#!/bin/sh
echo "$*" >> LOGFILE
case "$1" in
  version) echo 24.0.7 ;;
  run) echo beef0123456789 ;;
  inspect) exit 1 ;;
  exec)
    shift
    while [ $# -gt 0 ]; do
      case "$1" in
        --env) shift 2 ;;
        -i) shift ;;
        -w) cd "$2" || exit 9; shift 2 ;;
        *) break ;;
      esac
    done
    shift
    exec "$@" ;;
esac
"#;

fn executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Runs `kiln run ARGS Jenkinsfile` in `ws` with `bin` first on PATH; (success, output).
fn run_in(ws: &Path, bin: &Path, args: &[&str]) -> (bool, String) {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("run")
        .args(args)
        .arg("Jenkinsfile")
        .current_dir(ws)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env_remove("KILN_LOG")
        .env_remove("KILN_CONFIG")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), all)
}

/// A workspace with `pipeline` as its Jenkinsfile and an empty `bin/` beside it.
fn workspace(pipeline: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let ws = root.path().join("ws");
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(ws.join("Jenkinsfile"), pipeline).unwrap();
    (root, ws, bin)
}

#[test]
fn nodejs_puts_the_configured_installation_first_on_path() {
    let (root, ws, bin) = workspace(
        "node {
    stage('Build') {
        nodejs(nodeJSInstallationName: 'node20', configId: 'npmrc') {
            sh 'node --version; echo \"home=$NODEJS_HOME\"; cat \"$npm_config_userconfig\"'
        }
        nodejs('elsewhere') { sh 'echo plain' }
    }
}
",
    );
    let home = root.path().join("node20");
    std::fs::create_dir_all(home.join("bin")).unwrap();
    executable(
        &home.join("bin/node"),
        "#!/bin/sh\necho v20.0.0-kiln-test\n",
    );
    std::fs::write(
        ws.join("kiln.yaml"),
        format!(
            "config_files:\n  - id: npmrc\n    content: \"registry=http://127.0.0.1:4873/\"\ntools:\n  - name: node20\n    type: nodejs\n    home: {}\n",
            home.display()
        ),
    )
    .unwrap();
    let (ok, out) = run_in(&ws, &bin, &["--config", "kiln.yaml"]);
    assert!(ok, "{out}");
    let home = home.display();
    for line in [
        format!("[Build] [nodejs] using NodeJS installation 'node20' ({home})"),
        "[Build] v20.0.0-kiln-test".to_owned(),
        format!("[Build] home={home}"),
        "[Build] registry=http://127.0.0.1:4873/".to_owned(),
        "[Build] [nodejs] no NodeJS installation 'elsewhere' in kiln.yaml's `tools` (kiln installs no tools): the block uses the node found on PATH".to_owned(),
        "[Build] plain".to_owned(),
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} missing:\n{out}");
    }
}

#[test]
fn with_docker_container_runs_its_block_in_a_container_of_the_image() {
    // The scripted form first, then the declarative one from its own file.
    let scripted = "node {
    stage('Scripted') {
        withDockerContainer(image: 'maven:3.9', args: '-e CI=1') { sh 'echo in-scripted' }
    }
}
";
    let declarative = "pipeline {
    agent any
    stages {
        stage('Declarative') {
            steps {
                withDockerContainer(image: 'node:20') { sh 'echo in-declarative' }
            }
        }
    }
}
";
    let (root, ws, bin) = workspace(scripted);
    let log = root.path().join("docker.log");
    executable(
        &bin.join("docker"),
        &FAKE_DOCKER.replace("LOGFILE", &log.display().to_string()),
    );
    let (ok, out) = run_in(&ws, &bin, &[]);
    assert!(ok, "{out}");
    assert!(out.lines().any(|l| l == "[Scripted] in-scripted"), "{out}");
    assert!(
        out.contains(
            "[Scripted] withDockerContainer: running the block in container beef0123456789"
        ),
        "{out}"
    );
    std::fs::write(ws.join("Jenkinsfile"), declarative).unwrap();
    let (ok, out) = run_in(&ws, &bin, &[]);
    assert!(ok, "{out}");
    assert!(
        out.lines().any(|l| l == "[Declarative] in-declarative"),
        "{out}"
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    let runs: Vec<&str> = calls.lines().filter(|l| l.starts_with("run ")).collect();
    assert_eq!(runs.len(), 2, "{calls}");
    assert!(runs[0].ends_with(" -e CI=1 maven:3.9 cat"), "{calls}");
    assert!(runs[1].ends_with(" node:20 cat"), "{calls}");
    assert_eq!(
        calls
            .lines()
            .filter(|l| l.starts_with("rm -f beef"))
            .count(),
        2,
        "{calls}"
    );
}

#[test]
fn a_plugin_global_kiln_does_not_provide_is_named_with_its_plugin() {
    let (_root, ws, bin) = workspace(
        "node {
    stage('Publish') {
        echo 'before'
        openshift.withCluster('prod') { echo 'inside' }
        echo 'after'
    }
}
",
    );
    let (ok, out) = run_in(&ws, &bin, &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("[Publish] before"), "{out}");
    assert!(!out.contains("[Publish] after"), "{out}");
    assert!(
        out.contains(
            "No such property: openshift (`openshift` is a global of the OpenShift Client plugin, which kiln does not provide)"
        ),
        "{out}"
    );
}

#[test]
fn enums_and_subclasses_defined_in_the_jenkinsfile_run() {
    let (_root, ws, bin) = workspace(
        "enum Flavour { Debug, Release }

class Target {
    String os
    Target(String o) { os = o }
    String describe() { \"target ${os}\" }
}

class CrossTarget extends Target {
    String arch
    CrossTarget(String o, String a) { super(o); arch = a }
    String describe() { super.describe() + \"/${arch}\" }
}

pipeline {
    agent any
    stages {
        stage('Plan') {
            steps {
                script {
                    def t = new CrossTarget('linux', 'arm64')
                    echo t.describe()
                    echo \"flavours: ${Flavour.values().collect { it.name() }.join(',')}\"
                    echo \"release is ${Flavour.valueOf('Release').ordinal()}\"
                }
            }
        }
    }
}
",
    );
    let lint = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["lint", "Jenkinsfile"])
        .current_dir(&ws)
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "{}",
        String::from_utf8_lossy(&lint.stderr)
    );
    let (ok, out) = run_in(&ws, &bin, &[]);
    assert!(ok, "{out}");
    for line in [
        "[Plan] target linux/arm64",
        "[Plan] flavours: Debug,Release",
        "[Plan] release is 1",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} missing:\n{out}");
    }
}
