//! Groovy as Jenkinsfiles write it, run through the real `kiln run`: code beside the
//! pipeline, and the JDK and Groovy classes kiln provides (issue 10, items 6 and 8).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

/// Runs `jenkinsfile` with `kiln run` in a fresh workspace; exit code and stdout.
fn run(jenkinsfile: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Jenkinsfile"), jenkinsfile).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["run", "--color", "never"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env_remove("KILN_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (
        out.status.code(),
        format!("{stdout}\n--- stderr:\n{stderr}"),
    )
}

#[test]
fn code_beside_the_pipeline_and_runtime_classes_run() {
    let (code, out) = run(r#"import groovy.json.JsonSlurperClassic
import groovy.json.JsonOutput

GREETING = 'hello'
def shout(s) { s.toUpperCase() }

pipeline {
    agent any
    stages {
        stage('groovy') {
            steps {
                script {
                    echo "greeting: ${shout(GREETING)}"
                    def config = new JsonSlurperClassic().parseText('{"targets": ["linux", "darwin"], "n": 3}')
                    echo "targets: ${config.targets.join(',')} n=${config.n + 1}"
                    echo "json: ${JsonOutput.toJson([name: 'kiln', tags: ['ci', 'rust']])}"
                    echo String.format('version %s-%04d', 'v1', 42)
                    echo "epoch: ${new Date(0).format('yyyy-MM-dd HH:mm')}"
                    echo "clock moves: ${System.currentTimeMillis() > 0}"
                    echo "parsed: ${Integer.parseInt('41') + 1}"
                }
            }
        }
    }
}
"#);
    assert_eq!(code, Some(0), "{out}");
    for line in [
        "[groovy] greeting: HELLO",
        "[groovy] targets: linux,darwin n=4",
        "[groovy] json: {\"name\":\"kiln\",\"tags\":[\"ci\",\"rust\"]}",
        "[groovy] version v1-0042",
        "[groovy] epoch: 1970-01-01 00:00",
        "[groovy] clock moves: true",
        "[groovy] parsed: 42",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "missing {line:?} in:\n{out}"
        );
    }
}

#[test]
fn classes_kiln_does_not_provide_are_lint_errors_naming_them() {
    let (code, out) = run(
        "node {\n  def s = new StringBuilder()\n  echo java.time.LocalDate.now().toString()\n}\n",
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("`new StringBuilder(...)` is not supported"),
        "{out}"
    );
    assert!(out.contains("nothing was run"), "{out}");
}
