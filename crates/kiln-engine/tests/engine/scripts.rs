//! Scripts in builds: block steps inside `script { }`, `env` and `currentBuild` writes,
//! definitions shared across blocks and the preamble, data steps, scripted pipelines with
//! their stages, and the sandbox ending a runaway script.

use crate::harness::{RAN_OK, run_any, setup};
use kiln_engine::{BuildEvent, BuildResult, StageOutcome};
use kiln_library::Libraries;

async fn run(jenkinsfile: &str) -> crate::harness::Run {
    run_any(jenkinsfile, setup(), Libraries::default()).await
}

#[tokio::test]
async fn block_steps_run_inside_scripts() {
    let run = run(r#"
pipeline {
    agent any
    stages {
        stage('S') {
            steps {
                script {
                    dir('sub') {
                        sh 'pwd | sed "s|.*/||"'
                        writeFile file: 'f.txt', text: 'in sub'
                    }
                    withEnv(['GREETING=hi']) {
                        sh 'echo "sh sees $GREETING"'
                        echo "script sees ${env.GREETING}"
                    }
                    echo "after withEnv: ${env.GREETING}"
                    def n = 0
                    retry(3) {
                        n++
                        if (n < 3) { error "attempt ${n}" }
                        echo "succeeded on attempt ${n}"
                    }
                    catchError(buildResult: 'UNSTABLE', stageResult: 'UNSTABLE') {
                        sh 'exit 2'
                    }
                    timestamps { echo 'stamped' }
                    timeout(time: 1, unit: 'SECONDS') {
                        sh 'sleep 5'
                    }
                }
            }
        }
    }
}
"#)
    .await;
    let log = run.log();
    assert!(run.has_line("sub"), "{log:#?}");
    assert!(run.workspace().join("sub/f.txt").exists());
    assert!(run.has_line("sh sees hi"), "{log:#?}");
    assert!(run.has_line("script sees hi"), "{log:#?}");
    assert!(run.has_line("after withEnv: null"), "{log:#?}");
    assert!(run.has_line("succeeded on attempt 3"), "{log:#?}");
    assert!(run.has_line("ERROR: attempt 1"), "{log:#?}");
    assert!(
        run.has_line("ERROR: script returned exit code 2"),
        "{log:#?}"
    );
    assert!(log.iter().any(|l| l.ends_with("] stamped")), "{log:#?}");
    assert!(
        run.has_line("Cancelling nested steps due to timeout"),
        "{log:#?}"
    );
    assert_eq!(run.stage("S"), StageOutcome::Ran(BuildResult::Aborted));
}

#[tokio::test]
async fn env_writes_reach_later_steps_and_stages() {
    let run = run(r#"
def greeting = 'hello'
def shout(s) { return s.toUpperCase() }
pipeline {
    agent any
    stages {
        stage('Set') {
            steps {
                script {
                    env.VERSION = sh(script: 'echo 1.2.3', returnStdout: true).trim()
                    counter = 41
                    currentBuild.description = "built ${env.VERSION}"
                    currentBuild.displayName = "v${env.VERSION}"
                }
                sh 'echo "same stage: $VERSION"'
            }
        }
        stage('Use') {
            steps {
                sh 'echo "next stage: $VERSION"'
                script {
                    counter++
                    echo "${shout(greeting)} ${counter} ${currentBuild.displayName}"
                    currentBuild.result = 'UNSTABLE'
                }
            }
        }
    }
}
"#)
    .await;
    let log = run.log();
    assert!(run.has_line("same stage: 1.2.3"), "{log:#?}");
    assert!(run.has_line("next stage: 1.2.3"), "{log:#?}");
    assert!(run.has_line("HELLO 42 v1.2.3"), "{log:#?}");
    assert_eq!(run.result(), BuildResult::Unstable);
    assert_eq!(run.summary.description.as_deref(), Some("built 1.2.3"));
    assert_eq!(run.summary.display_name.as_deref(), Some("v1.2.3"));
}

#[tokio::test]
async fn data_steps_return_values_to_scripts() {
    let run = run(r#"
pipeline {
    agent any
    stages {
        stage('Data') {
            steps {
                writeFile file: 'in.json', text: '{"name": "kiln", "tags": ["a", "b"], "n": 3}'
                script {
                    def j = readJSON file: 'in.json'
                    echo "json: ${j.name} ${j.tags.size()} ${j.n + 1}"
                    def y = readYaml text: "image: maven\nports:\n  - 80\n  - 443\n"
                    echo "yaml: ${y.image} ${y.ports[1]}"
                    writeJSON file: 'out.json', json: [ok: true, list: [1, 2]]
                    writeYaml file: 'out.yaml', data: [name: 'x', items: ['a', 'b']]
                    def back = readYaml file: 'out.yaml'
                    echo "round trip: ${back.name} ${back.items.join(',')} ${fileExists('out.json')}"
                }
            }
        }
    }
}
"#)
    .await;
    let log = run.log();
    assert!(run.has_line("json: kiln 2 4"), "{log:#?}");
    assert!(run.has_line("yaml: maven 443"), "{log:#?}");
    assert!(run.has_line("round trip: x a,b true"), "{log:#?}");
    let json = std::fs::read_to_string(run.workspace().join("out.json")).expect("out.json");
    assert_eq!(json, r#"{"list":[1,2],"ok":true}"#);
}

#[tokio::test]
async fn scripted_pipelines_report_their_stages_as_they_run() {
    let run = run(r#"
def label = 'linux'
node(label) {
    properties([disableConcurrentBuilds()])
    stage('Build') {
        sh 'echo building'
    }
    stage('Test') {
        parallel(
            unit: { sh 'echo unit tests' },
            lint: { echo 'linting' }
        )
    }
    podTemplate(containers: [containerTemplate(name: 'maven', image: 'maven:3')]) {
        node(POD_LABEL) {
            container('maven') {
                stage('Package') { sh 'echo "packaging on $POD_LABEL"' }
            }
        }
    }
}
"#)
    .await;
    let log = run.log();
    assert_eq!(run.result(), BuildResult::Success, "{log:#?}");
    assert!(run.has_line("building"), "{log:#?}");
    assert!(run.has_line("unit tests"), "{log:#?}");
    assert!(run.has_line("packaging on kiln-pod"), "{log:#?}");
    let paths: Vec<String> = run
        .summary
        .stages
        .iter()
        .map(|s| s.path.join(" / "))
        .collect();
    assert_eq!(
        paths,
        // Branches of a map literal run in key order (kiln-script's maps are ordered by key).
        ["Build", "Test", "Test / lint", "Test / unit", "Package"]
    );
    assert_eq!(run.stage("unit"), RAN_OK);
    let started = run
        .events
        .iter()
        .filter(|e| matches!(e, BuildEvent::StageStarted { .. }))
        .count();
    assert_eq!(started, 5);
    // Log lines are attributed to the stage that wrote them.
    let build_line = run.events.iter().find_map(|e| match e {
        BuildEvent::Log { node, line, .. } if line == "building" => *node,
        BuildEvent::Output { node, lines, .. } if lines.lines().any(|l| l == "building") => *node,
        _ => None,
    });
    let build_stage = run.summary.stages[0].node;
    assert_eq!(build_line, Some(build_stage));
    assert!(
        run.has_line(
            "Job properties set by this build (they replace the job's earlier ones): disableConcurrentBuilds"
        ),
        "{log:#?}"
    );
    let props = run.summary.job_properties.clone().expect("set by the step");
    assert!(props.by_step);
    assert_eq!(props.disable_concurrent, Some(false));
}

#[tokio::test]
async fn a_failing_scripted_stage_fails_the_build() {
    let run = run(r#"
node {
    stage('One') { sh 'exit 3' }
    stage('Two') { echo 'never' }
}
"#)
    .await;
    assert_eq!(run.result(), BuildResult::Failure);
    assert_eq!(run.stage("One"), StageOutcome::Ran(BuildResult::Failure));
    assert!(!run.has_line("never"));
    assert_eq!(run.summary.stages.len(), 1);
}

#[tokio::test]
async fn an_endless_loop_fails_the_build_naming_its_line() {
    let run = run(r#"
pipeline {
    agent any
    stages {
        stage('Loop') {
            steps {
                script {
                    def i = 0
                    while (true) { i++ }
                }
            }
        }
    }
}
"#)
    .await;
    assert_eq!(run.result(), BuildResult::Failure);
    let log = run.log();
    assert!(
        log.iter()
            .any(|l| l.starts_with("ERROR: script exceeded") && l.contains("(line 9)")),
        "{log:#?}"
    );
}

/// Regression (issue 11): `returnStdout` kept whatever a process printed, so an endless
/// `yes` grew kiln's memory without bound. Past the bound the process is stopped and the
/// step fails saying where the limit is.
#[tokio::test]
async fn return_stdout_is_bounded_and_says_so() {
    let run = run(r#"
pipeline {
    agent any
    stages {
        stage('S') {
            steps {
                script {
                    def out = sh(script: 'yes', returnStdout: true)
                    echo "got ${out.length()} characters"
                }
            }
        }
    }
}
"#)
    .await;
    let log = run.log();
    assert_eq!(run.result(), BuildResult::Failure, "{log:#?}");
    assert!(
        log.iter().any(|l| l.contains(
            "more than 16 MiB on its standard output, the most a step returns (returnStdout)"
        )),
        "{log:#?}"
    );
    assert!(!log.iter().any(|l| l.contains("got ")), "{log:#?}");
}
