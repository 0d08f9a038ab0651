//! Cancelling, answering inputs and following logs.

use crate::support::*;
use kiln_engine::InputAnswer;
use kiln_scheduler::ControlError;
use kiln_store::BuildStatus;
use kiln_types::BuildResult;
use std::collections::BTreeMap;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_queued_build_aborts_it_without_running() {
    let env = Env::new();
    let gate = Gate::new(&env, "q");
    let dir = env.dir("q", &pipeline(&gate.step()));
    let h = env.start(env.config(&dir_job("q", &dir, "")));
    let first = h.trigger(user("q")).await.unwrap();
    let second = h.trigger(user("q")).await.unwrap();
    h.cancel(&second, "bob").await.unwrap();
    let b = env.build(&second);
    assert_eq!(b.status, BuildStatus::Finished);
    assert_eq!(b.result, Some(BuildResult::Aborted));
    assert_eq!(b.reason.as_deref(), Some("Aborted by bob"));
    assert_eq!(b.started_at_ms, None);
    assert_eq!(
        env.log(&second),
        "Aborted by bob while queued\nFinished: ABORTED\n"
    );
    assert!(matches!(
        h.cancel(&second, "bob").await,
        Err(ControlError::Finished(_))
    ));
    gate.open();
    assert_eq!(
        env.finished(&first).await.result,
        Some(BuildResult::Success)
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_build_kills_its_process_and_runs_aborted_posts() {
    let env = Env::new();
    let text = "pipeline {\n  agent any\n  stages {\n    stage('Wait') { steps { sh 'echo sleeping; sleep 100' } }\n  }\n  post {\n    aborted { echo 'cleaning up after abort' }\n  }\n}\n";
    let dir = env.dir("long", text);
    let h = env.start(env.config(&dir_job("long", &dir, "")));
    let id = h.trigger(user("long")).await.unwrap();
    env.until(|| env.log(&id).contains("[Wait] sleeping\n").then_some(()))
        .await;
    h.cancel(&id, "carol").await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Aborted), "{log}");
    assert_eq!(b.reason.as_deref(), Some("Aborted by carol"));
    assert!(log.contains("cleaning up after abort\n"), "{log}");
    assert!(log.ends_with("Finished: ABORTED\n"), "{log}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_waits_for_approval() {
    let env = Env::new();
    let steps = "input message: 'Deploy?', ok: 'Ship it'\n        echo 'deployed'";
    let dir = env.dir("deploy", &pipeline(steps));
    let h = env.start(env.config(&dir_job("deploy", &dir, "")));
    let id = h.trigger(user("deploy")).await.unwrap();
    let waiting = env
        .until(|| {
            let b = env.build(&id);
            (b.status == BuildStatus::WaitingForInput).then_some(b)
        })
        .await;
    let input = waiting
        .pending_input
        .expect("the pending input is recorded");
    assert_eq!(input.message, "Deploy?");
    assert_eq!(input.ok, "Ship it");
    // The scheduler's counters follow the stored state; wait for them rather than race them.
    env.until(|| (h.stats().waiting_for_input == 1).then_some(()))
        .await;
    let approve = InputAnswer::Proceed {
        values: BTreeMap::new(),
        by: "dave".into(),
    };
    h.answer_input(&id, approve.clone()).await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    assert_eq!(b.pending_input, None);
    assert!(log.contains("[Build] deployed\n"), "{log}");
    env.until(|| (h.stats().waiting_for_input == 0).then_some(()))
        .await;
    assert!(matches!(
        h.answer_input(&id, approve).await,
        Err(ControlError::Finished(_))
    ));
    h.shutdown().await;
}

/// Regression: an approval naming a parameter the input does not ask for was taken as an
/// approval with the defaults; it is refused and the input keeps waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_with_an_unknown_parameter_is_refused() {
    let env = Env::new();
    let steps = "script {\n  env.WHERE = input message: 'Where?', parameters: [string(name: 'TARGET', defaultValue: 'staging')]\n}\n        echo \"to ${env.WHERE}\"";
    let dir = env.dir("deploy", &pipeline(steps));
    let h = env.start(env.config(&dir_job("deploy", &dir, "")));
    let id = h.trigger(user("deploy")).await.unwrap();
    env.until(|| (env.build(&id).status == BuildStatus::WaitingForInput).then_some(()))
        .await;
    let answer = |name: &str| InputAnswer::Proceed {
        values: BTreeMap::from([(name.to_owned(), "prod".to_owned())]),
        by: "dave".into(),
    };
    let refused = h.answer_input(&id, answer("TARGT")).await;
    assert!(
        matches!(&refused, Err(ControlError::UnknownInputParameter { name, .. }) if name == "TARGT"),
        "{refused:?}"
    );
    assert_eq!(env.build(&id).status, BuildStatus::WaitingForInput);
    h.answer_input(&id, answer("TARGET")).await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    assert!(log.contains("to prod"), "{log}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_input_aborts_the_build() {
    let env = Env::new();
    let steps = "input message: 'Deploy?'\n        echo 'deployed'";
    let dir = env.dir("deploy", &pipeline(steps));
    let h = env.start(env.config(&dir_job("deploy", &dir, "")));
    let id = h.trigger(user("deploy")).await.unwrap();
    env.until(|| (status(&env, &id) == BuildStatus::WaitingForInput).then_some(()))
        .await;
    h.answer_input(&id, InputAnswer::Abort { by: "erin".into() })
        .await
        .unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Aborted), "{log}");
    assert!(!log.contains("[Build] deployed"), "{log}");
    assert!(log.ends_with("Finished: ABORTED\n"), "{log}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answering_a_build_without_input_is_refused() {
    let env = Env::new();
    let gate = Gate::new(&env, "noinput");
    let dir = env.dir("busy", &pipeline(&gate.step()));
    let h = env.start(env.config(&dir_job("busy", &dir, "")));
    let id = h.trigger(user("busy")).await.unwrap();
    env.until(|| (status(&env, &id) == BuildStatus::Running).then_some(()))
        .await;
    let answer = InputAnswer::Abort { by: "x".into() };
    assert!(matches!(
        h.answer_input(&id, answer).await,
        Err(ControlError::NoPendingInput(_))
    ));
    let missing = kiln_types::BuildRef {
        job: id.job.clone(),
        number: 99,
    };
    assert!(matches!(
        h.cancel(&missing, "x").await,
        Err(ControlError::NotFound(_))
    ));
    gate.open();
    env.finished(&id).await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_from_offset_zero_sees_every_line_then_ends() {
    let env = Env::new();
    let gate = Gate::new(&env, "follow");
    let steps = format!(
        "sh 'for i in 1 2 3; do echo line $i; done'\n        {}\n        sh 'for i in 4 5 6; do echo line $i; done'",
        gate.step()
    );
    let dir = env.dir("follow", &pipeline(&steps));
    let h = env.start(env.config(&dir_job("follow", &dir, "")));
    let id = h.trigger(user("follow")).await.unwrap();
    let mut follower = h.follow_log(&id, 0);
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("line 3") {
        let slice = follower.next().await.expect("more log").unwrap();
        assert_eq!(slice.offset, seen.len() as u64);
        seen.extend(slice.bytes);
    }
    gate.open();
    let text = read_to_end(follower, seen).await;
    assert_eq!(text, env.log(&id));
    assert!(text.contains("[Build] line 6\n"), "{text}");
    assert!(text.ends_with("Finished: SUCCESS\n"), "{text}");
    assert_eq!(env.build(&id).status, BuildStatus::Finished);
    // A follower of a finished build reads what is stored and ends.
    let mut late = h.follow_log(&id, 10);
    let first = late.next().await.unwrap().unwrap();
    assert_eq!(first.offset, 10);
    while late.next().await.is_some() {}
    h.shutdown().await;
}

/// Reads a follower to its end after what it gave already (`seen`), checking that the
/// slices follow one another.
async fn read_to_end(mut follower: kiln_scheduler::LogFollower, mut seen: Vec<u8>) -> String {
    while let Some(slice) = follower.next().await {
        let slice = slice.unwrap();
        assert_eq!(slice.offset, seen.len() as u64);
        seen.extend(slice.bytes);
    }
    String::from_utf8(seen).unwrap()
}

/// A queued build has no live log until it starts: its followers wait for it to start (or
/// to end unrun) and then get every line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_of_a_queued_build_waits_for_it_and_sees_every_line() {
    let env = Env::new();
    let gate = Gate::new(&env, "later");
    let lines = "sh 'for i in 1 2 3; do echo line $i; done'";
    let text = pipeline(&format!("{}\n        {lines}", gate.step()));
    let h = env.start(env.config(&dir_job("later", &env.dir("later", &text), "")));
    let first = h.trigger(user("later")).await.unwrap();
    let second = h.trigger(user("later")).await.unwrap();
    let third = h.trigger(user("later")).await.unwrap();
    let to_run = tokio::spawn(read_to_end(h.follow_log(&second, 0), Vec::new()));
    let to_cancel = tokio::spawn(read_to_end(h.follow_log(&third, 0), Vec::new()));
    settle(&h).await;
    assert_eq!(status(&env, &second), BuildStatus::Queued);
    assert!(!to_run.is_finished() && !to_cancel.is_finished());
    h.cancel(&third, "dave").await.unwrap();
    let cancelled = tokio::time::timeout(std::time::Duration::from_secs(30), to_cancel)
        .await
        .expect("the follower of a build cancelled while queued ends")
        .unwrap();
    assert_eq!(
        cancelled,
        "Aborted by dave while queued\nFinished: ABORTED\n"
    );
    gate.open();
    env.finished(&first).await;
    // The gate is open: the second build runs through.
    let followed = tokio::time::timeout(std::time::Duration::from_secs(60), to_run)
        .await
        .expect("the follower of the queued build ends with it")
        .unwrap();
    assert_eq!(followed, env.log(&second));
    assert!(followed.contains("[Build] line 3\n"), "{followed}");
    assert!(followed.ends_with("Finished: SUCCESS\n"), "{followed}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_aborts_running_builds_and_keeps_queued_ones() {
    let env = Env::new();
    let gate = Gate::new(&env, "shutdown");
    let dir = env.dir("busy", &pipeline(&gate.step()));
    let h = env.start(env.config(&dir_job("busy", &dir, "")));
    let running = h.trigger(user("busy")).await.unwrap();
    let queued = h.trigger(user("busy")).await.unwrap();
    env.until(|| (status(&env, &running) == BuildStatus::Running).then_some(()))
        .await;
    h.shutdown().await;
    let b = env.build(&running);
    assert_eq!(
        b.result,
        Some(BuildResult::Aborted),
        "{}",
        env.log(&running)
    );
    assert_eq!(b.reason.as_deref(), Some("The controller is shutting down"));
    assert!(env.log(&running).ends_with("Finished: ABORTED\n"));
    assert_eq!(status(&env, &queued), BuildStatus::Queued);
    assert!(matches!(
        h.trigger(user("busy")).await,
        Err(kiln_scheduler::TriggerError::ShuttingDown)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn is_running_until_shutdown() {
    let env = Env::new();
    let dir = env.dir("alive", &pipeline("echo 'x'"));
    let h = env.start(env.config(&dir_job("alive", &dir, "")));
    assert!(h.is_running());
    h.shutdown().await;
    assert!(!h.is_running());
}
