//! Builds cannot reach kiln's own secrets (issue 11): the real `kiln server`, given an
//! admin token through `token_env` and credentials through `secret_env` and
//! `private_key_env`, runs a pipeline that tries to read them (its environment, kiln's
//! configuration, the store, other builds' workspaces, kiln's process environment) and
//! prints an SSH key it is given. Needs a kernel with Landlock (the sandbox); without one the
//! reads succeed and the test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use support::{Server, git, wait_for, wait_or_show};

const ADMIN_TOKEN: &str = "adm1n-t0ken-from-env-4471";
const SECRET: &str = "s3cret-from-env-9921";
const KEY_LINES: [&str; 3] = [
    "-----BEGIN OPENSSH PRIVATE KEY-----",
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
    "-----END OPENSSH PRIVATE KEY-----",
];

const PIPELINE: &str = r#"pipeline {
  agent any
  parameters {
    string(name: 'KILN_CONFIG', defaultValue: '')
    string(name: 'KILN_DATA', defaultValue: '')
  }
  stages {
    stage('Probe') {
      steps {
        sh 'env | sort'
        sh 'cat "$KILN_CONFIG" || echo "config: refused"'
        sh 'cat "$KILN_DATA"/store/db > /dev/null && echo "store: READ" || echo "store: refused"'
        sh 'ls "$KILN_DATA"/workspaces || echo "workspaces: refused"'
        sh 'tr "\\0" "\\n" < /proc/$PPID/environ || echo "kiln environ: refused"'
        sh 'echo in-workspace > ws.txt && cat ws.txt && echo in-tmp > "$HOME/h.txt" && cat "$HOME/h.txt"'
        withCredentials([sshUserPrivateKey(credentialsId: 'deploy-key', keyFileVariable: 'KEYFILE')]) {
          sh 'cat "$KEYFILE"'
        }
      }
    }
    stage('ReadConfig') {
      steps {
        readFile file: params.KILN_CONFIG
      }
    }
  }
}
"#;

/// Every file below `dir`, read whole (the store's files included).
fn all_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path.display().to_string(), bytes));
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn a_build_reaches_none_of_kilns_secrets_files_or_environment() {
    let dir = tempfile::Builder::new()
        .prefix("kiln-isolation-")
        .tempdir()
        .unwrap();
    let root = dir.path().canonicalize().unwrap();
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("Jenkinsfile"), PIPELINE).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "probe"]);
    let config = root.join("kiln.yaml");
    let data = root.join("data");
    std::fs::write(
        &config,
        format!(
            "server:\n  tokens:\n    - {{ name: e2e, token_env: KILN_E2E_ADMIN, role: admin }}\n\
             credentials:\n  - {{ id: api, secret_env: KILN_E2E_SECRET }}\n  \
             - {{ id: deploy-key, username: git, private_key_env: KILN_E2E_KEY }}\n\
             jobs:\n  - name: probe\n    repo: file://{}\n    \
             parameters: {{ KILN_CONFIG: '{}', KILN_DATA: '{}' }}\n",
            repo.display(),
            config.display(),
            data.display()
        ),
    )
    .unwrap();
    let key = format!("{}\n", KEY_LINES.join("\n"));
    let server = Server::start(
        &root,
        &config,
        "127.0.0.1:0",
        [
            ("KILN_E2E_ADMIN", ADMIN_TOKEN),
            ("KILN_E2E_SECRET", SECRET),
            ("KILN_E2E_KEY", key.as_str()),
        ],
    );
    let trigger = std::process::Command::new(support::KILN)
        .args(["trigger", "probe", "--follow"])
        .env("KILN_SERVER", &server.url)
        .env("KILN_TOKEN", ADMIN_TOKEN)
        .output()
        .unwrap();
    let followed = String::from_utf8_lossy(&trigger.stdout).into_owned();
    let server_log = || std::fs::read_to_string(root.join("server.log")).unwrap_or_default();
    wait_or_show(
        "the build's end",
        || log_of_with_token(&server, "probe#1").contains("Finished: "),
        || format!("{followed}\n--- server log:\n{}", server_log()),
    );
    let log = log_of_with_token(&server, "probe#1");
    let context = format!("--- build log:\n{log}\n--- server log:\n{}", server_log());
    assert!(server_log().contains("Landlock sandbox"), "{context}");

    // Nothing secret in the live log, the stored log or any file of the data directory.
    for secret in [ADMIN_TOKEN, SECRET].iter().chain(KEY_LINES.iter()) {
        assert!(
            !followed.contains(secret),
            "`{secret}` in the followed log:\n{context}"
        );
        assert!(
            !log.contains(secret),
            "`{secret}` in the stored log:\n{context}"
        );
        for (path, bytes) in all_bytes(&data) {
            assert!(!contains(&bytes, secret), "`{secret}` in {path}");
        }
    }
    // The environment is the documented one; kiln's own variables are not there.
    assert!(!log.contains("KILN_E2E_"), "{context}");
    assert!(
        log.contains(&format!(
            "HOME={}",
            data.join("workspaces/probe@tmp").display()
        )),
        "{context}"
    );
    // Every read of kiln's files fails; the build's own directories work.
    for refused in [
        "config: refused",
        "store: refused",
        "workspaces: refused",
        "kiln environ: refused",
    ] {
        assert!(log.contains(refused), "no `{refused}`:\n{context}");
    }
    assert!(
        !log.contains("store: READ") && !log.contains("role: admin"),
        "{context}"
    );
    assert!(
        log.contains("in-workspace") && log.contains("in-tmp"),
        "{context}"
    );
    // The masked key: each of its lines is `****`.
    let masked = log.lines().filter(|l| l.ends_with("****")).count();
    assert!(masked >= KEY_LINES.len(), "{context}");
    // `readFile` of kiln's configuration is refused, naming the path.
    let refusal = format!(
        "read `{}` refused: it is outside the build's workspace",
        config.display()
    );
    assert!(log.contains(&refusal), "{context}");
    assert!(log.contains("Finished: FAILURE"), "{context}");
}

