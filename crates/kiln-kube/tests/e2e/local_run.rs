//! `kiln run --kubeconfig` (`LocalCluster`): the agent's `yamlFile` read from the local
//! workspace, and `kanikoBuild` in a Kaniko pod of the same cluster, reached like the build
//! pod through port-forward.

use crate::harness::*;
use crate::kaniko::record_pods;
use crate::pipelines::run_pipeline;
use k8s_openapi::api::core::v1::Pod;
use kiln_engine::BuildResult;
use kiln_kube::{KanikoSettings, LocalCluster, LocalRunError, LocalRunOptions};
use kiln_model::Document;
use kiln_types::{AgentSpecKind, KubernetesSpec};
use std::path::Path;
use std::sync::Arc;

/// The top-level `kubernetes` agent of `text` and its span.
fn kubernetes_agent(text: &str) -> (KubernetesSpec, kiln_diagnostics::Span) {
    let (document, diags) = kiln_model::load(text);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    let Some(Document::Declarative(pipeline)) = document else {
        panic!("not declarative")
    };
    let spec = kiln_plan::agent_spec(&pipeline.agent, &mut |e| e.as_plain_str());
    let AgentSpecKind::Kubernetes(agent) = spec.kind else {
        panic!("not a kubernetes agent")
    };
    (*agent, spec.span)
}

async fn local_cluster(c: &Cluster, dir: &Path) -> LocalCluster {
    let kubeconfig = dir.join("kubeconfig");
    // kiln run acts as deploy/'s account (plus port-forward), as every e2e client does.
    std::fs::write(&kubeconfig, &c.kiln_kubeconfig).unwrap();
    LocalCluster::connect(&kubeconfig).await.unwrap()
}

fn options(workspace: &Path, containers: u16) -> LocalRunOptions {
    LocalRunOptions {
        install_command: Some(install().command),
        base_port: free_base_port(containers),
        workspace: Some(workspace.to_path_buf()),
        ..LocalRunOptions::default()
    }
}

const YAML_FILE_PIPELINE: &str = "pipeline {
  agent {
    kubernetes {
      yamlFile 'ci/pod.yaml'
    }
  }
  stages {
    stage('s') {
      steps {
        container('b') {
          sh 'echo in-$WHO'
        }
      }
    }
  }
}
";

#[tokio::test]
async fn kiln_run_reads_yaml_file_from_the_local_workspace() {
    let c = cluster().await;
    let dir = tempfile::Builder::new()
        .prefix("kiln-kube-yamlfile-")
        .tempdir()
        .unwrap();
    let cluster = local_cluster(&c, dir.path()).await;
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join("ci")).unwrap();
    let (agent, span) = kubernetes_agent(YAML_FILE_PIPELINE);

    // A missing file and bad YAML are errors at `yamlFile` naming the file (and the line
    // and column inside it); no pod is created.
    let error = |e: LocalRunError| match e {
        LocalRunError::Pod(diags) => diags
            .iter()
            .map(|d| {
                let mut text = format!(
                    "{} @{}",
                    d.message,
                    &YAML_FILE_PIPELINE[d.primary_span().range()]
                );
                for note in &d.notes {
                    text.push_str(&format!(" / {note}"));
                }
                text
            })
            .collect::<Vec<_>>(),
        other => panic!("{other}"),
    };
    let missing = cluster
        .start(&agent, span, "app", 1, options(&ws, 2))
        .await
        .err()
        .map(error)
        .unwrap();
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert!(
        missing[0].starts_with(
            "cannot read `yamlFile` `ci/pod.yaml`: no such file in the workspace @'ci/pod.yaml'"
        ),
        "{missing:?}"
    );
    std::fs::write(
        ws.join("ci/pod.yaml"),
        "spec:\n  containers:\n  - name: a\n    imagePullPolice: Always\n",
    )
    .unwrap();
    let bad = cluster
        .start(&agent, span, "app", 1, options(&ws, 2))
        .await
        .err()
        .map(error)
        .unwrap();
    assert_eq!(
        bad,
        [
            "unknown field `imagePullPolice` in `spec.containers[0]` @'ci/pod.yaml' / at ci/pod.yaml:4:5 / help: did you mean `imagePullPolicy`?"
        ]
    );
    assert!(
        !c.fake.requests().iter().any(|r| r.method == "POST"),
        "{:?}",
        c.fake.requests()
    );

    // The file's pod is the build's pod.
    std::fs::write(
        ws.join("ci/pod.yaml"),
        "spec:\n  containers:\n  - name: a\n    image: busybox\n    env: [{name: WHO, value: a}]\n  - name: b\n    image: alpine\n    env: [{name: WHO, value: b}]\n",
    )
    .unwrap();
    let ex = cluster
        .start(&agent, span, "app", 1, options(&ws, 2))
        .await
        .unwrap();
    let pod: Pod =
        serde_json::from_value(c.fake.object("pods", "default", ex.pod_name()).unwrap()).unwrap();
    let names: Vec<String> = pod
        .spec
        .unwrap()
        .containers
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["a", "b"]);
    let ex = Arc::new(ex);
    let (result, lines) = run_pipeline(ex.clone(), YAML_FILE_PIPELINE).await;
    assert_eq!(result, BuildResult::Success, "{lines:#?}");
    assert!(lines.iter().any(|l| l == "in-b"), "{lines:#?}");
    ex.cleanup().await.unwrap();
    c.fake.shutdown().await;
}

