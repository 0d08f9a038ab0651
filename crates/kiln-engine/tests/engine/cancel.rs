use crate::harness::{run_with, setup, wait_for_file};
use kiln_engine::{BuildResult, StageOutcome};

#[tokio::test]
async fn cancellation_aborts_and_runs_the_right_posts() {
    let setup = setup();
    let cancel = setup.cancel.clone();
    let started = setup.workspace().join("started");
    let canceller = tokio::spawn(async move {
        wait_for_file(&started).await;
        cancel.cancel();
    });
    let run = run_with(
        r#"
pipeline {
    agent any
    stages {
        stage('Long') {
            steps { sh 'touch started; sleep 100' }
            post { aborted { echo 'stage aborted' } }
        }
        stage('Later') { steps { echo 'never' } }
    }
    post {
        always { sh 'echo always ran' }
        aborted { echo 'aborted ran' }
        failure { echo 'failure ran' }
        success { echo 'success ran' }
        cleanup { echo 'cleanup ran' }
    }
}"#,
        setup,
    )
    .await;
    canceller.await.expect("canceller");
    assert_eq!(run.result(), BuildResult::Aborted);
    assert_eq!(run.stage("Long"), StageOutcome::Ran(BuildResult::Aborted));
    assert_eq!(run.stage("Later"), StageOutcome::SkippedAborted);
    for line in ["stage aborted", "always ran", "aborted ran", "cleanup ran"] {
        assert!(run.has_line(line), "{line}: {:#?}", run.log());
    }
    assert!(!run.has_line("failure ran") && !run.has_line("success ran") && !run.has_line("never"));
}
