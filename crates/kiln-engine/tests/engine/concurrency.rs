use crate::harness::{RAN_OK, run};
use kiln_engine::{BuildResult, StageOutcome};

/// Each branch waits for a file the other creates: this only finishes when they really run
/// at the same time (the pipeline timeout turns a hang into a failed assertion).
#[tokio::test]
async fn parallel_branches_run_concurrently() {
    let run = run(r#"
pipeline {
    agent any
    options { timeout(time: 30, unit: 'SECONDS') }
    stages {
        stage('Both') {
            parallel {
                stage('A') { steps { sh 'touch a; while [ ! -f b ]; do sleep 0.02; done' } }
                stage('B') { steps { sh 'touch b; while [ ! -f a ]; do sleep 0.02; done' } }
            }
        }
        stage('After') { steps { echo 'joined' } }
    }
}"#)
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    for s in ["Both", "A", "B", "After"] {
        assert_eq!(run.stage(s), RAN_OK, "{s}");
    }
}

#[tokio::test]
async fn fail_fast_aborts_the_sibling() {
    let run = run(r#"
pipeline {
    agent any
    stages {
        stage('Both') {
            failFast true
            parallel {
                stage('Fails') { steps { sh 'exit 1' } }
                stage('Slow') { steps { sh 'sleep 100' } }
            }
        }
        stage('After') { steps { echo 'never' } }
    }
}"#)
    .await;
    assert_eq!(run.result(), BuildResult::Failure);
    assert_eq!(run.stage("Fails"), StageOutcome::Ran(BuildResult::Failure));
    assert_eq!(run.stage("Slow"), StageOutcome::Ran(BuildResult::Aborted));
    assert_eq!(run.stage("Both"), StageOutcome::Ran(BuildResult::Failure));
    assert_eq!(run.stage("After"), StageOutcome::SkippedAfterFailure);
    assert!(run.has_line("Failed in branch Fails"));
}

#[tokio::test]
async fn parallels_always_fail_fast_option() {
    let run = run(r#"
pipeline {
    agent any
    options { parallelsAlwaysFailFast() }
    stages {
        stage('Both') {
            parallel {
                stage('Fails') { steps { error 'boom' } }
                stage('Slow') { steps { sleep 100 } }
            }
        }
    }
}"#)
    .await;
    assert_eq!(run.result(), BuildResult::Failure);
    assert_eq!(run.stage("Slow"), StageOutcome::Ran(BuildResult::Aborted));
    assert!(run.has_line("ERROR: boom"));
}

#[tokio::test]
async fn matrix_cells_run_with_axis_values() {
    let run = run(r#"
pipeline {
    agent any
    stages {
        stage('Matrix') {
            matrix {
                axes {
                    axis { name 'OS'; values 'linux', 'mac' }
                    axis { name 'JDK'; values '11', '17' }
                }
                excludes { exclude { axis { name 'OS'; values 'mac' }; axis { name 'JDK'; values '11' } } }
                stages {
                    stage('Build') { steps { sh 'echo "cell $OS-$JDK"' } }
                    stage('Test') { steps { sh 'echo "test $OS-$JDK"' } }
                }
            }
        }
    }
}"#)
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    for cell in ["linux-11", "linux-17", "mac-17"] {
        assert!(
            run.has_line(&format!("cell {cell}")),
            "{cell}: {:#?}",
            run.log()
        );
        assert!(run.has_line(&format!("test {cell}")));
    }
    assert!(!run.has_line("cell mac-11"));
    let cells = run
        .summary
        .stages
        .iter()
        .filter(|s| s.path.len() == 2)
        .count();
    assert_eq!(cells, 3);
}
