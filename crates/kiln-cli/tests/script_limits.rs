//! Issue 11: one line of a Jenkinsfile must not take the server down. Each job's script
//! asks for more than the script limits allow; the real `kiln server` (127.0.0.1, port 0)
//! ends each build with a clear error, keeps running, and builds the next job.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

/// A script block of `body` in a one-stage declarative pipeline.
fn pipeline(body: &str) -> String {
    format!(
        "pipeline {{\n  agent any\n  stages {{\n    stage('s') {{\n      steps {{\n        script {{\n{body}\n        }}\n      }}\n    }}\n  }}\n}}\n"
    )
}

/// Job name, script body, what the build's log must say.
const JOBS: &[(&str, &str, &str)] = &[
    (
        "list",
        "def a = [1] * 10000000000",
        "`*` on a list would make a list of 10000000000 items, over the script limit of 1000000 items (line 7)",
    ),
    (
        "string",
        "def a = \"x\" * 2000000000",
        "`*` on a string would make a string of 2000000000 bytes, over the script limit of 16777216 bytes (line 7)",
    ),
    (
        "memory",
        "def f(n) {\n  def s = ('x' * 15000000) + n\n  return n == 0 ? s.size() : f(n - 1) + s.size()\n}\necho \"${f(40)}\"",
        "over the script memory limit of 134217728 bytes",
    ),
    (
        "steps",
        "while (true) { sh 'true' }",
        "script exceeded its time limit (line 7)",
    ),
    ("fine", "echo 'still here'", "still here"),
];

#[test]
fn scripts_over_their_limits_fail_their_build_and_the_server_stays_up() {
    let dir = tempfile::Builder::new()
        .prefix("kiln-limits-")
        .tempdir()
        .unwrap();
    let root = dir.path();
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    let mut yaml = format!(
        "server:\n  tokens:\n    - {{name: e2e, token: {TOKEN}, role: admin}}\nscripts:\n  total_time_secs: 3\njobs:\n"
    );
    for (job, body, _) in JOBS {
        std::fs::write(repo.join(format!("{job}.Jenkinsfile")), pipeline(body)).unwrap();
        yaml.push_str(&format!(
            "  - name: {job}\n    repo: file://{}\n    jenkinsfile: {job}.Jenkinsfile\n",
            repo.display()
        ));
    }
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "pipelines"]);
    let config = root.join("kiln.yaml");
    std::fs::write(&config, yaml).unwrap();
    let mut server = Server::start(root, &config, "127.0.0.1:0", [("KILN_LOG", "info")]);

    for (job, _, expected) in JOBS {
        let out = kiln(&server, &["trigger", job, "--follow"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let server_log = || std::fs::read_to_string(root.join("server.log")).unwrap_or_default();
        assert!(
            stdout.contains(expected),
            "{job}: log lacks {expected:?}:\n{stdout}\n--- server log:\n{}",
            server_log()
        );
        let finished = if *job == "fine" {
            "Finished: SUCCESS"
        } else {
            "Finished: FAILURE"
        };
        assert!(stdout.trim_end().ends_with(finished), "{job}:\n{stdout}");
        assert!(
            server.child.try_wait().unwrap().is_none(),
            "the server exited after {job}:\n{}",
            server_log()
        );
    }
}
