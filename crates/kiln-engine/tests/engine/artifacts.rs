use crate::harness::{RAN_OK, run};
use kiln_engine::{BuildResult, StageOutcome, TestSummary};
use std::path::PathBuf;

#[tokio::test]
async fn stash_and_unstash_copy_files() {
    let run = run(r#"
pipeline {
    agent any
    stages {
        stage('Make') {
            steps {
                sh 'mkdir -p src/a && echo one > src/a/one.txt && echo two > src/two.log'
                stash name: 'texts', includes: 'src/**/*.txt'
            }
        }
        stage('Use') {
            steps {
                dir('copy') { unstash 'texts' }
                sh 'test -f copy/src/a/one.txt && test ! -e copy/src/two.log'
            }
        }
        stage('Missing') { steps { unstash 'nope' } }
    }
}"#)
    .await;
    assert_eq!(run.stage("Make"), RAN_OK, "{:#?}", run.log());
    assert_eq!(run.stage("Use"), RAN_OK, "{:#?}", run.log());
    assert_eq!(
        run.stage("Missing"),
        StageOutcome::Ran(BuildResult::Failure)
    );
    assert!(run.has_line("ERROR: no such saved stash 'nope'"));
}

#[tokio::test]
async fn archive_artifacts_copies_matches_into_the_build_dir() {
    let run = run(r#"
pipeline {
    agent any
    stages {
        stage('Build') {
            steps {
                sh 'mkdir -p out && echo jar > out/app.jar && echo x > out/notes.txt && echo y > out/skip.jar'
                archiveArtifacts artifacts: 'out/*.jar, nothing/*.zip', excludes: 'out/skip.jar'
                archiveArtifacts artifacts: 'none/**', allowEmptyArchive: true
            }
        }
        stage('Empty') { steps { archiveArtifacts 'none/**' } }
    }
}"#)
    .await;
    assert_eq!(run.stage("Build"), RAN_OK, "{:#?}", run.log());
    assert_eq!(run.summary.artifacts, [PathBuf::from("out/app.jar")]);
    let copied =
        std::fs::read_to_string(run.build_dir().join("artifacts/out/app.jar")).expect("archived");
    assert_eq!(copied, "jar\n");
    assert_eq!(run.stage("Empty"), StageOutcome::Ran(BuildResult::Failure));
}

#[tokio::test]
async fn junit_failures_make_the_build_unstable() {
    let run = run(r#"
pipeline {
    agent any
    stages {
        stage('Test') {
            steps {
                writeFile file: 'reports/TEST-a.xml', text: '<testsuite><testcase classname="A" name="ok"/><testcase classname="A" name="bad"><failure message="no"/></testcase><testcase name="later"><skipped/></testcase></testsuite>'
                writeFile file: 'reports/TEST-b.xml', text: '<testsuites><testsuite><testcase name="fine"/></testsuite></testsuites>'
                junit 'reports/TEST-*.xml'
            }
        }
        stage('Next') { steps { junit testResults: 'none/*.xml', allowEmptyResults: true } }
        stage('Missing') { steps { junit 'none/*.xml' } }
    }
}"#)
    .await;
    assert_eq!(
        run.stage("Test"),
        StageOutcome::Ran(BuildResult::Unstable),
        "{:#?}",
        run.log()
    );
    assert_eq!(run.stage("Next"), RAN_OK);
    assert_eq!(
        run.stage("Missing"),
        StageOutcome::Ran(BuildResult::Failure)
    );
    assert!(run.has_line("Tests: 4, failed: 1, skipped: 1"));
    assert!(run.has_line("FAILED: A.bad"));
    assert_eq!(
        run.summary.tests,
        Some(TestSummary {
            total: 4,
            failed: 1,
            skipped: 1
        })
    );
    assert_eq!(run.result(), BuildResult::Failure);
}

#[tokio::test]
async fn file_steps() {
    let run = run(r#"
pipeline {
    agent any
    stages {
        stage('Files') {
            steps {
                writeFile file: 'a/b.txt', text: 'content'
                sh 'test "$(cat a/b.txt)" = content'
                dir('a') { deleteDir() }
                sh 'test ! -e a'
            }
        }
    }
}"#)
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
}
