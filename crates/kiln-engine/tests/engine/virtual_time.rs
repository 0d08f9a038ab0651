//! Timing steps (`timeout`, `retry`, `sleep`, the stage `timeout` option) against the test
//! kit's fake executor on a paused tokio clock: a step that would take an hour ends at
//! once, and the virtual time the build took is exact, so these tests assert on durations
//! without depending on the machine's speed.

use crate::harness::{RAN_OK, Run, plan_of, setup};
use kiln_engine::{BuildResult, BuildRun, StageOutcome};
use kiln_executor::KillMode;
use kiln_testkit::{FakeExecutor, ScriptedProcess};
use std::sync::Arc;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

/// Runs `jenkinsfile` on `executor`; also returns how much (virtual) time the build took.
async fn run_fake(jenkinsfile: &str, executor: Arc<FakeExecutor>) -> (Run, Duration) {
    let plan = plan_of(jenkinsfile);
    let s = setup();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let started = tokio::time::Instant::now();
    let summary = BuildRun::new(&plan, s.spec, executor)
        .run(tx, s.cancel)
        .await;
    let took = started.elapsed();
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    let run = Run {
        summary,
        events,
        dir: s.dir,
    };
    (run, took)
}

fn pipeline(steps: &str) -> String {
    format!(
        "pipeline {{\n    agent any\n    stages {{\n        stage('S') {{\n            \
         steps {{\n                {steps}\n            }}\n        }}\n    }}\n}}\n"
    )
}

#[tokio::test(start_paused = true)]
async fn timeout_ends_an_hour_long_step_after_its_limit() {
    let executor = Arc::new(FakeExecutor::new("/ws").on(
        "deploy",
        ScriptedProcess::new().stdout("deploying\n").sleep(HOUR),
    ));
    let (run, took) = run_fake(
        &pipeline("timeout(time: 10, unit: 'MINUTES') { sh './deploy' }"),
        executor.clone(),
    )
    .await;
    assert_eq!(run.result(), BuildResult::Aborted, "{:#?}", run.log());
    assert_eq!(run.stage("S"), StageOutcome::Ran(BuildResult::Aborted));
    assert!(run.has_line("deploying"), "{:#?}", run.log());
    assert!(
        run.has_line("Timeout set to expire after 10 min"),
        "{:#?}",
        run.log()
    );
    assert!(run.has_line("Cancelling nested steps due to timeout"));
    assert_eq!(
        executor.kills().len(),
        1,
        "the step's process was stopped once"
    );
    assert_eq!(executor.kills()[0].1, KillMode::Terminate);
    assert!(
        (10 * MINUTE..HOUR).contains(&took),
        "the build took {took:?} of virtual time"
    );
}

#[tokio::test(start_paused = true)]
async fn a_step_inside_its_timeout_finishes() {
    let executor = Arc::new(FakeExecutor::new("/ws").on(
        "test",
        ScriptedProcess::new().sleep(9 * MINUTE).stdout("passed\n"),
    ));
    let (run, took) = run_fake(
        &pipeline("timeout(time: 10, unit: 'MINUTES') { sh './test' }"),
        executor.clone(),
    )
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    assert!(run.has_line("passed"));
    assert!(executor.kills().is_empty(), "{:?}", executor.kills());
    assert!((9 * MINUTE..10 * MINUTE).contains(&took), "took {took:?}");
}

#[tokio::test(start_paused = true)]
async fn retry_runs_a_failing_step_until_it_succeeds() {
    let executor = Arc::new(FakeExecutor::new("/ws").on_each(
        "flaky",
        [
            ScriptedProcess::new().stdout("try 1\n").exit(1),
            ScriptedProcess::new().stdout("try 2\n").exit(1),
            ScriptedProcess::new().stdout("try 3\n"),
        ],
    ));
    let (run, _) = run_fake(&pipeline("retry(3) { sh './flaky' }"), executor.clone()).await;
    assert_eq!(run.stage("S"), RAN_OK, "{:#?}", run.log());
    assert_eq!(executor.spawned().len(), 3);
    assert!(
        run.has_line("try 1") && run.has_line("try 3"),
        "{:#?}",
        run.log()
    );
}

#[tokio::test(start_paused = true)]
async fn retry_gives_up_after_its_count() {
    let executor = Arc::new(FakeExecutor::new("/ws").on("broken", ScriptedProcess::new().exit(2)));
    let (run, _) = run_fake(&pipeline("retry(2) { sh './broken' }"), executor.clone()).await;
    assert_eq!(run.result(), BuildResult::Failure, "{:#?}", run.log());
    assert_eq!(executor.spawned().len(), 2);
}

/// A timeout inside a retry: the first attempt hangs and is cut off, the second succeeds.
#[tokio::test(start_paused = true)]
async fn retry_retries_an_expired_timeout() {
    let executor = Arc::new(FakeExecutor::new("/ws").on_each(
        "fetch",
        [ScriptedProcess::new().sleep(HOUR), ScriptedProcess::new()],
    ));
    let (run, took) = run_fake(
        &pipeline("retry(2) { timeout(time: 1, unit: 'MINUTES') { sh './fetch' } }"),
        executor.clone(),
    )
    .await;
    assert_eq!(run.stage("S"), RAN_OK, "{:#?}", run.log());
    assert_eq!(executor.spawned().len(), 2);
    assert_eq!(executor.kills().len(), 1);
    assert!((MINUTE..HOUR).contains(&took), "took {took:?}");
}

#[tokio::test(start_paused = true)]
async fn sleep_waits_in_virtual_time() {
    let executor = Arc::new(FakeExecutor::new("/ws").on("after", ScriptedProcess::new()));
    let (run, took) = run_fake(
        &pipeline("sleep(time: 2, unit: 'HOURS')\n                sh './after'"),
        executor.clone(),
    )
    .await;
    assert_eq!(run.stage("S"), RAN_OK, "{:#?}", run.log());
    assert!((2 * HOUR..3 * HOUR).contains(&took), "took {took:?}");
    assert_eq!(executor.spawned().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_stage_timeout_option_aborts_the_stage_and_skips_the_rest() {
    let executor =
        Arc::new(FakeExecutor::new("/ws").on("serve", ScriptedProcess::new().sleep(HOUR)));
    let (run, took) = run_fake(
        r#"
pipeline {
    agent any
    stages {
        stage('Slow') {
            options { timeout(time: 30, unit: 'SECONDS') }
            steps { sh './serve' }
        }
        stage('After') { steps { sh './never' } }
    }
}"#,
        executor.clone(),
    )
    .await;
    assert_eq!(
        run.stage("Slow"),
        StageOutcome::Ran(BuildResult::Aborted),
        "{:#?}",
        run.log()
    );
    assert_eq!(run.stage("After"), StageOutcome::SkippedAborted);
    assert_eq!(executor.spawned().len(), 1, "the next stage ran nothing");
    assert!(
        (Duration::from_secs(30)..HOUR).contains(&took),
        "took {took:?}"
    );
}
