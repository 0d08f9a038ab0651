//! Plugin steps and globals scripted pipelines use, run by the real `kiln run`: `nodejs`
//! (a kiln.yaml `tools:` installation on PATH), `withDockerContainer` (with a fake `docker`
//! first on PATH that records its arguments and runs `exec` commands here, as in
//! `docker.rs`), plugin globals kiln does not provide (named with their plugin), Groovy
//! enums and class inheritance in a Jenkinsfile, `withCoverityEnv` (a `coverity` tool and
//! a Coverity Connect instance of kiln.yaml) and DevOptics' `gateProducesArtifact` /
//! `gateConsumesArtifact` (recorded with the build).

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

/// A tool installation `root/dir` whose `bin/program` runs the shell line `line`.
fn installation(root: &Path, dir: &str, program: &str, line: &str) -> std::path::PathBuf {
    let home = root.join(dir);
    std::fs::create_dir_all(home.join("bin")).unwrap();
    executable(
        &home.join("bin").join(program),
        &format!("#!/bin/sh\n{line}\n"),
    );
    home
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
    let home = installation(root.path(), "node20", "node", "echo v20.0.0-kiln-test");
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

#[test]
fn with_coverity_env_binds_the_tools_and_the_connect_instance() {
    let (root, ws, bin) = workspace(
        "node {
    stage('Analyze') {
        withCoverityEnv(coverityToolName: 'COV-2023', connectInstance: 'localhost') {
            sh 'cov-build --dir idir make; echo \"host=$COVERITY_HOST port=$COVERITY_PORT user=$COV_USER pass=$COVERITY_PASSPHRASE\"'
        }
        withCoverityEnv(coverityToolName: 'cov-2023', hostVariable: 'H') {
            sh 'echo \"plain host=${H:-unset}\"'
        }
        withCoverityEnv(coverityToolName: 'cov-2023', connectInstance: 'elsewhere') {
            echo 'not reached'
        }
    }
}
",
    );
    let home = installation(
        root.path(),
        "cov-analysis",
        "cov-build",
        "echo \"cov-build ran $*\"",
    );
    std::fs::write(
        ws.join("kiln.yaml"),
        format!(
            "credentials:\n  - id: cov\n    username: admin\n    password: cov-s3cret\ntools:\n  - name: cov-2023\n    type: coverity\n    home: {}\ncoverity:\n  - name: localhost\n    host: cov.example\n    port: 8443\n    credential: cov\n",
            home.display()
        ),
    )
    .unwrap();
    let (ok, out) = run_in(&ws, &bin, &["--config", "kiln.yaml"]);
    assert!(!ok, "{out}");
    assert!(!out.contains("cov-s3cret"), "a secret leaked:\n{out}");
    for line in [
        "[Analyze] cov-build ran --dir idir make",
        "[Analyze] host=cov.example port=8443 user=admin pass=****",
        "[Analyze] plain host=unset",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} missing:\n{out}");
    }
    assert!(
        out.contains("withCoverityEnv: no Coverity Connect instance `elsewhere`: add it to `coverity:` in kiln.yaml"),
        "{out}"
    );
    assert!(!out.contains("not reached"), "{out}");

    // Without the tools in kiln.yaml the step fails naming them, before its block.
    std::fs::write(ws.join("kiln.yaml"), "tools: []\n").unwrap();
    let (ok, out) = run_in(&ws, &bin, &["--config", "kiln.yaml"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("withCoverityEnv: Unable to find Coverity tools installation: [COV-2023]: add a `tools:` entry of type `coverity`"),
        "{out}"
    );
    assert!(!out.contains("cov-build ran"), "{out}");
}

#[test]
fn gate_artifacts_are_recorded_with_the_build_and_no_service_is_claimed() {
    let (_root, ws, bin) = workspace(
        "node {
    stage('Build') {
        writeFile file: 'app.txt', text: 'hello'
        gateProducesArtifact file: 'app.txt', label: 'App'
        gateConsumesArtifact id: 'img-7', type: 'docker'
        gateProducesArtifact file: '', id: \"build-${BUILD_NUMBER}\", label: '', type: 'demo'
    }
}
",
    );
    let (ok, out) = run_in(&ws, &bin, &["--build-number", "4"]);
    assert!(ok, "{out}");
    let sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    for line in [
        format!(
            "[Build] gateProducesArtifact: recorded with the build as produced: id {sha}, type file, label 'App', file app.txt (sha256 {sha})"
        ),
        "[Build] gateConsumesArtifact: recorded with the build as consumed: id img-7, type docker"
            .to_owned(),
        "[Build] gateProducesArtifact: recorded with the build as produced: id build-4, type demo"
            .to_owned(),
        format!("Artifact produced: {sha} (type file)"),
        "Artifact consumed: img-7 (type docker)".to_owned(),
        "Artifact produced: build-4 (type demo)".to_owned(),
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} missing:\n{out}");
    }
    assert!(
        out.contains("no CloudBees DevOptics service is connected to kiln"),
        "{out}"
    );

    std::fs::write(
        ws.join("Jenkinsfile"),
        "node { stage('Use') { gateConsumesArtifact id: 'img-7' } }\n",
    )
    .unwrap();
    let (ok, out) = run_in(&ws, &bin, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("gateConsumesArtifact: an artifact given by `id` needs its `type` too"),
        "{out}"
    );
}
