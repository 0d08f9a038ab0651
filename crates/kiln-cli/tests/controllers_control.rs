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
use std::time::Instant;
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

/// A pod build that runs until stopped.
const POD: &str = r#"pipeline {
  agent { kubernetes { yaml '''
spec:
  containers:
  - name: work
    image: busybox
'''
  } }
  stages { stage('Work') { steps {
    sh 'echo started; while true; do sleep 0.2; done'
  } } }
  post { aborted { echo 'pod build was aborted' } }
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

#[test]
fn a_cancel_sent_while_the_owner_is_dead_is_acted_on_by_the_controller_taking_the_build_over() {
    let env = Env::new(&[("pod", POD)]);
    let mut owner = env.start(1);
    kiln_ok(&owner, &["trigger", "pod"]);
    wait_or_show(
        "pod#1 to run in its pod on the first controller",
        || log(&owner, "pod#1").contains("started"),
        || env.server_logs(),
    );
    let (second, third) = (env.start(2), env.start(3));
    owner.kill_9();
    // Sent while the build is still the dead controller's: it waits for whichever takes
    // the build over.
    let asked = Instant::now();
    let (ok, out, err) = stderr_of(&second, &["cancel", "pod#1"]);
    let took = asked.elapsed();
    assert!(ok, "{err}\n{}", env.server_logs());
    assert_eq!(out, "cancelled pod#1\n");
    // The heir acts on it once it took the build over and re-attached to its pod.
    let logs = env.server_logs();
    assert!(logs.contains("build resumed in its pod"), "{logs}");
    assert!(
        logs.contains("request from another controller answered"),
        "{logs}"
    );
    wait_or_show(
        "pod#1 to finish",
        || build(&third, "pod", 1)["status"] == "finished",
        || env.server_logs(),
    );
    let text = log(&third, "pod#1");
    assert_eq!(build(&third, "pod", 1)["result"], "ABORTED", "{text}");
    assert!(text.contains("pod build was aborted"), "{text}");
    assert!(
        took.as_secs() >= 5,
        "answered after the takeover, not before ({took:?})"
    );
    wait_or_show(
        "no pod to be left",
        || env.pods() == 0,
        || env.server_logs(),
    );
}

/// Stashes a file made in a stage's pod, deletes it there (a stash made again from the
/// workspace would be empty), and waits for `go`; then unstashes it in another stage's pod.
const STASH: &str = r#"pipeline {
  agent none
  stages {
    stage('Make') {
      agent { kubernetes { yaml '''MARKS_POD''' } }
      steps {
        sh 'mkdir -p out && echo payload-42 > out/file.txt'
        stash name: 'out', includes: 'out/**'
        sh 'rm -rf out; echo waiting; while [ ! -e /marks/go ]; do sleep 0.1; done'
      }
    }
    stage('Use') {
      agent { kubernetes { yaml '''
spec:
  containers:
  - name: work
    image: busybox
''' } }
      steps {
        unstash 'out'
        sh 'echo "got $(cat out/file.txt)"'
      }
    }
  }
}
"#;

#[test]
fn a_stash_made_before_a_takeover_is_unstashed_by_the_new_owner_from_the_database() {
    let env = Env::new(&[("stash", STASH)]);
    let mut owner = owner_at(&env, "stash", "[Make] waiting");
    assert!(
        env.server_log(1)
            .contains("up to 16 MiB a set are kept in PostgreSQL"),
        "said at start"
    );
    let heir = env.start(2);
    owner.kill_9();
    wait_or_show(
        "stash#1 to be resumed in its pod by the second controller",
        || env.server_log(2).contains("build resumed in its"),
        || env.server_logs(),
    );
    env.touch("go");
    let text = succeeded(&env, &heir, "stash");
    assert!(
        text.contains("[Use] got payload-42"),
        "{text}\n{}",
        env.server_logs()
    );
    assert!(
        env.server_log(2).contains("stash read from the database"),
        "{}",
        env.server_logs()
    );
    // The stash is in the heir's build directory, not the dead owner's shared one.
    let stashed = env
        .root
        .join("controller-2/data/builds/stash/1/stashes/out/out/file.txt");
    assert_eq!(std::fs::read_to_string(stashed).unwrap(), "payload-42\n");
}

/// Writes a file a step then changes, sleeps with no process running (the owner is killed
/// then), and writes another file a later step reads.
const WRITES: &str = r#"pipeline {
  agent { kubernetes { yaml 'spec: {containers: [{name: work, image: busybox}]}' } }
  stages { stage('Work') { steps {
    writeFile file: 'g.txt', text: 'first'
    sh 'echo -second >> g.txt; echo appended'
    sleep time: 30
    writeFile file: 'f.txt', text: 'written'
    sh 'echo "got $(cat f.txt) $(cat g.txt)"'
  } } }
}
"#;

#[test]
fn a_new_owner_does_the_writes_after_the_last_step_that_ran_and_not_those_before() {
    let env = Env::new(&[("writes", WRITES)]);
    let mut owner = owner_at(&env, "writes", "[Work] appended");
    let heir = env.start(2);
    owner.kill_9();
    let text = succeeded(&env, &heir, "writes");
    assert!(
        env.server_log(2).contains("build resumed in its"),
        "{}",
        env.server_logs()
    );
    // The new owner wrote `f.txt`, and did not write `g.txt` again over the step's change.
    assert!(
        text.contains("[Work] got written first-second"),
        "{text}\n{}",
        env.server_logs()
    );
}

