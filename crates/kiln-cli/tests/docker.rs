//! examples/docker-image run by the real `kiln run`. No Docker daemon runs here, so a fake
//! `docker` first on PATH records its arguments and answers as the CLI would (`exec` runs
//! the command on this machine, so the `inside` block's `sh` really runs): the test checks
//! the command lines kiln runs, Docker Pipeline's, and the log, not a daemon's behaviour.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

const FAKE_DOCKER: &str = r#"#!/bin/sh
echo "$*" >> LOGFILE
case "$1" in
  version) echo 24.0.7 ;;
  run) echo c0ffee0123456789 ;;
  inspect) exit 1 ;;
  push) echo "login: $(tr -d ' \n' < "$DOCKER_CONFIG/config.json")" >> LOGFILE ;;
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

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn the_docker_image_example_runs_docker_pipelines_commands() {
    let root = tempfile::tempdir().unwrap();
    let ws = root.path().join("ws");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/docker-image");
    copy_dir(&example, &ws);
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = root.path().join("docker.log");
    let docker = bin.join("docker");
    std::fs::write(
        &docker,
        FAKE_DOCKER.replace("LOGFILE", &log.display().to_string()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["run", "--credentials", "credentials.yaml"])
        .args(["-p", "REGISTRY=http://127.0.0.1:5000", "Jenkinsfile"])
        .current_dir(&ws)
        .env("PATH", path)
        .env("REGISTRY_PASSWORD", "example-pw")
        .env("NO_COLOR", "1")
        .env_remove("KILN_LOG")
        .env_remove("KILN_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let ws = std::fs::canonicalize(&ws).unwrap().display().to_string();
    for line in [
        "[Build image] + docker build -t acme/greeter:1 -f docker/Dockerfile --build-arg GREETING=hello .".to_owned(),
        "[Build image] built acme/greeter:1".to_owned(),
        format!("[Test inside] greeter test: ok (in {ws})"),
        "[Push] + docker push 127.0.0.1:5000/acme/greeter:latest".to_owned(),
        "[Push] pushed 127.0.0.1:5000/acme/greeter:1".to_owned(),
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line:?} missing:\n{stdout}");
    }
    assert!(!stdout.contains("example-pw"), "{stdout}");
    let calls: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("version ") && !l.starts_with("exec "))
        .map(str::to_owned)
        .collect();
    let uid = |flag: &str| {
        let out = Command::new("id").arg(flag).output().unwrap().stdout;
        String::from_utf8(out).unwrap().trim().to_owned()
    };
    let user = format!("{}:{}", uid("-u"), uid("-g"));
    let tmp = format!("{ws}@tmp");
    let want = [
        "build -t acme/greeter:1 -f docker/Dockerfile --build-arg GREETING=hello .".to_owned(),
        "inspect -f . alpine:3.20".to_owned(),
        "pull alpine:3.20".to_owned(),
        format!(
            "run -t -d -u {user} -w {ws} -v {ws}:{ws}:rw,z -v {tmp}:{tmp}:rw,z -e LANG=C.UTF-8 alpine:3.20 cat"
        ),
        "stop --time=1 c0ffee0123456789".to_owned(),
        "rm -f c0ffee0123456789".to_owned(),
        "tag acme/greeter:1 127.0.0.1:5000/acme/greeter:1".to_owned(),
        "push 127.0.0.1:5000/acme/greeter:1".to_owned(),
    ];
    assert_eq!(calls[..8], want, "{calls:#?}");
    assert!(
        calls[8].starts_with(r#"login: {"auths":{"127.0.0.1:5000":{"auth":"#),
        "{calls:#?}"
    );
    assert_eq!(
        calls[9..11],
        [
            "tag acme/greeter:1 127.0.0.1:5000/acme/greeter:latest".to_owned(),
            "push 127.0.0.1:5000/acme/greeter:latest".to_owned()
        ]
    );
}
