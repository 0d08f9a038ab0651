//! The `docker` global on the local executor. No Docker daemon runs here, so these tests
//! put a fake `docker` first on PATH: it records its arguments (and, for `push`, the login
//! `withRegistry` wrote) and answers as the CLI would; `exec` runs the command on this
//! machine, so the `inside` block's `sh` really runs. They check the command lines kiln
//! runs, Docker Pipeline's, not a daemon's behaviour.

use crate::harness::{Creds, Setup, run_with, setup};
use kiln_engine::{BuildResult, Credential};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const FAKE_DOCKER: &str = r#"#!/bin/sh
log=LOGFILE
echo "$*" >> "$log"
case "$1" in
  version) echo 24.0.7 ;;
  run) echo c0ffee0123456789 ;;
  inspect) exit 1 ;;
  port) echo 0.0.0.0:32768 ;;
  push) echo "login: $(tr -d ' \n' < "$DOCKER_CONFIG/config.json")" >> "$log" ;;
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

const NO_DAEMON: &str = r#"#!/bin/sh
echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
exit 1
"#;

/// A setup whose PATH starts with a directory holding `script` as `docker`; the file the
/// fake writes its calls to.
#[expect(clippy::expect_used, reason = "test setup: a failure is the test's")]
fn with_docker(script: &str) -> (Setup, std::path::PathBuf) {
    let mut setup = setup();
    let bin = setup.dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let log = setup.dir.path().join("docker.log");
    let path = bin.join("docker");
    std::fs::write(&path, script.replace("LOGFILE", &log.display().to_string()))
        .expect("fake docker");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("executable");
    let old = setup.spec.base_env.get("PATH").cloned().unwrap_or_default();
    setup
        .spec
        .base_env
        .insert("PATH".to_owned(), format!("{}:{old}", bin.display()));
    (setup, log)
}

