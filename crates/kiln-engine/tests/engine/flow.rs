use crate::harness::{RAN_OK, run};
use kiln_engine::{BuildResult, StageOutcome};

#[tokio::test]
async fn catch_error_marks_failure_and_continues() {
    let run = run(r#"
pipeline {
    agent any
    stages {
        stage('Caught') { steps { catchError(message: 'tests broke') { sh 'exit 2' }; echo 'went on' } }
        stage('Next') { steps { echo 'next ran' } }
    }
}"#)
    .await;
    assert_eq!(run.result(), BuildResult::Failure);
    assert_eq!(run.stage("Caught"), StageOutcome::Ran(BuildResult::Failure));
    assert_eq!(run.stage("Next"), RAN_OK);
    assert!(run.has_line("went on") && run.has_line("next ran") && run.has_line("tests broke"));
}

#[tokio::test]
async fn catch_error_with_results_and_warn_error_and_unstable() {
    let run = run(r#"
pipeline {
    agent any
    stages {
        stage('Soft') { steps { catchError(buildResult: 'SUCCESS', stageResult: 'UNSTABLE') { error 'meh' } } }
        stage('Warn') { steps { warnError('flaky') { sh 'false' } } }
        stage('Unstable') { steps { unstable 'coverage dropped' } }
        stage('Fine') { steps { echo 'ok' } }
    }
    post { unstable { echo 'post unstable' } }
}"#)
    .await;
    assert_eq!(run.result(), BuildResult::Unstable);
    assert_eq!(run.stage("Soft"), StageOutcome::Ran(BuildResult::Unstable));
    assert_eq!(run.stage("Warn"), StageOutcome::Ran(BuildResult::Unstable));
    assert_eq!(
        run.stage("Unstable"),
        StageOutcome::Ran(BuildResult::Unstable)
    );
    assert_eq!(run.stage("Fine"), RAN_OK);
    assert!(run.has_line("WARNING: coverage dropped") && run.has_line("post unstable"));
}

#[tokio::test]
async fn skip_stages_after_unstable() {
    let run = run(r#"
pipeline {
    agent any
    options { skipStagesAfterUnstable() }
    stages {
        stage('Unstable') { steps { unstable 'x' } }
        stage('Deploy') { steps { echo 'never' } }
    }
}"#)
    .await;
    assert_eq!(run.result(), BuildResult::Unstable);
    assert_eq!(run.stage("Deploy"), StageOutcome::SkippedAfterFailure);
}

/// The script leaves a background child behind; the timeout must kill it too.
#[tokio::test]
async fn timeout_kills_the_process_group() {
    let run = run(r#"
pipeline {
    agent any
    stages {
        stage('Slow') {
            steps {
                timeout(time: 300, unit: 'MILLISECONDS') { sh 'sleep 100 & echo $! > child.pid; sleep 100' }
            }
        }
        stage('After') { steps { echo 'never' } }
    }
    post { aborted { echo 'post aborted' } }
}"#)
    .await;
    assert_eq!(run.result(), BuildResult::Aborted);
    assert_eq!(run.stage("Slow"), StageOutcome::Ran(BuildResult::Aborted));
    assert_eq!(run.stage("After"), StageOutcome::SkippedAborted);
    assert!(
        run.has_line("Cancelling nested steps due to timeout"),
        "{:#?}",
        run.log()
    );
    assert!(run.has_line("post aborted"));
    let pid = std::fs::read_to_string(run.workspace().join("child.pid")).expect("pid file");
    assert!(process_gone(pid.trim()).await, "child {pid} survived");
}

/// Waits (30 s at most: dying takes a turn on the CPU, which a loaded machine may be slow to
/// give; not a speed check) for a process to be gone or a zombie.
async fn process_gone(pid: &str) -> bool {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat)
                if stat
                    .rsplit(')')
                    .next()
                    .is_some_and(|s| s.trim_start().starts_with('Z')) =>
            {
                return true;
            }
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
    false
}

#[tokio::test]
async fn stage_timeout_option_and_retry() {
    let run = run(r#"
pipeline {
    agent any
    stages {
        stage('Retry') {
            steps {
                retry(3) { sh 'n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; [ $n -ge 3 ]' }
            }
        }
        stage('Retried stage') {
            options { retry(2) }
            steps { sh 'if [ -f once ]; then exit 0; fi; touch once; exit 1' }
        }
        stage('Timed') {
            options { timeout(time: 1, unit: 'SECONDS') }
            steps { sleep 100 }
        }
    }
}"#)
    .await;
    assert_eq!(run.stage("Retry"), RAN_OK, "{:#?}", run.log());
    assert_eq!(
        std::fs::read_to_string(run.workspace().join("n"))
            .expect("n")
            .trim(),
        "3"
    );
    assert_eq!(run.stage("Retried stage"), RAN_OK);
    assert_eq!(run.stage("Timed"), StageOutcome::Ran(BuildResult::Aborted));
    assert_eq!(run.result(), BuildResult::Aborted);
}

#[tokio::test]
async fn sh_return_values_and_shebang() {
    let run = run(r#"
pipeline {
    agent any
    stages {
        stage('S') {
            steps {
                sh(script: 'exit 4', returnStatus: true)
                sh '''#!/bin/sh
echo "no xtrace here"
'''
                dir('sub/dir') { sh 'pwd > ../../where'; writeFile file: 'f.txt', text: 'hello' }
                sh 'test -f sub/dir/f.txt'
            }
        }
    }
}"#)
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    assert!(run.has_line("no xtrace here"));
    assert!(
        !run.log()
            .iter()
            .any(|l| l.starts_with("+ echo \"no xtrace"))
    );
    let where_ = std::fs::read_to_string(run.workspace().join("where")).expect("where");
    assert!(where_.trim().ends_with("sub/dir"));
}

#[tokio::test]
async fn container_is_announced_once_and_its_body_runs() {
    let run = run(r#"
pipeline {
    agent any
    stages { stage('S') { steps { container('maven') { echo 'one' }; container('maven') { echo 'two' } } } }
}"#)
    .await;
    assert_eq!(run.result(), BuildResult::Success);
    assert!(run.has_line("one") && run.has_line("two"));
    assert_eq!(
        run.notices(),
        ["container('maven') is ignored by the local executor: steps run on this machine"]
    );
}

#[tokio::test]
async fn script_blocks_call_steps() {
    let run = run(r#"
pipeline {
    agent any
    stages {
        stage('Script') {
            steps {
                script {
                    def out = sh(script: 'echo hello', returnStdout: true).trim()
                    if (out == 'hello') {
                        echo "got ${out}"
                    }
                    writeFile file: 'x.txt', text: 'from script'
                    def text = readFile('x.txt')
                    echo "read ${text}, exists=${fileExists('x.txt')}"
                    try {
                        sh 'exit 5'
                    } catch (e) {
                        echo "caught: ${e.message}"
                    }
                }
            }
        }
        stage('Fails') { steps { script { error 'from a script' } } }
    }
}"#)
    .await;
    assert_eq!(run.stage("Script"), RAN_OK, "{:#?}", run.log());
    assert!(run.has_line("got hello"), "{:#?}", run.log());
    assert!(run.has_line("read from script, exists=true"));
    assert!(run.has_line("caught: script returned exit code 5"));
    assert_eq!(run.stage("Fails"), StageOutcome::Ran(BuildResult::Failure));
    assert!(run.has_line("ERROR: from a script"), "{:#?}", run.log());
}