fn log_of_with_token(server: &Server, build: &str) -> String {
    let out = std::process::Command::new(support::KILN)
        .args(["logs", build])
        .env("KILN_SERVER", &server.url)
        .env("KILN_TOKEN", ADMIN_TOKEN)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A job whose pipeline runs `script` in one `sh` step, in a directory of its own.
fn write_job(root: &Path, name: &str, script: &str) -> String {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let pipeline = format!(
        "pipeline {{ agent any\n stages {{ stage('S') {{ steps {{ sh '''{script}''' }} }} }} }}\n"
    );
    std::fs::write(dir.join("Jenkinsfile"), pipeline).unwrap();
    format!("  - {{ name: {name}, dir: '{}' }}\n", dir.display())
}

/// Regression (issue 11): every build's `mktemp` wrote to the shared `/tmp`, where another
/// build (another job's pull request) could read it. Build `a` makes a temporary file and
/// waits; build `b`, running at the same time, tries to read it; then `a`'s TMPDIR is gone.
#[test]
fn a_build_cannot_read_another_builds_temporary_files() {
    let dir = tempfile::Builder::new()
        .prefix("kiln-tmpdir-")
        .tempdir()
        .unwrap();
    let root = dir.path().canonicalize().unwrap();
    // Both sandboxes may write here (it is in /tmp): how the two builds meet.
    let shared = root.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    let s = shared.display();
    let wait = |file: &str| {
        format!("i=0; while [ ! -e {s}/{file} ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done")
    };
    let a = format!(
        "echo \"a TMPDIR=$TMPDIR\"\n f=$(mktemp)\n echo tmp-content-of-a > \"$f\"\n \
         echo \"$f\" > {s}/path.new && mv {s}/path.new {s}/a-path\n {}",
        wait("b-done")
    );
    let b = format!(
        "echo \"b TMPDIR=$TMPDIR\"\n {}\n f=$(cat {s}/a-path)\n \
         cat \"$f\" && echo \"b: READ\" || echo \"b: refused\"\n touch {s}/b-done",
        wait("a-path")
    );
    let config = root.join("kiln.yaml");
    let jobs = write_job(&root, "a", &a) + write_job(&root, "b", &b).as_str();
    std::fs::write(&config, format!("jobs:\n{jobs}")).unwrap();
    let server = Server::start(&root, &config, "127.0.0.1:0", [("KILN_TEST", "1")]);
    for job in ["a", "b"] {
        support::kiln_ok(&server, &["trigger", job]);
    }
    let log = |build: &str| {
        String::from_utf8_lossy(&support::kiln(&server, &["logs", build]).stdout).into_owned()
    };
    let server_log = || std::fs::read_to_string(root.join("server.log")).unwrap_or_default();
    let context = || {
        format!(
            "--- a:\n{}\n--- b:\n{}\n--- server log:\n{}",
            log("a#1"),
            log("b#1"),
            server_log()
        )
    };
    wait_or_show(
        "both builds' ends",
        || log("a#1").contains("Finished: ") && log("b#1").contains("Finished: "),
        context,
    );
    let (log_a, log_b) = (log("a#1"), log("b#1"));
    assert!(server_log().contains("Landlock sandbox"), "{}", context());
    let a_tmp = root.join("data/workspaces/a@tmp/tmp");
    assert!(
        log_a.contains(&format!("a TMPDIR={}", a_tmp.display())),
        "{}",
        context()
    );
    assert!(
        log_b.contains(&format!(
            "b TMPDIR={}",
            root.join("data/workspaces/b@tmp/tmp").display()
        )),
        "{}",
        context()
    );
    assert!(
        log_b.contains("b: refused") && !log_b.contains("tmp-content-of-a"),
        "{}",
        context()
    );
    assert!(log_a.contains("Finished: SUCCESS"), "{}", context());
    // The build's TMPDIR is removed with what it held once the build is over.
    let a_file = std::fs::read_to_string(shared.join("a-path")).unwrap();
    assert!(
        a_file.trim().starts_with(&a_tmp.display().to_string()),
        "{a_file}"
    );
    wait_for("a's TMPDIR removed", || !a_tmp.exists());
}