/// Stashes a file and removes it, then sleeps with no process running (the owner is killed
/// then: `sleeping` is logged once the `sh` ended); the unstashed file is archived and read
/// with no process between.
const UNSTASH: &str = r#"pipeline {
  agent { kubernetes { yaml 'spec: {containers: [{name: work, image: busybox}]}' } }
  stages { stage('Work') { steps {
    writeFile file: 'src.txt', text: 'payload-7'
    stash name: 'src', includes: 'src.txt'
    sh 'rm src.txt; echo removed'
    echo 'sleeping'
    sleep time: 30
    unstash 'src'
    archiveArtifacts artifacts: 'src.txt'
    script { echo "read ${readFile('src.txt')}" }
  } } }
}
"#;

#[test]
fn an_unstash_after_the_last_step_that_ran_is_archived_and_read_without_a_process_between() {
    let env = Env::new(&[("unstash", UNSTASH)]);
    let mut owner = owner_at(&env, "unstash", "[Work] sleeping");
    let heir = env.start(2);
    owner.kill_9();
    let text = succeeded(&env, &heir, "unstash");
    let logs = env.server_logs();
    assert!(logs.contains("build resumed in its"), "{logs}");
    assert!(
        logs.contains("replay passed the last process the build's pods knew"),
        "{logs}"
    );
    assert!(text.contains("[Work] read payload-7"), "{text}\n{logs}");
    let archived = env
        .root
        .join("controller-2/data/builds/unstash/1/artifacts/src.txt");
    assert_eq!(
        std::fs::read_to_string(&archived).ok().as_deref(),
        Some("payload-7"),
        "{}\n{text}\n{logs}",
        archived.display()
    );
}

/// The first controller, running `JOB#1` until its log has `mark`.
fn owner_at(env: &Env, job: &str, mark: &str) -> Server {
    let owner = env.start(1);
    kiln_ok(&owner, &["trigger", job]);
    let id = format!("{job}#1");
    wait_or_show(
        &format!("{id} to log `{mark}` on the first controller"),
        || log(&owner, &id).contains(mark),
        || env.server_logs(),
    );
    owner
}

/// The log of `JOB#1` once it finished on `server`, asserting it succeeded.
fn succeeded(env: &Env, server: &Server, job: &str) -> String {
    let id = format!("{job}#1");
    wait_or_show(
        &format!("{id} to finish"),
        || build(server, job, 1)["status"] == "finished",
        || format!("{}\n{}", log(server, &id), env.server_logs()),
    );
    let text = log(server, &id);
    assert_eq!(build(server, job, 1)["result"], "SUCCESS", "{text}");
    text
}

/// Says where it ran and counts its runs in the test's directory.
const QUIET: &str = r#"pipeline {
  agent any
  stages { stage('Build') { steps { sh 'echo "built on $CTRL"; echo run >> MARKS/quiet-runs' } } }
}
"#;

#[test]
fn a_trigger_reaching_another_controller_merges_into_a_build_in_its_quiet_period() {
    let env = Env::with_job_keys(&[("quiet", QUIET)], "    quiet_period_secs: 8\n");
    let (first, second) = (env.start(1), env.start(2));
    let queued = kiln_ok(&first, &["trigger", "quiet"]);
    let merged = kiln_ok(&second, &["trigger", "quiet"]);
    assert!(queued.starts_with("quiet#1 "), "{queued}");
    assert!(
        merged.starts_with("quiet#1 "),
        "the second trigger joined quiet#1: {merged}"
    );
    assert!(
        env.server_log(2).contains(
            "trigger merged into a build in its quiet period queued by another controller"
        ),
        "{}",
        env.server_logs()
    );
    wait_or_show(
        "quiet#1 to finish",
        || build(&second, "quiet", 1)["status"] == "finished",
        || env.server_logs(),
    );
    assert_eq!(build(&second, "quiet", 1)["result"], "SUCCESS");
    assert_eq!(lines(&env, "quiet-runs"), 1, "one build ran");
    let builds = api(&second, "/jobs/quiet/builds");
    assert_eq!(
        builds["builds"].as_array().map(Vec::len),
        Some(1),
        "{builds}"
    );
}

#[test]
fn a_cancel_reaching_another_controller_aborts_a_build_in_its_quiet_period_and_says_so() {
    let env = Env::with_job_keys(&[("quiet", QUIET)], "    quiet_period_secs: 120\n");
    let (first, second) = (env.start(1), env.start(2));
    let queued = kiln_ok(&first, &["trigger", "quiet"]);
    assert!(queued.starts_with("quiet#1 "), "{queued}");
    kiln_ok(&second, &["cancel", "quiet#1"]);
    let b = build(&first, "quiet", 1);
    assert_eq!(
        (b["status"].as_str(), b["result"].as_str()),
        (Some("finished"), Some("ABORTED")),
        "{b}"
    );
    // Its log is the one the controller holding it would have written.
    let log = kiln_ok(&first, &["logs", "quiet#1"]);
    let text: Vec<&str> = log.lines().collect();
    assert_eq!(
        text,
        ["Aborted by e2e while queued", "Finished: ABORTED"],
        "{log}"
    );
    assert_eq!(lines(&env, "quiet-runs"), 0, "it never ran");
}
