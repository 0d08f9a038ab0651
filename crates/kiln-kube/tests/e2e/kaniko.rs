//! `kanikoBuild` end to end: a pipeline in a build pod packs its context, kiln starts one
//! Kaniko pod per platform on a node of that architecture, a stand-in for the Kaniko executor
//! (a script that checks its exact arguments and mounts, then reports the digest of the image
//! the test pushed for its platform) runs in each, and kiln pushes the multi-arch index to a
//! real registry (Debian's docker-registry on 127.0.0.1), read back here.

use crate::harness::*;
use crate::pipelines::run_pipeline;
use crate::registry_support::{TestRegistry, push_platform_image};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kiln_engine::BuildResult;
use kiln_fake_kube::{FakeKubeConfig, NodeConfig};
use kiln_kube::{
    ImageBuilder, ImageIndex, ImageRecords, ImageStep, KubeConfig, OCI_INDEX, Platform, Registry,
};
use kube::api::{WatchEvent, WatchParams};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const STAND_IN: &str = r#"#!/bin/sh
# Kaniko stand-in: checks its arguments and mounts, then reports the digest of the image the
# test pushed for its platform.
set -eu
dir=$(dirname "$0")
platform=
for a in "$@"; do
  case $a in --custom-platform=*) platform=${a#--custom-platform=} ;; esac
done
arch=${platform#linux/}
if [ "$0 $*" != "$(cat "$dir/args-$arch")" ]; then
  echo "unexpected arguments: $0 $*" >&2
  exit 2
fi
echo "ARGS $0 $*"
echo "DOCKER_CONFIG $(cat /kaniko/.docker/config.json)"
echo "CONTEXT $(tar -tzf /workspace/.kiln/kaniko/context.tar.gz | sort | tr '\n' ' ')"
echo "CWD $(pwd)"
cat "$dir/digest-$arch" > "/workspace/.kiln/kaniko/linux-$arch.digest"
"#;

/// Every version of every pod the fake had, by name (the Kaniko pods are gone at the end).
pub fn record_pods(c: &Cluster) -> Arc<Mutex<BTreeMap<String, Pod>>> {
    let seen = Arc::new(Mutex::new(BTreeMap::new()));
    let api: kube::Api<Pod> = kube::Api::namespaced(c.client.clone(), "default");
    let out = seen.clone();
    tokio::spawn(async move {
        let mut stream = api
            .watch(&WatchParams::default(), "0")
            .await
            .unwrap()
            .boxed();
        while let Some(Ok(event)) = stream.next().await {
            if let WatchEvent::Added(pod) | WatchEvent::Modified(pod) = event {
                let name = pod.metadata.name.clone().unwrap();
                out.lock().unwrap().insert(name, pod);
            }
        }
    });
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kaniko_builds_run_per_platform_and_kiln_pushes_the_index() {
    let registry = TestRegistry::start();
    let addr = registry.addr.clone();
    let c = cluster_with(FakeKubeConfig {
        nodes: vec![
            NodeConfig::new("node-amd64").label("kubernetes.io/arch", "amd64"),
            NodeConfig::new("node-arm64").label("kubernetes.io/arch", "arm64"),
        ],
        ..FakeKubeConfig::default()
    })
    .await;
    let pods = record_pods(&c);

    // What the per-platform Kaniko builds push: minimal images under the platform tags.
    let oci = Registry::new(&addr, true, None);
    let dir = tempfile::Builder::new()
        .prefix("kiln-kube-kaniko-")
        .tempdir()
        .unwrap();
    let mut digests = Vec::new();
    for arch in ["amd64", "arm64"] {
        let platform = Platform::parse(&format!("linux/{arch}")).unwrap();
        let digest = push_platform_image(&oci, "team/app", &format!("1.0-{arch}"), &platform).await;
        std::fs::write(dir.path().join(format!("digest-{arch}")), &digest).unwrap();
        digests.push((digest, platform));
        let args = [
            format!("{}/executor", dir.path().display()),
            "--context=tar:///workspace/.kiln/kaniko/context.tar.gz".into(),
            "--dockerfile=Dockerfile".into(),
            format!("--destination={addr}/team/app:1.0-{arch}"),
            "--build-arg=VERSION=1.0".into(),
            format!("--custom-platform=linux/{arch}"),
            format!("--insecure-registry={addr}"),
            format!("--digest-file=/workspace/.kiln/kaniko/linux-{arch}.digest"),
            "--cleanup".into(),
        ];
        std::fs::write(dir.path().join(format!("args-{arch}")), args.join(" ")).unwrap();
    }
    let executor = dir.path().join("executor");
    std::fs::write(&executor, STAND_IN).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&executor, std::fs::Permissions::from_mode(0o755)).unwrap();

    // Registry credentials in a docker config secret, mounted at /kaniko/.docker.
    let docker_config = format!(r#"{{"auths":{{"{addr}":{{"auth":"Y2k6czNjcmV0"}}}}}}"#);
    create_docker_config_secret(&c, "regcred", &docker_config).await;

    let config = KubeConfig::from_yaml(&format!(
        "kaniko:\n  executor: {}\n  docker_config_secret: regcred\n",
        executor.display()
    ))
    .unwrap();
    let settings = dial().await;
    let name = pod_name("kaniko");
    let ex = start(
        &c,
        &settings,
        &name,
        "spec:\n  containers:\n  - name: tools\n    image: busybox\n",
    )
    .await
    .with_image_builder(ImageBuilder {
        client: c.client.clone(),
        settings: settings.clone(),
        config: Arc::new(config),
        job: "e2e".into(),
        build: 7,
        slots: None,
        records: None,
    });
    let records = Arc::new(MemoryRecords::default());
    ex.set_image_records(records.clone());
    let ex = Arc::new(ex);
    let pipeline = format!(
        r#"pipeline {{
  agent any
  stages {{
    stage('image') {{
      steps {{
        sh 'mkdir -p app && printf "FROM scratch\\n" > app/Dockerfile && echo hi > app/hello.txt'
        kanikoBuild context: 'app', dockerfile: 'Dockerfile', destinations: ['{addr}/team/app:1.0'], buildArgs: [VERSION: '1.0'], platforms: ['linux/amd64', 'linux/arm64'], insecureRegistries: ['{addr}']
      }}
    }}
  }}
}}
"#
    );
    let (result, lines) = run_pipeline(ex.clone(), &pipeline).await;
    assert_eq!(result, BuildResult::Success, "{lines:#?}");
    for arch in ["amd64", "arm64"] {
        let args = std::fs::read_to_string(dir.path().join(format!("args-{arch}"))).unwrap();
        for want in [
            format!("[kaniko linux/{arch}] ARGS {args}"),
            format!("[kaniko linux/{arch}] DOCKER_CONFIG {docker_config}"),
            format!("[kaniko linux/{arch}] CONTEXT ./ ./Dockerfile ./hello.txt "),
            format!("[kaniko linux/{arch}] CWD /workspace"),
        ] {
            assert!(lines.contains(&want), "missing {want:?} in {lines:#?}");
        }
    }

    // One Kaniko pod per platform, on a node of its architecture, unprivileged, with the
    // docker config, workspace and agent mounted; both deleted afterwards.
    let seen = pods.lock().unwrap().clone();
    let kaniko: Vec<&Pod> = seen
        .values()
        .filter(|p| {
            p.metadata
                .name
                .as_deref()
                .unwrap()
                .starts_with(&format!("{name}-kaniko-"))
        })
        .collect();
    assert_eq!(kaniko.len(), 2, "{:?}", seen.keys());
    for pod in kaniko {
        let pod_name = pod.metadata.name.clone().unwrap();
        let arch = if pod_name.contains("-kaniko-arm64-") {
            "arm64"
        } else {
            "amd64"
        };
        let spec = pod.spec.clone().unwrap();
        assert_eq!(
            spec.node_name.as_deref(),
            Some(format!("node-{arch}").as_str())
        );
        assert_eq!(spec.node_selector.unwrap()["kubernetes.io/arch"], arch);
        let container = &spec.containers[0];
        assert_kaniko_container(container);
        // The delete was sent before the build went on; the pod goes after its grace period.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while c.fake.object("pods", "default", &pod_name).is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "{pod_name} left behind"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    // The index kiln pushed, read back from the registry.
    let (media_type, body) = oci.get_manifest("team/app", "1.0").await.unwrap();
    assert_eq!(media_type, OCI_INDEX);
    let index: ImageIndex = serde_json::from_slice(&body).unwrap();
    let got: Vec<(String, Platform)> = index
        .manifests
        .into_iter()
        .map(|m| (m.digest, m.platform.unwrap()))
        .collect();
    assert_eq!(got, digests);

    // What the build did was recorded as it happened: both pods, both images, the index.
    let recorded = records.all();
    let kinds: Vec<&str> = recorded.iter().map(|(_, s)| kind(s)).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "started").count(), 2);
    assert_eq!(kinds.iter().filter(|k| **k == "built").count(), 2);
    assert_eq!(kinds.iter().filter(|k| **k == "indexed").count(), 1);
    let key = recorded[0].0.clone();
    assert!(recorded.iter().all(|(k, _)| *k == key), "one step, one key");
    assert!(key.starts_with("1."), "a process key of build 1: {key}");

    // The same build resumed after a restart that came when amd64 was pushed, arm64 not yet
    // started: only arm64 is built, and the index is pushed.
    let partial = Arc::new(MemoryRecords::default());
    for (k, step) in &recorded {
        let amd64 = match step {
            ImageStep::Started { platform, .. } => platform.as_deref() == Some("linux/amd64"),
            ImageStep::Built(image) => image.platform.as_deref() == Some("linux/amd64"),
            ImageStep::Indexed { .. } => false,
        };
        if amd64 {
            partial.record(k, step.clone()).await.unwrap();
        }
    }
    ex.set_image_records(partial.clone());
    c.fake.clear_requests();
    let (result, lines) = run_pipeline(ex.clone(), &pipeline).await;
    assert_eq!(result, BuildResult::Success, "{lines:#?}");
    assert_eq!(pod_creates(&c), 1, "arm64 only: {lines:#?}");
    assert!(
        lines.iter().all(|l| !l.starts_with("[kaniko linux/amd64]")),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&"[kaniko linux/arm64] CWD /workspace".to_owned()),
        "{lines:#?}"
    );
    assert_eq!(partial.all().len(), recorded.len(), "{:?}", partial.all());

    // Resumed after everything was done: no pod, no push (the registry is gone).
    drop(registry);
    ex.set_image_records(partial);
    c.fake.clear_requests();
    let (result, lines) = run_pipeline(ex.clone(), &pipeline).await;
    assert_eq!(result, BuildResult::Success, "{lines:#?}");
    assert_eq!(pod_creates(&c), 0, "{lines:#?}");
    let pushed = format!("kanikoBuild: pushed the image index {addr}/team/app:1.0@");
    assert!(lines.iter().any(|l| l.starts_with(&pushed)), "{lines:#?}");
    ex.cleanup().await.unwrap();
    c.fake.shutdown().await;
}

