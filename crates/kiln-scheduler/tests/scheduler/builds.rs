//! Builds from trigger to `Finished: RESULT`.

use crate::support::*;
use kiln_store::StageState;
use kiln_types::{BuildResult, StageOutcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dir_job_runs_and_its_log_ends_with_finished_success() {
    let env = Env::new();
    let dir = env.dir("hello", &pipeline("sh 'echo hello from kiln'"));
    let h = env.start(env.config(&dir_job("hello", &dir, "")));
    let id = h.trigger(user("hello")).await.unwrap();
    assert_eq!(id.to_string(), "hello#1");
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    assert!(log.starts_with("Started by user alice\n"), "{log}");
    assert!(log.contains("[Build] hello from kiln\n"), "{log}");
    assert!(log.ends_with("Finished: SUCCESS\n"), "{log}");
    assert_eq!(b.stages.len(), 1);
    assert_eq!(b.stages[0].path, ["Build"]);
    assert_eq!(
        b.stages[0].state,
        StageState::Done(StageOutcome::Ran(BuildResult::Success))
    );
    assert!(b.started_at_ms.is_some() && b.finished_at_ms.is_some());
    assert_eq!(b.commit, None, "a plain directory has no commit");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_git_directory_is_checked_out_at_its_head_into_the_job_workspace() {
    let env = Env::new();
    let dir = env.repo(
        "app",
        &[
            (
                "Jenkinsfile",
                &pipeline("sh 'cat version.txt; git rev-parse HEAD'"),
            ),
            ("version.txt", "v1\n"),
        ],
    );
    let head = git(&dir, &["rev-parse", "HEAD"]);
    let h = env.start(env.config(&dir_job("app", &dir, "")));
    let id = h.trigger(user("app")).await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    assert_eq!(b.commit.as_deref(), Some(head.as_str()));
    assert_eq!(b.branch.as_deref(), Some("main"));
    assert!(
        log.starts_with("Started by user alice\n> git init"),
        "{log}"
    );
    assert!(log.contains("[Build] v1\n"), "{log}");
    assert!(log.contains(&format!("[Build] {head}\n")), "{log}");
    assert!(env.data.join("workspaces/app/version.txt").is_file());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_step_fails_the_build() {
    let env = Env::new();
    let dir = env.dir("bad", &pipeline("sh 'echo before; exit 3'"));
    let h = env.start(env.config(&dir_job("bad", &dir, "")));
    let id = h.trigger(user("bad")).await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Failure), "{log}");
    assert!(log.contains("[Build] before\n"), "{log}");
    assert!(log.ends_with("Finished: FAILURE\n"), "{log}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_jenkinsfile_fails_with_its_diagnostics_in_the_log() {
    let env = Env::new();
    let dir = env.dir(
        "typo",
        "pipeline {\n  agent any\n  stagess {\n    stage('A') { steps { echo 'x' } }\n  }\n}\n",
    );
    let h = env.start(env.config(&dir_job("typo", &dir, "")));
    let id = h.trigger(user("typo")).await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Failure), "{log}");
    assert!(log.contains("error"), "{log}");
    assert!(log.contains("stagess"), "{log}");
    assert!(log.contains("Jenkinsfile:3:3"), "{log}");
    assert!(log.ends_with("Finished: FAILURE\n"), "{log}");
    assert!(h.job("typo").unwrap().pipeline_error.is_some());
    h.shutdown().await;
}
