//! Stage pods benchmark (plain `std::time`, medians of `BUILDS` server builds against the
//! fake cluster, agents dialling kiln): what a stage with a `kubernetes { }` agent of its own
//! costs next to a stage running in the build's pod. Each build runs one `sh 'true'` per
//! stage; the stage duration is the store's (for a stage pod it includes making the pod,
//! waiting for its agents, uploading the workspace, the step, and releasing the pod); the
//! build duration is from the build's start to its end.
//!
//! Run with `cargo bench -p kiln-scheduler --bench stage_pods` (needs root, for the fake's
//! mount namespaces).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_engine::BuildCause;
use kiln_fake_kube::{FakeKube, FakeKubeConfig};
use kiln_kube::KubeAgent;
use kiln_scheduler::{Scheduler, TriggerRequest};
use kiln_store::{BuildStatus, SledStore, Store};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const BUILDS: usize = 7;
const POD: &str = "kubernetes { yaml 'spec: {containers: [{name: main, image: busybox}]}' }";

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::Builder::new()
        .prefix("kiln-stage-pods-bench-")
        .tempdir()
        .unwrap();
    rt.block_on(run(tmp.path()));
}

async fn run(root: &Path) {
    let fake = FakeKube::start(FakeKubeConfig::default(), 0).await.unwrap();
    let kubeconfig = root.join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig).unwrap();
    let build_pod = format!(
        "pipeline {{\n  agent {{ {POD} }}\n  stages {{\n    stage('A') {{ steps {{ sh 'true' }} }}\n  }}\n}}\n"
    );
    let stage_pod = format!(
        "pipeline {{\n  agent none\n  stages {{\n    stage('A') {{\n      agent {{ {POD} }}\n      steps {{ sh 'true' }}\n    }}\n  }}\n}}\n"
    );
    let branch = |name: &str| {
        format!(
            "      stage('{name}') {{\n        agent {{ {POD} }}\n        steps {{ sh 'true' }}\n      }}\n"
        )
    };
    let parallel = format!(
        "pipeline {{\n  agent none\n  stages {{\n    stage('Both') {{\n      parallel {{\n{}{}      }}\n    }}\n  }}\n}}\n",
        branch("A"),
        branch("B")
    );
    let in_build_pod = measure(root, &kubeconfig, "build-pod", &build_pod).await;
    let in_stage_pod = measure(root, &kubeconfig, "stage-pod", &stage_pod).await;
    let two_parallel = measure(root, &kubeconfig, "two-stage-pods", &parallel).await;
    println!(
        "stage pods (median of {BUILDS} builds, one `sh 'true'` per stage, agents dialling in):"
    );
    println!(
        "  stage in the build's pod: stage {:.1} ms, build {:.1} ms",
        in_build_pod.0, in_build_pod.1
    );
    println!(
        "  stage in a pod of its own (agent none): stage {:.1} ms (+{:.1} ms for its pod), build {:.1} ms",
        in_stage_pod.0,
        in_stage_pod.0 - in_build_pod.0,
        in_stage_pod.1
    );
    println!(
        "  two parallel branches with pods of their own: build {:.1} ms ({:.2}x one stage pod's build)",
        two_parallel.1,
        two_parallel.1 / in_stage_pod.1
    );
    fake.shutdown().await;
}

/// Median (first stage's duration, build duration) in ms of `BUILDS` builds of `pipeline`.
async fn measure(root: &Path, kubeconfig: &Path, name: &str, pipeline: &str) -> (f64, f64) {
    let src = root.join(format!("src-{name}"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("Jenkinsfile"), pipeline).unwrap();
    std::fs::write(src.join("input.txt"), "input\n").unwrap();
    let port = kiln_fake_kube::free_agent_ports(1);
    let yaml = format!(
        "executors:\n  kubernetes:\n    connection: {{kubeconfig: {{path: '{}'}}}}\n    controller_url: tcp://127.0.0.1:{port}\n    agent_listen: 127.0.0.1:{port}\njobs:\n  - name: {name}\n    dir: {}\n",
        kubeconfig.display(),
        src.display()
    );
    let data = root.join(format!("data-{name}"));
    let config = Arc::new(kiln_config::parse("bench.yaml", &yaml).unwrap());
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&data.join("store")).unwrap());
    let agent_binary = kiln_fake_kube::workspace_binary("kiln-agent", "kiln-agent").unwrap();
    let agent = KubeAgent {
        install_command: Some(vec![
            agent_binary.display().to_string(),
            "--install".into(),
            kiln_kube::AGENT_BINARY.into(),
        ]),
        base_port: kiln_fake_kube::free_agent_ports(1),
    };
    let clock = Arc::new(kiln_scheduler::SystemClock);
    let h = Scheduler::start_with_backend(
        config.clone(),
        store.clone(),
        data,
        clock,
        kube_backend(&config, agent),
    )
    .unwrap();
    let (mut stages, mut builds) = (Vec::new(), Vec::new());
    for _ in 0..BUILDS {
        let request = TriggerRequest::new(name, BuildCause::User("bench".into()));
        let id = h.trigger(request).await.unwrap();
        let b = loop {
            let b = store.get_build(&id).unwrap().unwrap();
            if b.status == BuildStatus::Finished {
                break b;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert_eq!(b.result, Some(kiln_types::BuildResult::Success), "{name}");
        let stage = b.stages.iter().find_map(|s| s.duration_ms).unwrap();
        stages.push(stage as f64);
        builds.push((b.finished_at_ms.unwrap() - b.started_at_ms.unwrap()) as f64);
    }
    h.shutdown().await;
    (median(&mut stages), median(&mut builds))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The Kubernetes backend of `config`'s `executors.kubernetes`, as `kiln server` makes it.
fn kube_backend(
    config: &kiln_config::Config,
    agent: KubeAgent,
) -> Option<Arc<dyn kiln_backend::ExecutionBackend>> {
    let section = config.executors.kubernetes.as_ref()?;
    Some(Arc::new(
        kiln_kube::KubeBackend::for_server(section, agent, &config.server.data_dir).unwrap(),
    ))
}
