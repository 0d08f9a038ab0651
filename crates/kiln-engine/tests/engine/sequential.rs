use crate::harness::{RAN_OK, run};
use kiln_engine::{BuildEvent, BuildResult, StageOutcome};

#[tokio::test]
async fn sequential_stages_succeed_in_order() {
    let run = run(r#"
pipeline {
    agent any
    stages {
        stage('One') { steps { echo 'first'; sh 'echo from-shell' } }
        stage('Two') { steps { sh(script: 'printf "a\\nb"', label: 'two lines') } }
    }
    post { success { echo 'all good' } }
}"#)
    .await;
    assert_eq!(run.result(), BuildResult::Success);
    assert_eq!(run.stage("One"), RAN_OK);
    assert_eq!(run.stage("Two"), RAN_OK);
    assert!(run.line_index("first") < run.line_index("from-shell"));
    assert!(
        run.has_line("+ echo from-shell"),
        "sh -x echoes commands: {:#?}",
        run.log()
    );
    assert!(
        run.line_index("a") < run.line_index("b"),
        "an unterminated last line is flushed"
    );
    assert!(run.has_line("all good"));
    assert_eq!(
        run.log().last().map(String::as_str),
        Some("Finished: SUCCESS")
    );
    let order: Vec<String> = run
        .events
        .iter()
        .filter_map(|e| match e {
            BuildEvent::StageStarted { path, .. } => Some(format!("start {}", path.join("/"))),
            BuildEvent::StageFinished { path, .. } => Some(format!("end {}", path.join("/"))),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["start One", "end One", "start Two", "end Two"]);
    assert!(matches!(
        run.events.last(),
        Some(BuildEvent::BuildFinished {
            result: BuildResult::Success,
            ..
        })
    ));
}

#[tokio::test]
async fn failing_sh_skips_later_stages_and_runs_posts_in_order() {
    let run = run(r#"
pipeline {
    agent any
    stages {
        stage('Build') {
            steps { sh 'exit 3' }
            post {
                failure { echo 'stage failure' }
                always { echo 'stage always' }
            }
        }
        stage('Deploy') { steps { echo 'never' } }
    }
    post {
        cleanup { echo 'cleanup' }
        success { echo 'success' }
        failure { echo 'failure' }
        always { echo 'always' }
    }
}"#)
    .await;
    assert_eq!(run.result(), BuildResult::Failure);
    assert_eq!(run.stage("Build"), StageOutcome::Ran(BuildResult::Failure));
    assert_eq!(run.stage("Deploy"), StageOutcome::SkippedAfterFailure);
    assert!(run.has_line("ERROR: script returned exit code 3"));
    assert!(!run.has_line("never") && !run.has_line("success"));
    let order = [
        "stage always",
        "stage failure",
        "always",
        "failure",
        "cleanup",
    ]
    .map(|l| run.line_index(l));
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "post order: {:#?}",
        run.log()
    );
}

#[tokio::test]
async fn when_false_skips_the_stage() {
    let run = run(r#"
pipeline {
    agent any
    environment { TARGET = 'prod' }
    stages {
        stage('Branch') { when { branch 'main' }; steps { echo 'on main' } }
        stage('Env') { when { environment name: 'TARGET', value: 'prod' }; steps { echo 'to prod' } }
        stage('Not') { when { not { equals expected: 1, actual: 1 } }; steps { echo 'never' } }
        stage('Nested') {
            when { anyOf { branch 'x'; tag 'v*' } }
            stages { stage('Inner') { steps { echo 'never' } } }
        }
    }
}"#)
    .await;
    assert_eq!(run.result(), BuildResult::Success);
    assert_eq!(run.stage("Branch"), StageOutcome::SkippedByWhen);
    assert_eq!(run.stage("Env"), crate::harness::RAN_OK);
    assert_eq!(run.stage("Not"), StageOutcome::SkippedByWhen);
    assert_eq!(run.stage("Nested"), StageOutcome::SkippedByWhen);
    assert_eq!(run.stage("Inner"), StageOutcome::SkippedByWhen);
    assert!(run.has_line("to prod") && !run.has_line("never"));
}

#[tokio::test]
async fn unknown_parameters_are_refused_before_running() {
    let mut setup = crate::harness::setup();
    setup.spec.params.insert("NOPE".to_owned(), "1".to_owned());
    let run = crate::harness::run_with(
        "pipeline { agent any; stages { stage('A') { steps { echo 'x' } } } }",
        setup,
    )
    .await;
    assert_eq!(run.result(), BuildResult::NotBuilt);
    assert!(
        run.log()
            .iter()
            .any(|l| l.contains("unknown parameter `NOPE`"))
    );
}
