use crate::harness::{FakeInput, RAN_OK, run_with, setup};
use kiln_engine::{BuildResult, InputAnswer, StageOutcome};
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
        [("TARGET".to_owned(), "staging".to_owned())]
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
