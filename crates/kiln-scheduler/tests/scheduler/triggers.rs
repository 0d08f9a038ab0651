//! Automatic triggers: cron (from the configuration and the pipeline), polling, upstream.

use crate::support::*;
use kiln_scheduler::{ManualClock, TriggerError};
use kiln_store::Page;
use kiln_types::{BuildRef, BuildResult, JobName};
use std::sync::Arc;
use std::time::Duration;

/// 2026-01-01 00:00:30 UTC.
const START_MS: u64 = 1_767_225_630_000;

fn builds(env: &Env, job: &str) -> Vec<kiln_store::BuildRecord> {
    let page = Page {
        before: None,
        limit: 100,
    };
    env.store
        .list_builds(&JobName::new(job).unwrap(), page)
        .unwrap()
}

fn build_ref(job: &str, number: u64) -> BuildRef {
    BuildRef {
        job: JobName::new(job).unwrap(),
        number,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_cron_schedule_triggers_builds_as_the_clock_moves() {
    let env = Env::new();
    let dir = env.dir("nightly", &pipeline("echo 'tick'"));
    let clock = Arc::new(ManualClock::new(START_MS));
    let yaml = dir_job(
        "nightly",
        &dir,
        "    triggers:\n      cron: '*/5 * * * *'\n",
    );
    let h = env.start_with_clock(env.config(&yaml), clock.clone());
    assert_eq!(h.job("nightly").unwrap().triggers.cron, ["*/5 * * * *"]);
    settle(&h).await;
    assert!(builds(&env, "nightly").is_empty());
    clock.advance(Duration::from_secs(5 * 60));
    let b = env
        .finished(
            &env.until(|| builds(&env, "nightly").first().map(|b| b.id.clone()))
                .await,
        )
        .await;
    assert_eq!(b.cause, "Started by timer");
    assert_eq!(b.result, Some(BuildResult::Success));
    clock.advance(Duration::from_secs(5 * 60));
    env.finished(
        &env.until(|| (builds(&env, "nightly").len() == 2).then(|| build_ref("nightly", 2)))
            .await,
    )
    .await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipelines_own_cron_trigger_is_scheduled() {
    let env = Env::new();
    let text = "pipeline {\n  agent any\n  triggers { cron('0 * * * *') }\n  stages {\n    stage('A') { steps { echo 'hourly' } }\n  }\n}\n";
    let dir = env.dir("hourly", text);
    let clock = Arc::new(ManualClock::new(START_MS));
    let h = env.start_with_clock(env.config(&dir_job("hourly", &dir, "")), clock.clone());
    // The scheduler reads every job's pipeline at start.
    env.until(|| (!h.job("hourly").unwrap().triggers.cron.is_empty()).then_some(()))
        .await;
    settle(&h).await;
    clock.advance(Duration::from_secs(3600));
    let id = env
        .until(|| builds(&env, "hourly").first().map(|b| b.id.clone()))
        .await;
    let b = env.finished(&id).await;
    assert_eq!(b.cause, "Started by timer");
    assert!(env.log(&id).contains("[A] hourly\n"));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_builds_when_the_branch_moves() {
    let env = Env::new();
    let repo = env.repo(
        "polled",
        &[
            ("Jenkinsfile", &pipeline("sh 'cat v.txt'")),
            ("v.txt", "one\n"),
        ],
    );
    let clock = Arc::new(ManualClock::new(START_MS));
    let yaml = format!(
        "jobs:\n  - name: polled\n    repo: {}\n    triggers:\n      poll: '* * * * *'\n",
        repo.display()
    );
    let h = env.start_with_clock(env.config(&yaml), clock.clone());
    settle(&h).await;
    // The first poll has nothing to compare with: it builds, as Jenkins does.
    clock.advance(Duration::from_secs(60));
    let first = env
        .finished(
            &env.until(|| builds(&env, "polled").first().map(|b| b.id.clone()))
                .await,
        )
        .await;
    assert_eq!(first.cause, "Started by an SCM change");
    let job = JobName::new("polled").unwrap();
    let head1 = git(&repo, &["rev-parse", "HEAD"]);
    assert_eq!(first.commit.as_deref(), Some(head1.as_str()));
    env.until(|| (h.stats().polls_completed == 1).then_some(()))
        .await;
    // Nothing moved: the poll remembers the commit and builds nothing.
    clock.advance(Duration::from_secs(60));
    env.until(|| (h.stats().polls_completed == 2).then_some(()))
        .await;
    let rec = env.store.get_job(&job).unwrap().unwrap();
    assert_eq!(rec.meta.get("poll:main"), Some(&head1));
    assert_eq!(builds(&env, "polled").len(), 1);
    let head2 = commit(&repo, &[("v.txt", "two\n")], "second");
    clock.advance(Duration::from_secs(60));
    let id = env
        .until(|| (builds(&env, "polled").len() == 2).then(|| build_ref("polled", 2)))
        .await;
    let second = env.finished(&id).await;
    assert_eq!(second.commit.as_deref(), Some(head2.as_str()));
    assert!(env.log(&id).contains("[Build] two\n"), "{}", env.log(&id));
    env.until(|| (h.stats().polls_completed == 3).then_some(()))
        .await;
    let all: Vec<_> = builds(&env, "polled")
        .into_iter()
        .map(|b| (b.id.number, b.cause, b.commit))
        .collect();
    assert_eq!(all.len(), 2, "{all:?}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_upstream_build_triggers_downstream_jobs() {
    let env = Env::new();
    let lib = env.dir("lib", &pipeline("sh 'exit ${FAIL:-0}'"));
    let lib_text = "pipeline {\n  agent any\n  parameters { string(name: 'FAIL', defaultValue: '0') }\n  stages {\n    stage('Build') { steps { sh 'exit $FAIL' } }\n  }\n}\n";
    std::fs::write(lib.join("Jenkinsfile"), lib_text).unwrap();
    let app = env.dir("app", &pipeline("echo 'app'"));
    let tolerant_text = "pipeline {\n  agent any\n  triggers { upstream(upstreamProjects: 'lib', threshold: hudson.model.Result.FAILURE) }\n  stages {\n    stage('A') { steps { echo 'tolerant' } }\n  }\n}\n";
    let tolerant = env.dir("tolerant", tolerant_text);
    let yaml = format!(
        "jobs:\n  - name: lib\n    dir: {}\n  - name: app\n    dir: {}\n    triggers:\n      upstream: [lib]\n  - name: tolerant\n    dir: {}\n",
        lib.display(),
        app.display(),
        tolerant.display()
    );
    let h = env.start(env.config(&yaml));
    env.until(|| (!h.job("tolerant").unwrap().triggers.upstream.is_empty()).then_some(()))
        .await;
    let up = h.trigger(user("lib")).await.unwrap();
    assert_eq!(env.finished(&up).await.result, Some(BuildResult::Success));
    let app1 = env
        .finished(
            &env.until(|| builds(&env, "app").first().map(|b| b.id.clone()))
                .await,
        )
        .await;
    assert_eq!(app1.cause, "Started by upstream project lib build number 1");
    let tol1 = env
        .finished(
            &env.until(|| builds(&env, "tolerant").first().map(|b| b.id.clone()))
                .await,
        )
        .await;
    assert_eq!(tol1.cause, "Started by upstream project lib build number 1");
    // A failed upstream build triggers only the job whose threshold allows failures.
    let failed = h.trigger(user("lib").param("FAIL", "1")).await.unwrap();
    assert_eq!(
        env.finished(&failed).await.result,
        Some(BuildResult::Failure)
    );
    env.finished(
        &env.until(|| (builds(&env, "tolerant").len() == 2).then(|| build_ref("tolerant", 2)))
            .await,
    )
    .await;
    settle(&h).await;
    assert_eq!(builds(&env, "app").len(), 1);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_jobs_and_bad_parameters_are_refused() {
    let env = Env::new();
    let text = "pipeline {\n  agent any\n  parameters {\n    string(name: 'WHO', defaultValue: 'world')\n    booleanParam(name: 'LOUD', defaultValue: false)\n    choice(name: 'ENV', choices: ['dev', 'prod'])\n  }\n  stages {\n    stage('Hi') { steps { echo \"hello ${params.WHO} ${params.ENV} ${params.LOUD}\" } }\n  }\n}\n";
    let dir = env.dir("hi", text);
    let yaml = dir_job("hi", &dir, "    parameters:\n      WHO: config\n");
    let h = env.start(env.config(&yaml));
    assert!(matches!(
        h.trigger(user("nope")).await,
        Err(TriggerError::UnknownJob(_))
    ));
    let bad = h
        .trigger(
            user("hi")
                .param("LOUD", "maybe")
                .param("ENV", "qa")
                .param("X", "1"),
        )
        .await;
    let Err(TriggerError::InvalidParams(problems)) = bad else {
        panic!("expected invalid parameters, got {bad:?}");
    };
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(builds(&env, "hi").is_empty(), "nothing was queued");
    let view = h.job("hi").unwrap();
    let names: Vec<&str> = view.parameters.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["WHO", "LOUD", "ENV"]);
    assert_eq!(view.parameters[0].default, "config");
    assert_eq!(view.parameters[2].choices, ["dev", "prod"]);
    let id = h.trigger(user("hi").param("ENV", "prod")).await.unwrap();
    let b = env.finished(&id).await;
    assert_eq!(b.result, Some(BuildResult::Success), "{}", env.log(&id));
    assert!(
        env.log(&id).contains("[Hi] hello config prod false\n"),
        "{}",
        env.log(&id)
    );
    assert_eq!(b.params.get("ENV").map(String::as_str), Some("prod"));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggers_during_the_quiet_period_join_the_waiting_build() {
    let env = Env::new();
    let dir = env.dir("quiet", &pipeline("echo 'once'"));
    let clock = Arc::new(ManualClock::new(START_MS));
    let yaml = dir_job("quiet", &dir, "    quiet_period_secs: 30\n");
    let h = env.start_with_clock(env.config(&yaml), clock.clone());
    let first = h.trigger(user("quiet")).await.unwrap();
    let again = h.trigger(user("quiet")).await.unwrap();
    assert_eq!(first, again);
    let other = h.trigger(user("quiet").param("X", "1")).await;
    assert!(other.is_err(), "parameters are still checked");
    settle(&h).await;
    assert_eq!(status(&env, &first), kiln_store::BuildStatus::Queued);
    clock.advance(Duration::from_secs(30));
    assert_eq!(
        env.finished(&first).await.result,
        Some(BuildResult::Success)
    );
    assert_eq!(builds(&env, "quiet").len(), 1);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_credentials_are_bound_and_masked() {
    let env = Env::new();
    let steps = "withCredentials([string(credentialsId: 'token', variable: 'T')]) {\n          sh 'echo token=$T; echo ${#T} chars'\n        }";
    let dir = env.dir("creds", &pipeline(steps));
    let yaml = format!(
        "{}credentials:\n  - id: token\n    secret: s3cr3t-value\n",
        dir_job("creds", &dir, "")
    );
    let h = env.start(env.config(&yaml));
    let id = h.trigger(user("creds")).await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    assert!(log.contains("[Build] 12 chars\n"), "{log}");
    assert!(!log.contains("s3cr3t-value"), "{log}");
    h.shutdown().await;
}

const PARAM_CRON: &str = "pipeline {
  agent any
  parameters {
    string(name: 'PLANET', defaultValue: 'Earth')
    string(name: 'GREETING', defaultValue: 'Hello')
  }
  triggers {
    parameterizedCron('''
      # each line: a schedule, then its parameters
      0 * * * * %GREETING=Hola;PLANET=Pluto
      30 * * * * % PLANET=Mars
    ''')
  }
  stages {
    stage('A') { steps { echo \"${params.GREETING} ${params.PLANET}\" } }
  }
}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_parameterized_cron_line_starts_a_build_with_its_parameters() {
    let env = Env::new();
    let dir = env.dir("greet", PARAM_CRON);
    let clock = Arc::new(ManualClock::new(START_MS));
    let h = env.start_with_clock(env.config(&dir_job("greet", &dir, "")), clock.clone());
    env.until(|| (h.job("greet").unwrap().triggers.cron.len() == 1).then_some(()))
        .await;
    settle(&h).await;
    // 00:30: only the second line is due; GREETING keeps its default.
    clock.advance(Duration::from_secs(30 * 60));
    let id = env
        .until(|| builds(&env, "greet").first().map(|b| b.id.clone()))
        .await;
    let b = env.finished(&id).await;
    assert_eq!(b.cause, "Started by timer with parameters: {PLANET=Mars}");
    assert_eq!(b.result, Some(BuildResult::Success), "{}", env.log(&id));
    assert!(
        env.log(&id).contains("[A] Hello Mars\n"),
        "{}",
        env.log(&id)
    );
    settle(&h).await;
    // 01:00: the first line.
    clock.advance(Duration::from_secs(30 * 60));
    let id = env
        .until(|| (builds(&env, "greet").len() == 2).then(|| build_ref("greet", 2)))
        .await;
    let b = env.finished(&id).await;
    assert_eq!(
        b.cause,
        "Started by timer with parameters: {GREETING=Hola, PLANET=Pluto}"
    );
    assert!(
        env.log(&id).contains("[A] Hola Pluto\n"),
        "{}",
        env.log(&id)
    );
    assert!(!env.log(&id).contains("no effect"), "{}", env.log(&id));
    settle(&h).await;
    assert_eq!(builds(&env, "greet").len(), 2);
    h.shutdown().await;
}
