//! `kanikoBuild` with the local executor: the executor says plainly that image builds need a
//! Kubernetes agent, and the build fails with that message.

use crate::harness::*;
use kiln_engine::BuildResult;

#[tokio::test]
async fn kaniko_build_on_the_local_executor_fails_saying_it_needs_kubernetes() {
    let run = run(
        "pipeline {\n  agent any\n  stages {\n    stage('image') {\n      steps {\n        kanikoBuild destinations: ['reg.local/app:1'], buildArgs: [V: '1']\n        echo 'not reached'\n      }\n    }\n  }\n}\n",
    )
    .await;
    assert_eq!(run.result(), BuildResult::Failure);
    let log = run.log();
    assert!(
        log.iter().any(|l| l.contains(
            "kanikoBuild needs a Kubernetes agent: image builds run in Kaniko pods, and this build runs on local"
        )),
        "{log:#?}"
    );
    assert!(!run.has_line("not reached"), "{log:#?}");
}
