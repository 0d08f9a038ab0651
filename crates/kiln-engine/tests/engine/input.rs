use crate::harness::{FakeInput, RAN_OK, run_with, setup};
use kiln_engine::{BuildResult, InputAnswer, InputKind, StageOutcome};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const PIPELINE: &str = r#"
pipeline {
    agent any
    stages {
        stage('Deploy') {
            input {
                message 'Deploy?'
                ok 'Ship it'
                parameters { string(name: 'TARGET', defaultValue: 'staging') }
            }
            steps { sh 'echo "target=$TARGET"'; input message: 'Really?' }
        }
        stage('After') { steps { echo 'after' } }
    }
}"#;

fn answering(answer: InputAnswer) -> (crate::harness::Setup, Arc<FakeInput>) {
    let mut setup = setup();
    let input = Arc::new(FakeInput {
        answer: Mutex::new(Some(answer)),
        requests: Mutex::new(Vec::new()),
    });
    setup.spec.input = input.clone();
    (setup, input)
}

#[tokio::test]
async fn approved_input_proceeds_with_values() {
    let (setup, input) = answering(InputAnswer::Proceed {
        values: BTreeMap::from([("TARGET".to_owned(), "prod".to_owned())]),
        by: "alice".to_owned(),
    });
    let run = run_with(PIPELINE, setup).await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    assert!(run.has_line("target=prod"));
    assert_eq!(run.stage("After"), RAN_OK);
    let requests = input.requests.lock().expect("lock");
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].message, "Deploy?");
    assert_eq!(requests[0].ok, "Ship it");
    assert_eq!(
        requests[0].parameters,
        [kiln_engine::InputParameter::string("TARGET", "staging")]
    );
    assert_eq!(requests[1].message, "Really?");
}

#[tokio::test]
async fn aborted_input_aborts_the_build() {
    let (setup, _) = answering(InputAnswer::Abort {
        by: "bob".to_owned(),
    });
    let run = run_with(PIPELINE, setup).await;
    assert_eq!(run.result(), BuildResult::Aborted);
    assert_eq!(run.stage("Deploy"), StageOutcome::Ran(BuildResult::Aborted));
    assert_eq!(run.stage("After"), StageOutcome::SkippedAborted);
    assert!(run.has_line("Rejected by bob"));
    assert!(!run.log().iter().any(|l| l.starts_with("target=")));
}

/// Each kind of parameter reaches the handler with its kind, choices and description, and
/// `submitterParameter` gives the approver's name: as an environment variable of a stage's
/// `input`, and in the `input` step's value (alone, the value is the name, as in Jenkins).
const KINDS: &str = r#"
pipeline {
    agent any
    stages {
        stage('Release') {
            input {
                message 'Release?'
                submitterParameter 'APPROVER'
                parameters {
                    booleanParam(name: 'FAST', defaultValue: true, description: 'Skip checks')
                    choice(name: 'REGION', choices: ['eu', 'us'])
                    text(name: 'NOTES', defaultValue: 'none')
                    password(name: 'PIN', defaultValue: '1234')
                }
            }
            steps {
                sh 'echo "approver=$APPROVER fast=$FAST region=$REGION"'
                script {
                    def who = input message: 'Again?', submitterParameter: 'WHO'
                    echo "step approver=${who}"
                }
            }
        }
    }
}"#;

#[tokio::test]
async fn parameters_keep_their_kinds_and_submitter_parameter_names_the_approver() {
    let (setup, input) = answering(InputAnswer::Proceed {
        values: BTreeMap::from([("REGION".to_owned(), "us".to_owned())]),
        by: "alice".to_owned(),
    });
    let run = run_with(KINDS, setup).await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    assert!(
        run.has_line("approver=alice fast=true region=us"),
        "{:#?}",
        run.log()
    );
    assert!(run.has_line("step approver=alice"), "{:#?}", run.log());
    let requests = input.requests.lock().expect("lock");
    let first = &requests[0];
    assert_eq!(first.submitter_parameter.as_deref(), Some("APPROVER"));
    let kinds: Vec<(&str, InputKind, &str)> = first
        .parameters
        .iter()
        .map(|p| (p.name.as_str(), p.kind, p.default.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("FAST", InputKind::Boolean, "true"),
            ("REGION", InputKind::Choice, "eu"),
            ("NOTES", InputKind::Text, "none"),
            ("PIN", InputKind::Password, "1234"),
        ]
    );
    assert_eq!(first.parameters[1].choices, ["eu", "us"]);
    assert_eq!(
        first.parameters[0].description.as_deref(),
        Some("Skip checks")
    );
    assert_eq!(requests[1].submitter_parameter.as_deref(), Some("WHO"));
}
