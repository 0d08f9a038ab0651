//! Job properties a build computes (issue 10, item 5): a `cron` schedule and a
//! `buildDiscarder` count written as expressions are evaluated by the build, recorded for
//! the job, and then drive its timer and its retention, as Jenkins applies the properties
//! a build's `pipeline` block sets.

use crate::support::*;
use kiln_scheduler::ManualClock;
use kiln_store::Page;
use kiln_types::{BuildRef, BuildResult, JobName};
use std::sync::Arc;
use std::time::Duration;

/// 2026-01-01 00:00:30 UTC.
const START_MS: u64 = 1_767_225_630_000;

fn numbers(env: &Env, job: &str) -> Vec<u64> {
    let page = Page {
        before: None,
        limit: 100,
    };
    env.store
        .list_builds(&JobName::new(job).unwrap(), page)
        .unwrap()
        .iter()
        .map(|b| b.id.number)
        .collect()
}

const BRANCH_CRON: &str = "pipeline {
  agent any
  triggers { cron(env.BRANCH_NAME == 'main' ? '*/5 * * * *' : '') }
  stages {
    stage('A') { steps { echo \"on ${env.BRANCH_NAME}\" } }
  }
}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_the_build_computes_is_recorded_and_fires_on_its_branch_only() {
    let env = Env::new();
    let repo = env.repo("app", &[("Jenkinsfile", BRANCH_CRON)]);
    git(&repo, &["branch", "dev"]);
    let yaml = format!(
        "jobs:\n  - name: app-main\n    repo: file://{0}\n    branch: main\n  - name: app-dev\n    repo: file://{0}\n    branch: dev\n",
        repo.display()
    );
    let clock = Arc::new(ManualClock::new(START_MS));
    let h = env.start_with_clock(env.config(&yaml), clock.clone());
    // Before any build, the schedule is not known.
    assert!(h.job("app-main").unwrap().triggers.cron.is_empty());

    let main = h.trigger(user("app-main")).await.unwrap();
    let dev = h.trigger(user("app-dev")).await.unwrap();
    for id in [&main, &dev] {
        let b = env.finished(id).await;
        assert_eq!(b.result, Some(BuildResult::Success), "{}", env.log(id));
    }
    assert!(
        env.log(&main)
            .contains("Triggers set by this build: cron '*/5 * * * *'\n"),
        "{}",
        env.log(&main)
    );
    assert!(
        env.log(&dev).contains("Triggers set by this build: none\n"),
        "{}",
        env.log(&dev)
    );
    assert!(!env.log(&main).contains("no effect"), "{}", env.log(&main));
    let shown = env
        .until(|| {
            let cron = h.job("app-main").unwrap().triggers.cron;
            (!cron.is_empty()).then_some(cron)
        })
        .await;
    assert_eq!(shown, ["*/5 * * * *"]);
    assert!(h.job("app-dev").unwrap().triggers.cron.is_empty());
    // The job's stored record says what was set and by which build.
    let stored = env
        .until(|| {
            let job = env
                .store
                .get_job(&JobName::new("app-main").unwrap())
                .ok()??;
            job.meta.get("job_properties").cloned()
        })
        .await;
    assert!(stored.contains("\"build\":1"), "{stored}");
    assert!(stored.contains("*/5 * * * *"), "{stored}");

    settle(&h).await;
    clock.advance(Duration::from_secs(5 * 60));
    let timed = env
        .until(|| {
            (numbers(&env, "app-main").len() == 2).then(|| BuildRef {
                job: JobName::new("app-main").unwrap(),
                number: 2,
            })
        })
        .await;
    let b = env.finished(&timed).await;
    assert_eq!(b.cause, "Started by timer");
    settle(&h).await;
    assert_eq!(numbers(&env, "app-dev"), [1]);
    h.shutdown().await;

    // After a restart the recorded schedule is the job's again.
    let h = env.start_with_clock(env.config(&yaml), clock.clone());
    assert_eq!(h.job("app-main").unwrap().triggers.cron, ["*/5 * * * *"]);
    assert!(h.job("app-dev").unwrap().triggers.cron.is_empty());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retention_count_the_build_computes_prunes_old_builds() {
    let env = Env::new();
    let text = "def KEEP = 2\n\npipeline {\n  agent any\n  options { buildDiscarder(logRotator(numToKeepStr: \"${KEEP}\")) }\n  stages {\n    stage('A') { steps { echo 'kept?' } }\n  }\n}\n";
    let dir = env.dir("pruned", text);
    let h = env.start(env.config(&dir_job("pruned", &dir, "")));
    let mut last = None;
    for _ in 0..4 {
        let id = h.trigger(user("pruned")).await.unwrap();
        env.finished(&id).await;
        last = Some(id);
    }
    let last = last.unwrap();
    assert!(
        env.log(&last)
            .contains("Build discarder set by this build: numToKeepStr 2\n"),
        "{}",
        env.log(&last)
    );
    let kept = env
        .until(|| {
            let n = numbers(&env, "pruned");
            (n.len() == 2).then_some(n)
        })
        .await;
    assert_eq!(kept, [4, 3]);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_configured_retention_comes_before_a_computed_count() {
    let env = Env::new();
    let text = "pipeline {\n  agent any\n  options { buildDiscarder(logRotator(numToKeepStr: \"${1 + 0}\")) }\n  stages {\n    stage('A') { steps { echo 'x' } }\n  }\n}\n";
    let dir = env.dir("configured", text);
    let yaml = dir_job("configured", &dir, "    retention:\n      builds: 3\n");
    let h = env.start(env.config(&yaml));
    for _ in 0..4 {
        let id = h.trigger(user("configured")).await.unwrap();
        env.finished(&id).await;
    }
    let kept = env
        .until(|| {
            let n = numbers(&env, "configured");
            (n.len() == 3).then_some(n)
        })
        .await;
    assert_eq!(kept, [4, 3, 2]);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_library_named_by_an_expression_is_loaded_at_the_builds_branch() {
    let env = Env::new();
    let greet = |branch: &str| format!("fn call() {{\n    echo(`helpers of {branch}`);\n}}\n");
    let lib = env.repo("helpers", &[("vars/greet.rhai", &greet("main"))]);
    git(&lib, &["checkout", "--quiet", "-b", "dev"]);
    commit(&lib, &[("vars/greet.rhai", &greet("dev"))], "dev");
    let text = "pipeline {\n  agent any\n  libraries { lib(\"helpers@${env.BRANCH_NAME}\") }\n  stages {\n    stage('A') { steps { greet() } }\n  }\n}\n";
    let app = env.repo("app", &[("Jenkinsfile", text)]);
    git(&app, &["branch", "dev"]);
    let yaml = format!(
        "jobs:\n  - name: app\n    repo: file://{}\n    branch: '*'\nlibraries:\n  - name: helpers\n    repo: file://{}\n",
        app.display(),
        lib.display()
    );
    let h = env.start(env.config(&yaml));
    for branch in ["dev", "main"] {
        let id = h.trigger(user("app").branch(branch)).await.unwrap();
        let b = env.finished(&id).await;
        let log = env.log(&id);
        assert_eq!(b.result, Some(BuildResult::Success), "{log}");
        assert!(
            log.contains(&format!("Loading library helpers@{branch}")),
            "{log}"
        );
        assert!(log.contains(&format!("[A] helpers of {branch}\n")), "{log}");
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parameterized_cron_text_the_build_computes_fires_with_its_parameters() {
    let env = Env::new();
    let text = "def WHEN = '*/5 * * * *'\n\npipeline {\n  agent any\n  parameters { string(name: 'PLANET', defaultValue: 'Earth') }\n  triggers { parameterizedCron(\"${WHEN} %PLANET=Venus\") }\n  stages {\n    stage('A') { steps { echo \"to ${params.PLANET}\" }\n    }\n  }\n}\n";
    let dir = env.dir("venus", text);
    let clock = Arc::new(ManualClock::new(START_MS));
    let h = env.start_with_clock(env.config(&dir_job("venus", &dir, "")), clock.clone());
    let first = h.trigger(user("venus")).await.unwrap();
    let b = env.finished(&first).await;
    assert_eq!(b.result, Some(BuildResult::Success), "{}", env.log(&first));
    assert!(
        env.log(&first).contains(
            "Triggers set by this build: parameterizedCron '*/5 * * * * %PLANET=Venus'\n"
        ),
        "{}",
        env.log(&first)
    );
    assert!(
        env.log(&first).contains("[A] to Earth\n"),
        "{}",
        env.log(&first)
    );
    env.until(|| (!h.job("venus").unwrap().triggers.cron.is_empty()).then_some(()))
        .await;
    settle(&h).await;
    clock.advance(Duration::from_secs(5 * 60));
    let timed = env
        .until(|| {
            (numbers(&env, "venus").len() == 2).then(|| BuildRef {
                job: JobName::new("venus").unwrap(),
                number: 2,
            })
        })
        .await;
    let b = env.finished(&timed).await;
    assert_eq!(b.cause, "Started by timer with parameters: {PLANET=Venus}");
    assert!(
        env.log(&timed).contains("[A] to Venus\n"),
        "{}",
        env.log(&timed)
    );
    h.shutdown().await;
}

/// A scripted pipeline setting its job's timer and parameters with `properties([...])`.
const SCRIPTED_PROPERTIES: &str = "properties([
  pipelineTriggers([cron('*/5 * * * *')]),
  parameters([string(name: 'WHO', defaultValue: 'world'), choice(name: 'TARGET', choices: ['dev', 'prod'])]),
  disableResume()
])
node {
  stage('A') { echo \"hello ${params.WHO} on ${params.TARGET}\" }
}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_and_parameters_set_by_a_properties_step_fire_and_fill_the_next_builds() {
    let env = Env::new();
    let dir = env.dir("scripted", SCRIPTED_PROPERTIES);
    let clock = Arc::new(ManualClock::new(START_MS));
    let h = env.start_with_clock(env.config(&dir_job("scripted", &dir, "")), clock.clone());
    let first = h.trigger(user("scripted")).await.unwrap();
    let b = env.finished(&first).await;
    let log = env.log(&first);
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    // The build that sets the parameters runs without them, as in Jenkins.
    assert!(log.contains("[A] hello null on null\n"), "{log}");
    assert!(
        log.contains("Job properties set by this build (they replace the job's earlier ones): cron '*/5 * * * *'; parameters WHO, TARGET\n"),
        "{log}"
    );
    assert!(
        log.contains("properties: kiln does not act on `disableResume`\n"),
        "{log}"
    );
    let job = env
        .until(|| {
            let job = h.job("scripted").unwrap();
            (!job.triggers.cron.is_empty()).then_some(job)
        })
        .await;
    assert_eq!(job.triggers.cron, ["*/5 * * * *"]);
    let shown: Vec<(String, String)> = job
        .parameters
        .iter()
        .map(|p| (p.name.clone(), p.default.clone()))
        .collect();
    assert_eq!(
        shown,
        [
            ("WHO".into(), "world".into()),
            ("TARGET".into(), "dev".into())
        ]
    );

    // The timer fires; the build gets the parameters' defaults.
    settle(&h).await;
    clock.advance(Duration::from_secs(5 * 60));
    let timed = env
        .until(|| {
            (numbers(&env, "scripted").len() == 2).then(|| BuildRef {
                job: JobName::new("scripted").unwrap(),
                number: 2,
            })
        })
        .await;
    let b = env.finished(&timed).await;
    assert_eq!(b.cause, "Started by timer");
    assert!(
        env.log(&timed).contains("[A] hello world on dev\n"),
        "{}",
        env.log(&timed)
    );

    // Given values are checked against the choices, and used.
    let given = user("scripted")
        .param("WHO", "kiln")
        .param("TARGET", "prod");
    let id = h.trigger(given).await.unwrap();
    env.finished(&id).await;
    assert!(
        env.log(&id).contains("[A] hello kiln on prod\n"),
        "{}",
        env.log(&id)
    );
    let wrong = h
        .trigger(user("scripted").param("TARGET", "staging"))
        .await
        .unwrap_err();
    assert!(wrong.to_string().contains("staging"), "{wrong}");
    h.shutdown().await;

    // The record survives a restart.
    let h = env.start_with_clock(env.config(&dir_job("scripted", &dir, "")), clock.clone());
    assert_eq!(h.job("scripted").unwrap().triggers.cron, ["*/5 * * * *"]);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_computed_schedule_is_recorded_when_the_build_starts_even_if_it_then_fails() {
    let env = Env::new();
    let gate = Gate::new(&env, "held");
    let text = format!(
        "def EVERY = 5\n\npipeline {{\n  agent any\n  triggers {{ cron(\"*/${{EVERY}} * * * *\") }}\n  stages {{\n    stage('A') {{ steps {{\n      {}\n      error 'boom'\n    }} }}\n  }}\n}}\n",
        gate.step()
    );
    let dir = env.dir("failing", &text);
    let h = env.start(env.config(&dir_job("failing", &dir, "")));
    let id = h.trigger(user("failing")).await.unwrap();
    // Recorded while the build still runs (held at the gate).
    let cron = env
        .until(|| {
            let cron = h.job("failing").unwrap().triggers.cron;
            (!cron.is_empty()).then_some(cron)
        })
        .await;
    assert_eq!(cron, ["*/5 * * * *"]);
    assert_eq!(status(&env, &id), kiln_store::BuildStatus::Running);
    gate.open();
    let b = env.finished(&id).await;
    assert_eq!(b.result, Some(BuildResult::Failure), "{}", env.log(&id));
    settle(&h).await;
    assert_eq!(h.job("failing").unwrap().triggers.cron, ["*/5 * * * *"]);
    let stored = env
        .store
        .get_job(&JobName::new("failing").unwrap())
        .unwrap()
        .unwrap();
    assert!(
        stored.meta["job_properties"].contains("*/5 * * * *"),
        "{:?}",
        stored.meta
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_and_retention_set_by_a_properties_step_act_on_the_next_builds() {
    let env = Env::new();
    let gate = Gate::new(&env, "one");
    let text = format!(
        "properties([disableConcurrentBuilds(), buildDiscarder(logRotator(numToKeepStr: '2'))])\nnode {{\n  stage('A') {{ {} }}\n}}\n",
        gate.step()
    );
    let dir = env.dir("one", &text);
    let h = env.start(env.config(&dir_job("one", &dir, "    concurrency: 2\n")));
    assert_eq!(h.job("one").unwrap().concurrency, 2);
    gate.open();
    let first = h.trigger(user("one")).await.unwrap();
    env.finished(&first).await;
    env.until(|| (h.job("one").unwrap().concurrency == 1).then_some(()))
        .await;
    std::fs::remove_file(&gate.0).unwrap();
    let second = h.trigger(user("one")).await.unwrap();
    let third = h.trigger(user("one")).await.unwrap();
    env.until(|| (status(&env, &second) == kiln_store::BuildStatus::Running).then_some(()))
        .await;
    gate.open();
    let (b2, b3) = (env.finished(&second).await, env.finished(&third).await);
    // One at a time: the third started once the second had finished.
    assert!(
        b3.started_at_ms.unwrap() >= b2.finished_at_ms.unwrap(),
        "{b2:?}\n{b3:?}"
    );
    let kept = env
        .until(|| {
            let n = numbers(&env, "one");
            (n.len() == 2).then_some(n)
        })
        .await;
    assert_eq!(kept, [3, 2]);
    h.shutdown().await;
}

/// A declarative pipeline with its own timer whose stage calls `properties([...])` after
/// the pipeline applied its properties, as a `script { }` block does.
fn stage_properties(list: &str) -> String {
    format!(
        "pipeline {{
  agent any
  triggers {{ cron('*/5 * * * *') }}
  stages {{
    stage('A') {{
      steps {{
        script {{ properties([{list}]) }}
        echo 'ran'
      }}
    }}
  }}
}}
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_properties_step_in_a_stage_replaces_the_kinds_it_lists_and_keeps_the_others() {
    let env = Env::new();
    let text = stage_properties("pipelineTriggers([cron('*/10 * * * *')])");
    let dir = env.dir("staged", &text);
    let clock = Arc::new(ManualClock::new(START_MS));
    let h = env.start_with_clock(env.config(&dir_job("staged", &dir, "")), clock.clone());
    let first = h.trigger(user("staged")).await.unwrap();
    env.finished(&first).await;
    let log = env.log(&first);
    assert!(
        log.contains("[A] properties: run after the pipeline applied its own, this replaces the pipeline's triggers for the job\n"),
        "{log}"
    );
    // As in Jenkins, the step's trigger list is the job's: the pipeline's `cron` is gone.
    let job = env
        .until(|| {
            let job = h.job("staged").unwrap();
            (job.triggers.cron != ["*/5 * * * *"]).then_some(job)
        })
        .await;
    assert_eq!(job.triggers.cron, ["*/10 * * * *"]);
    // 00:05:30 passes without a build; 00:10:30 starts the step's.
    settle(&h).await;
    clock.advance(Duration::from_secs(5 * 60));
    settle(&h).await;
    clock.advance(Duration::from_secs(5 * 60));
    let timed = env
        .until(|| {
            (numbers(&env, "staged").len() >= 2).then(|| BuildRef {
                job: JobName::new("staged").unwrap(),
                number: 2,
            })
        })
        .await;
    assert_eq!(env.finished(&timed).await.cause, "Started by timer");
    settle(&h).await;
    assert_eq!(numbers(&env, "staged"), [2, 1]);
    h.shutdown().await;

    // A list without `pipelineTriggers` leaves the pipeline's timer to the job.
    std::fs::write(
        dir.join("Jenkinsfile"),
        stage_properties("disableConcurrentBuilds()"),
    )
    .unwrap();
    let config = env.config(&dir_job("staged", &dir, "    concurrency: 2\n"));
    let h = env.start_with_clock(config, clock.clone());
    let third = h.trigger(user("staged")).await.unwrap();
    env.finished(&third).await;
    let job = env
        .until(|| {
            let job = h.job("staged").unwrap();
            (job.concurrency == 1).then_some(job)
        })
        .await;
    assert_eq!(job.triggers.cron, ["*/5 * * * *"]);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipelines_own_directives_win_over_a_properties_step_above_it_kind_by_kind() {
    let env = Env::new();
    let text = "properties([
  pipelineTriggers([cron('*/10 * * * *'), pollSCM('H/15 * * * *')]),
  buildDiscarder(logRotator(numToKeepStr: '9'))
])
pipeline {
  agent any
  triggers { cron('*/5 * * * *') }
  options { buildDiscarder(logRotator(numToKeepStr: '1')) }
  stages {
    stage('A') { steps { echo 'ran' } }
  }
}
";
    let dir = env.dir("above", text);
    let h = env.start(env.config(&dir_job("above", &dir, "")));
    let first = h.trigger(user("above")).await.unwrap();
    env.finished(&first).await;
    let log = env.log(&first);
    assert!(
        log.contains("properties: the pipeline's own directives replace what `properties` set for: cron, buildDiscarder\n"),
        "{log}"
    );
    // The step's `pollSCM` stays; its `cron` and discarder give way to the pipeline's.
    let job = env
        .until(|| {
            let job = h.job("above").unwrap();
            (!job.triggers.poll.is_empty()).then_some(job)
        })
        .await;
    assert_eq!(job.triggers.cron, ["*/5 * * * *"]);
    assert_eq!(job.triggers.poll, ["H/15 * * * *"]);
    let second = h.trigger(user("above")).await.unwrap();
    env.finished(&second).await;
    let kept = env
        .until(|| {
            let n = numbers(&env, "above");
            (n.len() == 1).then_some(n)
        })
        .await;
    assert_eq!(kept, [2]);
    h.shutdown().await;
}
