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
        agents: None,
        services: Default::default(),
        coordinator: std::sync::Arc::new(kiln_engine::NoCoordinator),
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let summary = kiln_engine::BuildRun::new(&plan, spec, executor)
        .run(tx, CancellationToken::new())
        .await;
    let mut lines = Vec::new();
    while let Ok(event) = rx.try_recv() {
        match event {
            BuildEvent::Log { line, .. } => lines.push(line),
            BuildEvent::Output { lines: out, .. } => lines.extend(out.lines().map(str::to_owned)),
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
    assert!(
        !lines.iter().any(|l| l.starts_with("NOTICE container")),
        "{lines:#?}"
    );
    // Steps go over the agents' connections: no API request while the build ran (dial mode).
    let during: Vec<_> = c.fake.requests().into_iter().filter(|r| !r.watch).collect();
    assert!(
        during.is_empty(),
        "API requests during the steps: {during:?}"
    );
    ex.cleanup().await.unwrap();
    c.fake.shutdown().await;
}

#[tokio::test]
async fn kiln_run_with_a_kubeconfig_uploads_the_workspace_and_runs_in_the_pod() {
    let c = cluster().await;
    let dir = tempfile::Builder::new()
        .prefix("kiln-kube-local-")
        .tempdir()
        .unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    // kiln run acts as deploy/'s account (plus port-forward), as every e2e client does.
    std::fs::write(&kubeconfig, &c.kiln_kubeconfig).unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join("src/.git")).unwrap();
    std::fs::write(ws.join("src/hello.txt"), "hello from the laptop").unwrap();
    std::fs::write(ws.join("src/.git/HEAD"), "not uploaded").unwrap();
    std::fs::write(ws.join("run.sh"), "#!/bin/sh\necho script ran\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(ws.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let text = "pipeline {\n  agent {\n    kubernetes {\n      yaml '''\nspec:\n  containers:\n  - name: tools\n    image: busybox\n'''\n    }\n  }\n  stages {\n    stage('s') {\n      steps {\n        sh 'cat src/hello.txt; ./run.sh; test -e src/.git || echo no-git'\n      }\n    }\n  }\n}\n";
    let (document, _) = kiln_model::load(text);
    let Some(kiln_model::Document::Declarative(pipeline)) = document else {
        panic!()
    };
    let spec = kiln_plan::agent_spec(&pipeline.agent, &mut |e| e.as_plain_str());
    let kiln_types::AgentSpecKind::Kubernetes(agent) = &spec.kind else {
        panic!()
    };
    let cluster = kiln_kube::LocalCluster::connect(&kubeconfig).await.unwrap();
    let options = kiln_kube::LocalRunOptions {
        install_command: Some(install().command),
        base_port: free_base_port(1),
        ..kiln_kube::LocalRunOptions::default()
    };
    let ex = cluster
        .start(agent, pipeline.agent.span, "my job", 4, options)
        .await
        .unwrap();
    assert!(
        ex.pod_name().starts_with("kiln-my_job-4-") || ex.pod_name().starts_with("kiln-my-job-4-"),
        "{}",
        ex.pod_name()
    );
    assert_eq!(kiln_kube::upload_workspace(&ex, &ws).await.unwrap(), 2);
    let ex = Arc::new(ex);
    let (result, lines) = run_pipeline(ex.clone(), text).await;
    assert_eq!(result, BuildResult::Success, "{lines:#?}");
    let output: Vec<&String> = lines
        .iter()
        .filter(|l| {
            !l.starts_with("NOTICE")
                && !l.starts_with("+ ")
                && !l.starts_with("Started by")
                && !l.starts_with("Finished:")
        })
        .collect();
    // One pipe for stdout and stderr: the `+ ./run.sh` trace follows the file's text (which
    // has no line break) on its line, exactly as the shell wrote them.
    assert_eq!(
        output,
        vec!["hello from the laptop+ ./run.sh", "script ran", "no-git"],
        "{lines:#?}"
    );
    ex.cleanup().await.unwrap();
    c.fake.shutdown().await;
}
