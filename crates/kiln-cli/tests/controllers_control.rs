//! Cancel and input across controllers: kiln servers (the real binary) on one PostgreSQL
//! database the test starts, the `kiln` client asking a controller that does not own the
//! build. The owner acts as if asked itself, and the client gets the owner's real outcome;
//! a cancel sent while the owner is dead is acted on by the controller that takes the build
//! over.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/controllers_env.rs"]
mod controllers_env;
mod support;

use controllers_env::*;
use support::*;

/// Waits for an answer, then says where it ran and with what.
const GATE: &str = r#"pipeline {
  agent any
  stages {
    stage('Gate') {
      input {
        message 'Deploy?'
        parameters { string(name: 'TARGET', defaultValue: 'nowhere') }
      }
      steps { sh 'echo "deployed to $TARGET on $CTRL"' }
    }
  }
}
"#;

/// Runs until stopped, counting its ticks in the test's directory.
const SPIN: &str = r#"pipeline {
  agent any
  stages { stage('Spin') { steps {
    sh 'echo "spinning on $CTRL"; while true; do echo x >> MARKS/spin; sleep 0.2; done'
  } } }
  post { aborted { echo 'spin was aborted' } }
}
"#;

fn stderr_of(server: &Server, args: &[&str]) -> (bool, String, String) {
    let out = kiln(server, args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn lines(env: &Env, file: &str) -> usize {
    std::fs::read_to_string(env.marks.join(file))
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn cancel_and_input_sent_to_controllers_that_do_not_own_the_build_are_acted_on_by_its_owner() {
    let env = Env::new(&[("gate", GATE), ("spin", SPIN)]);
    let owner = env.start(1);
    kiln_ok(&owner, &["trigger", "gate"]);
    kiln_ok(&owner, &["trigger", "spin"]);
    wait_or_show(
        "gate#1 to wait for its input and spin#1 to run on the first controller",
        || {
            build(&owner, "gate", 1)["status"] == "waiting_for_input"
                && log(&owner, "spin#1").contains("spinning on c1")
        },
        || env.server_logs(),
    );
    let (second, third) = (env.start(2), env.start(3));

    // The owner checks the answer: its refusal is what the client gets.
    let (ok, _, err) = stderr_of(&second, &["approve", "gate#1", "-p", "NOPE=1"]);
    assert!(!ok, "{err}");
    assert!(
        err.contains("no parameter `NOPE`") && err.contains("TARGET"),
        "{err}"
    );
    assert_eq!(build(&owner, "gate", 1)["status"], "waiting_for_input");
    // The approval is the owner's to act on.
    let (ok, _, err) = stderr_of(&second, &["approve", "gate#1", "-p", "TARGET=prod"]);
    assert!(ok, "{err}\n{}", env.server_logs());
    wait_or_show(
        "gate#1 to finish",
        || build(&third, "gate", 1)["status"] == "finished",
        || env.server_logs(),
    );
    let text = log(&third, "gate#1");
    assert_eq!(build(&third, "gate", 1)["result"], "SUCCESS", "{text}");
    assert!(text.contains("[Gate] deployed to prod on c1"), "{text}");
    let (ok, _, err) = stderr_of(&third, &["approve", "gate#1"]);
    assert!(!ok && err.contains("already finished"), "{err}");

    // A cancel sent to the third stops the owner's process and runs its `aborted` post.
    let (ok, out, err) = stderr_of(&third, &["cancel", "spin#1"]);
    assert!(ok, "{err}\n{}", env.server_logs());
    assert_eq!(out, "cancelled spin#1\n");
    wait_or_show(
        "spin#1 to finish",
        || build(&second, "spin", 1)["status"] == "finished",
        || env.server_logs(),
    );
    let text = log(&second, "spin#1");
    assert_eq!(build(&second, "spin", 1)["result"], "ABORTED", "{text}");
    assert!(text.contains("spin was aborted"), "{text}");
    assert!(
        env.server_log(1).contains("cancelling a running build"),
        "{}",
        env.server_logs()
    );
    let ticks = lines(&env, "spin");
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(lines(&env, "spin"), ticks, "the owner's process stopped");
    let (ok, _, err) = stderr_of(&second, &["cancel", "spin#1"]);
    assert!(!ok && err.contains("already finished"), "{err}");
}