fn calls(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with("version "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_docker_global_runs_docker_pipelines_command_lines() {
    let (mut setup, log) = with_docker(FAKE_DOCKER);
    let creds = BTreeMap::from([(
        "reg".to_owned(),
        Credential::UsernamePassword {
            username: "ci".to_owned(),
            password: "s3cret-pw".to_owned(),
        },
    )]);
    setup.spec.credentials = Arc::new(Creds(creds));
    let ws = setup.workspace();
    let run = run_with(
        r#"
pipeline {
    agent any
    stages {
        stage('Image') {
            steps {
                script {
                    def img = docker.build("team/app:${env.BUILD_NUMBER}", '-f ci/Dockerfile .')
                    echo "built ${img.id}"
                    docker.withRegistry('https://reg.example.com:5000', 'reg') {
                        echo "qualified ${img.imageName()}"
                        img.push()
                        img.push('latest')
                    }
                    echo "outside ${img.imageName()}"
                    docker.image('node:20').inside('-e CI=1') {
                        sh 'echo "inside $(pwd)" > inside.txt'
                    }
                    docker.image('redis:7').withRun('-p 6379') { c ->
                        echo "redis ${c.id} on ${c.port(6379)}"
                    }
                }
            }
        }
    }
}"#,
        setup,
    )
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    for line in [
        "built team/app:7",
        "qualified reg.example.com:5000/team/app:7",
        "outside team/app:7",
        "redis c0ffee0123456789 on 0.0.0.0:32768",
    ] {
        assert!(run.has_line(line), "{line}\n{:#?}", run.log());
    }
    let ws = ws.display().to_string();
    let tmp = format!("{ws}@tmp");
    let calls = calls(&log);
    let uid = String::from_utf8(
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let gid = String::from_utf8(
        std::process::Command::new("id")
            .arg("-g")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let user = format!("{}:{}", uid.trim(), gid.trim());
    let want_start = [
        "build -t team/app:7 -f ci/Dockerfile .".to_owned(),
        "tag team/app:7 reg.example.com:5000/team/app:7".to_owned(),
        "push reg.example.com:5000/team/app:7".to_owned(),
    ];
    assert_eq!(calls[..3], want_start, "{calls:#?}");
    // The login withRegistry wrote is what `docker push` reads.
    assert!(
        calls[3].starts_with("login: {\"auths\":{\"reg.example.com:5000\":{\"auth\":"),
        "{calls:#?}"
    );
    let want_rest = [
        "tag team/app:7 reg.example.com:5000/team/app:latest".to_owned(),
        "push reg.example.com:5000/team/app:latest".to_owned(),
    ];
    assert_eq!(calls[4..6], want_rest, "{calls:#?}");
    let want_inside = [
        "inspect -f . node:20".to_owned(),
        "pull node:20".to_owned(),
        format!(
            "run -t -d -u {user} -w {ws} -v {ws}:{ws}:rw,z -v {tmp}:{tmp}:rw,z -e CI=1 node:20 cat"
        ),
    ];
    assert_eq!(calls[7..10], want_inside, "{calls:#?}");
    let exec = &calls[10];
    assert!(exec.starts_with("exec --env "), "{exec}");
    assert!(
        exec.contains(&format!(" -w {ws} c0ffee0123456789 sh -xe -c ")),
        "{exec}"
    );
    assert!(
        !exec.contains("s3cret"),
        "values never go on the command line: {exec}"
    );
    let want_end = [
        "stop --time=1 c0ffee0123456789".to_owned(),
        "rm -f c0ffee0123456789".to_owned(),
        "run -d -p 6379 redis:7".to_owned(),
        "port c0ffee0123456789 6379".to_owned(),
        "stop c0ffee0123456789".to_owned(),
        "rm -f c0ffee0123456789".to_owned(),
    ];
    assert_eq!(calls[11..], want_end, "{calls:#?}");
    // The block's `sh` ran (through the fake's exec) in the workspace.
    assert_eq!(
        std::fs::read_to_string(Path::new(&ws).join("inside.txt")).unwrap(),
        format!("inside {ws}\n")
    );
}

#[tokio::test]
async fn without_a_reachable_daemon_the_step_fails_naming_what_to_configure() {
    let (setup, log) = with_docker(NO_DAEMON);
    let run = run_with(
        r#"
pipeline {
    agent any
    stages {
        stage('Image') {
            steps {
                script {
                    docker.image('node:20').inside {
                        echo 'never printed'
                    }
                }
            }
        }
    }
}"#,
        setup,
    )
    .await;
    assert_eq!(run.result(), BuildResult::Failure, "{:#?}", run.log());
    let log_text = run.log().join("\n");
    assert!(
        log_text.contains(
            "image.inside: no Docker daemon is reachable from local (`docker version` failed)"
        ),
        "{log_text}"
    );
    assert!(log_text.contains("set DOCKER_HOST"), "{log_text}");
    assert!(log_text.contains("`kiln run --kubeconfig`"), "{log_text}");
    assert!(!run.has_line("never printed"));
    // Only the probe ran: nothing was started.
    assert!(calls(&log).is_empty(), "{:#?}", calls(&log));
}

#[tokio::test]
async fn with_server_and_unknown_methods_fail_with_a_clear_message() {
    let (setup, _log) = with_docker(FAKE_DOCKER);
    let run = run_with(
        r#"
pipeline {
    agent any
    stages {
        stage('S') {
            steps {
                script {
                    try {
                        docker.withServer('tcp://swarm:2376') { echo 'never printed' }
                    } catch (e) {
                        echo "caught: ${e.message}"
                    }
                    docker.image('x').squash()
                }
            }
        }
    }
}"#,
        setup,
    )
    .await;
    assert_eq!(run.result(), BuildResult::Failure, "{:#?}", run.log());
    let log_text = run.log().join("\n");
    assert!(
        log_text.contains("caught: docker.withServer is not supported by kiln"),
        "{log_text}"
    );
    assert!(
        log_text.contains("`squash` is not a method of image in kiln's docker global"),
        "{log_text}"
    );
    assert!(!run.has_line("never printed"));
}