/// Image-build records kept in memory, as the server keeps them with the build's record.
#[derive(Default)]
struct MemoryRecords(Mutex<Vec<(String, ImageStep)>>);

impl MemoryRecords {
    fn all(&self) -> Vec<(String, ImageStep)> {
        self.0.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl ImageRecords for MemoryRecords {
    fn recorded(&self, key: &str) -> Vec<ImageStep> {
        let all = self.0.lock().unwrap();
        all.iter()
            .filter(|(k, _)| k == key)
            .map(|(_, s)| s.clone())
            .collect()
    }

    async fn record(&self, key: &str, step: ImageStep) -> Result<(), String> {
        self.0.lock().unwrap().push((key.to_owned(), step));
        Ok(())
    }

    fn leaving(&self) -> bool {
        false
    }
}

fn kind(step: &ImageStep) -> &'static str {
    match step {
        ImageStep::Started { .. } => "started",
        ImageStep::Built(_) => "built",
        ImageStep::Indexed { .. } => "indexed",
    }
}

/// Pod create requests the fake saw since its request log was cleared.
fn pod_creates(c: &Cluster) -> usize {
    let requests = c.fake.requests().into_iter();
    requests
        .filter(|r| r.method == "POST" && r.path.ends_with("/pods"))
        .count()
}
