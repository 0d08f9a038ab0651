//! The step that failed a stage is recorded with the stage, where the step failed (not read
//! back from the log).

use crate::harness::{Creds, Run, run, run_with, setup};
use kiln_engine::{BuildEvent, BuildResult, Credential, FailedStep};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The failed step of each stage (by its path), from the summary.
fn failed(run: &Run) -> Vec<(String, Option<FailedStep>)> {
    run.summary
        .stages
        .iter()
        .map(|s| (s.path.join("/"), s.failed_step.clone()))
        .collect()
}

fn step(name: &str, label: Option<&str>, message: &str) -> Option<FailedStep> {
    Some(FailedStep {
        step: name.to_owned(),
        label: label.map(str::to_owned),
        message: message.to_owned(),
    })
}

#[tokio::test]
async fn the_innermost_failed_step_is_recorded_with_its_stage() {
    let run = run(r#"
pipeline {
    agent any
    stages {
        stage('Build') { steps { echo 'ok' } }
        stage('Checks') {
            stages {
                stage('Test') {
                    steps {
                        echo 'before'
                        dir('sub') {
                            sh '''
                                echo checking
                                exit 2
                            '''
                        }
                    }
                }
            }
        }
        stage('Deploy') { steps { echo 'never' } }
    }
}"#)
    .await;
    assert_eq!(run.result(), BuildResult::Failure);
    let sh = step("sh", Some("echo checking…"), "script returned exit code 2");
    assert_eq!(
        failed(&run),
        [
            ("Build".to_owned(), None),
            ("Checks".to_owned(), None),
            ("Checks/Test".to_owned(), sh.clone()),
            ("Deploy".to_owned(), None),
        ]
    );
    let in_event = run.events.iter().find_map(|e| match e {
        BuildEvent::StageFinished {
            failed_step: Some(f),
            ..
        } => Some(f.clone()),
        _ => None,
    });
    assert_eq!(in_event, sh, "the stage's end event carries it");
    assert_eq!(
        sh.map(|f| f.describe()).as_deref(),
        Some("step `sh 'echo checking…'`: script returned exit code 2")
    );
}

#[tokio::test]
async fn steps_called_from_scripts_and_error_are_named_too() {
    let scripted = run(r#"
pipeline {
    agent any
    stages {
        stage('Scripted') {
            steps { script { def code = 4; sh "exit ${code}" } }
        }
    }
}"#)
    .await;
    assert_eq!(
        failed(&scripted),
        [(
            "Scripted".to_owned(),
            step("sh", Some("exit 4"), "script returned exit code 4")
        )]
    );
    let gate = run(r#"
pipeline {
    agent any
    stages { stage('Gate') { steps { error 'coverage fell below 80%' } } }
}"#)
    .await;
    assert_eq!(
        failed(&gate),
        [(
            "Gate".to_owned(),
            step(
                "error",
                Some("coverage fell below 80%"),
                "coverage fell below 80%"
            )
        )]
    );
}

#[tokio::test]
async fn a_caught_failure_names_no_step() {
    let run = run(r#"
pipeline {
    agent any
    stages {
        stage('Lint') {
            steps {
                catchError(buildResult: 'FAILURE', stageResult: 'FAILURE') { sh 'exit 1' }
                echo 'after'
            }
        }
    }
}"#)
    .await;
    assert_eq!(run.result(), BuildResult::Failure);
    assert_eq!(failed(&run), [("Lint".to_owned(), None)]);
}

#[tokio::test]
async fn the_label_and_message_are_masked_as_the_log_is() {
    let mut setup = setup();
    setup.spec.credentials = Arc::new(Creds(BTreeMap::from([(
        "token".to_owned(),
        Credential::Secret("s3cr3t-token".to_owned()),
    )])));
    let run = run_with(
        r#"
pipeline {
    agent any
    stages {
        stage('Push') {
            steps {
                withCredentials([string(credentialsId: 'token', variable: 'T')]) {
                    sh "test ${T} = nope"
                    }
            }
        }
    }
}"#,
        setup,
    )
    .await;
    let f = run.summary.stages[0]
        .failed_step
        .clone()
        .expect("a failed step");
    assert_eq!(f.label.as_deref(), Some("test **** = nope"), "{f:?}");
    assert!(!format!("{f:?}").contains("s3cr3t"), "{f:?}");
}
