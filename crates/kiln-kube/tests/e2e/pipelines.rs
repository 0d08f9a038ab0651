//! Whole pipelines through the engine with the Kubernetes executor.

use crate::harness::*;
use kiln_engine::{BuildCause, BuildEvent, BuildResult, BuildSpec, NoCredentials};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

struct NoInput;

#[async_trait::async_trait]
impl kiln_engine::InputHandler for NoInput {
    async fn request(&self, _request: kiln_engine::InputRequest) -> kiln_engine::InputAnswer {
        kiln_engine::InputAnswer::Abort { by: "test".into() }
    }
}

pub async fn run_pipeline(
    executor: Arc<dyn kiln_executor::Executor>,
    text: &str,
) -> (BuildResult, Vec<String>) {
    let (document, diags) = kiln_model::load(text);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    let Some(kiln_model::Document::Declarative(pipeline)) = document else {
        panic!("not declarative")
    };
    let plan = kiln_plan::plan(&pipeline);
    let build_dir = tempfile::Builder::new()
        .prefix("kiln-kube-e2e-")
        .tempdir()
        .unwrap();
    let spec = BuildSpec {
        job_name: "e2e".into(),
        number: 1,
        params: BTreeMap::new(),
        base_env: BTreeMap::new(),
        scm: None,
        build_dir: build_dir.path().to_path_buf(),
        cause: BuildCause::User("test".into()),
        credentials: Arc::new(NoCredentials),
        input: Arc::new(NoInput),
        workspace_is_checkout: false,
        previous_result: None,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let summary = kiln_engine::run_build(&plan, spec, executor, tx, CancellationToken::new()).await;
    let mut lines = Vec::new();
    while let Ok(event) = rx.try_recv() {
        match event {
            BuildEvent::Log { line, .. } => lines.push(line),
            BuildEvent::Notice { message } => lines.push(format!("NOTICE {message}")),
            _ => {}
        }
    }
    (summary.result, lines)
}

#[tokio::test]
async fn container_steps_share_the_workspace_in_a_pipeline() {
    let c = cluster().await;
    let settings = dial().await;
    let name = pod_name("pipeline");
    let ex = Arc::new(start(&c, &settings, &name, TWO_CONTAINERS).await);
    let pipeline = r#"
pipeline {
  agent any
  stages {
    stage('build') {
      steps {
        container('a') { sh 'echo a > /workspace/x; echo in-a' }
        container('b') { sh 'cat /workspace/x; echo in-b' }
        sh 'echo default; cat x'
        writeFile file: 'w.txt', text: 'written'
        sh 'cat w.txt'
      }
    }
  }
}
"#;
    c.fake.clear_requests();
    let (result, lines) = run_pipeline(ex.clone(), pipeline).await;
    assert_eq!(result, BuildResult::Success, "{lines:#?}");
    for want in ["in-a", "a", "in-b", "default", "written"] {
        assert!(
            lines.iter().any(|l| l == want),
            "missing {want:?} in {lines:#?}"
        );
    }
    assert!(!lines.iter().any(|l| l.starts_with("NOTICE")), "{lines:#?}");
    // Steps go over the agents' connections: no API request while the build ran (dial mode).
    let during: Vec<_> = c.fake.requests().into_iter().filter(|r| !r.watch).collect();
    assert!(
        during.is_empty(),
        "API requests during the steps: {during:?}"
    );
    ex.cleanup().await.unwrap();
    c.fake.shutdown().await;
}
