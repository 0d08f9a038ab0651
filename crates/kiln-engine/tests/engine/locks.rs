//! `options { lock(..., skipIfLocked: true) }`: with the resource held by another build, the
//! pipeline's stages or the stage are skipped at once, as the Lockable Resources plugin skips
//! the block, and the build goes on.

use crate::harness::{RAN_OK, run_with, setup};
use async_trait::async_trait;
use kiln_engine::{
    BuildId, BuildResult, Coordinator, JobRequest, LockAttempt, LockGuard, LockRequest,
    MilestoneOutcome, StageOutcome, StartedJob,
};
use std::sync::Arc;

/// Another build holds `db` for ever; every other resource is free. A request that has to
/// wait cancels `on_wait` (the build's token, when a test wants it aborted there).
#[derive(Default)]
struct DbTaken {
    on_wait: Option<tokio_util::sync::CancellationToken>,
}

#[async_trait]
impl Coordinator for DbTaken {
    fn lock(&self, req: LockRequest) -> Result<LockAttempt, String> {
        if req.resources.iter().any(|r| r == "db") {
            if let Some(token) = &self.on_wait {
                token.cancel();
            }
            let holder = BuildId {
                job: "other".to_owned(),
                number: 3,
            };
            return Ok(LockAttempt::Waiting {
                held_by: vec![("db".to_owned(), holder)],
                granted: Box::pin(std::future::pending()),
            });
        }
        Ok(LockAttempt::Held(LockGuard::new(
            req.resources,
            Box::new(()),
        )))
    }

    async fn start_job(&self, req: JobRequest) -> Result<StartedJob, String> {
        Err(format!("no job {}", req.job))
    }

    fn milestone(&self, _ordinal: u32) -> MilestoneOutcome {
        MilestoneOutcome::Passed
    }
}

fn db_taken() -> crate::harness::Setup {
    let mut s = setup();
    s.spec.coordinator = Arc::new(DbTaken::default());
    s
}

#[tokio::test]
async fn a_stage_lock_option_with_skip_if_locked_skips_the_stage() {
    let run = run_with(
        r#"
pipeline {
    agent any
    stages {
        stage('Migrate') {
            options { lock(resource: 'db', skipIfLocked: true) }
            stages {
                stage('Inner') { steps { echo 'never printed' } }
            }
        }
        stage('Free') {
            options { lock(resource: 'queue', skipIfLocked: true, variable: 'HELD') }
            steps { echo "holding ${env.HELD}" }
        }
    }
}"#,
        db_taken(),
    )
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    assert_eq!(run.stage("Migrate"), StageOutcome::SkippedLocked);
    assert_eq!(run.stage("Inner"), StageOutcome::SkippedLocked);
    assert_eq!(run.stage("Free"), RAN_OK);
    assert!(
        run.has_line("[db] is locked, skipping execution..."),
        "{:#?}",
        run.log()
    );
    assert!(!run.has_line("never printed"));
    assert!(run.has_line("holding queue"), "{:#?}", run.log());
    assert!(run.has_line("Lock released on resource [queue]"));
}

#[tokio::test]
async fn a_pipeline_lock_option_with_skip_if_locked_skips_every_stage_but_runs_post() {
    let run = run_with(
        r#"
pipeline {
    agent any
    options { lock(resource: 'db', skipIfLocked: true) }
    stages {
        stage('One') { steps { echo 'never printed' } }
        stage('Two') { steps { echo 'never printed' } }
    }
    post { always { echo 'post ran' } }
}"#,
        db_taken(),
    )
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    assert_eq!(run.stage("One"), StageOutcome::SkippedLocked);
    assert_eq!(run.stage("Two"), StageOutcome::SkippedLocked);
    assert!(
        run.has_line("[db] is locked, skipping execution..."),
        "{:#?}",
        run.log()
    );
    assert!(!run.has_line("never printed"));
    assert!(run.has_line("post ran"));
}

/// Without `skipIfLocked`, the same option waits (for ever here: the build is aborted while
/// it waits).
#[tokio::test]
async fn a_lock_option_without_skip_if_locked_waits_for_the_holder() {
    let mut setup = setup();
    setup.spec.coordinator = Arc::new(DbTaken {
        on_wait: Some(setup.cancel.clone()),
    });
    let run = run_with(
        r#"
pipeline {
    agent any
    stages {
        stage('Migrate') {
            options { lock('db') }
            steps { echo 'never printed' }
        }
    }
}"#,
        setup,
    )
    .await;
    assert_eq!(run.result(), BuildResult::Aborted, "{:#?}", run.log());
    assert!(
        run.has_line("Waiting for lock db, held by other#3"),
        "{:#?}",
        run.log()
    );
    assert!(!run.has_line("never printed"));
}