/// A Kaniko stand-in: checks its exact arguments and what is mounted, prints them, and
/// writes the digest Kaniko would.
const STAND_IN: &str = r#"#!/bin/sh
set -eu
dir=$(dirname "$0")
if [ "$0 $*" != "$(cat "$dir/args")" ]; then
  echo "unexpected arguments: $0 $*" >&2
  exit 2
fi
echo "ARGS $0 $*"
echo "DOCKER_CONFIG $(cat /kaniko/.docker/config.json)"
echo "CONTEXT $(tar -tzf /workspace/.kiln/kaniko/context.tar.gz | sort | tr '\n' ' ')"
echo "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" > /workspace/.kiln/kaniko/image.digest
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kiln_run_runs_kaniko_builds_in_a_pod_of_the_same_cluster() {
    let c = cluster().await;
    let dir = tempfile::Builder::new()
        .prefix("kiln-kube-local-kaniko-")
        .tempdir()
        .unwrap();
    let executor = dir.path().join("executor");
    std::fs::write(&executor, STAND_IN).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&executor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let args = [
        executor.display().to_string(),
        "--context=tar:///workspace/.kiln/kaniko/context.tar.gz".into(),
        "--dockerfile=Dockerfile".into(),
        "--destination=reg.example:5000/team/app:1.0".into(),
        "--cache=true".into(),
        "--cache-repo=reg.example:5000/team/app/cache".into(),
        "--digest-file=/workspace/.kiln/kaniko/image.digest".into(),
        "--cleanup".into(),
    ];
    std::fs::write(dir.path().join("args"), args.join(" ")).unwrap();
    let docker_config = r#"{"auths":{"reg.example:5000":{"auth":"Y2k6czNjcmV0"}}}"#;
    create_docker_config_secret(&c, "regcred", docker_config).await;
    let pods = record_pods(&c);

    let cluster = local_cluster(&c, dir.path()).await;
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join("app")).unwrap();
    std::fs::write(ws.join("app/Dockerfile"), "FROM scratch\n").unwrap();
    std::fs::write(ws.join("app/hello.txt"), "hi\n").unwrap();
    let text = "pipeline {
  agent {
    kubernetes {
      yaml '''
spec:
  containers:
  - name: tools
    image: busybox
'''
    }
  }
  stages {
    stage('image') {
      steps {
        kanikoBuild context: 'app', dockerfile: 'Dockerfile', destinations: ['reg.example:5000/team/app:1.0'], cache: true, cacheRepo: 'reg.example:5000/team/app/cache'
      }
    }
  }
}
";
    let (agent, span) = kubernetes_agent(text);
    let mut options = options(&ws, 1);
    options.kaniko_base_port = Some(free_base_port(1));
    options.kaniko = KanikoSettings {
        executor: executor.display().to_string(),
        docker_config_secret: Some("regcred".into()),
        ..KanikoSettings::default()
    };
    let ex = cluster
        .start(&agent, span, "app", 3, options)
        .await
        .unwrap();
    kiln_kube::upload_workspace(&ex, &ws).await.unwrap();
    let build_pod = ex.pod_name().to_owned();
    c.fake.clear_requests();
    let ex = Arc::new(ex);
    let (result, lines) = run_pipeline(ex.clone(), text).await;
    assert_eq!(result, BuildResult::Success, "{lines:#?}");
    for want in [
        format!("[kaniko the node's platform] ARGS {}", args.join(" ")),
        format!("[kaniko the node's platform] DOCKER_CONFIG {docker_config}"),
        "[kaniko the node's platform] CONTEXT ./ ./Dockerfile ./hello.txt ".to_owned(),
    ] {
        assert!(lines.contains(&want), "missing {want:?} in {lines:#?}");
    }

    // One Kaniko pod, created and deleted during the step, with the docker config, the
    // workspace and the agent mounted, reached through port-forward like the build pod.
    let requests = c.fake.requests();
    let created: Vec<&str> = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/pods") && r.status == 201)
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(created.len(), 1, "{requests:#?}");
    let seen = pods.lock().unwrap().clone();
    let kaniko_pod = seen
        .into_values()
        .find(|p| {
            p.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with(&format!("{build_pod}-kaniko-native-")))
        })
        .expect("a Kaniko pod");
    let name = kaniko_pod.metadata.name.clone().unwrap();
    let container = &kaniko_pod.spec.as_ref().unwrap().containers[0];
    assert_kaniko_container(container);
    let forwarded = requests
        .iter()
        .any(|r| r.path.ends_with(&format!("/pods/{name}/portforward")));
    assert!(forwarded, "{requests:#?}");
    let deleted = requests
        .iter()
        .any(|r| r.method == "DELETE" && r.path.ends_with(&format!("/pods/{name}")));
    assert!(deleted, "{requests:#?}");
    ex.cleanup().await.unwrap();
    c.fake.shutdown().await;
}
