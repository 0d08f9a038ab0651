//! Trigger to first step from a warm pod, against the fake cluster: `PodSource::acquire` for a
//! build its template's pool serves, then the first step's first output line. Compared with a
//! build that needs a new pod (created, watched until running, agents connected).
//!
//! Run: `cargo bench -p kiln-kube --bench warm_pool` (needs root for the fake's mount
//! namespaces; builds `kiln-agent` in release mode when it is missing).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_diagnostics::{Span, Spanned};
use kiln_executor::{Executor, ProcessSpec};
use kiln_fake_kube::{FakeKube, FakeKubeConfig};
use kiln_kube::{
    AgentInstall, AgentListener, AgentMode, AgentRequest, BuiltPod, ExecutorSettings, KubeConfig,
    PodIdentity, PodOutcome, PodSource, build_pod,
};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const WARM_RUNS: usize = 40;
const COLD_RUNS: usize = 8;

fn agent_binary() -> PathBuf {
    kiln_fake_kube::workspace_binary("kiln-agent", "kiln-agent").unwrap()
}

fn built(config: &KubeConfig, label: &str, n: u64) -> BuiltPod {
    let agent = AgentRequest {
        label: Some(Spanned::new(label.to_owned(), Span::new(0, 0))),
        ..AgentRequest::default()
    };
    let id = PodIdentity {
        name: format!("kiln-bench-{}-{n}", std::process::id()),
        job: "bench".to_owned(),
        build: n,
    };
    build_pod(config, &agent, &id).unwrap()
}

/// Trigger to the first output line of the first step.
async fn trigger_to_first_step(source: &PodSource, built: BuiltPod, n: u64) -> Duration {
    let begun = Instant::now();
    let pod = source.acquire(built, "bench", n, |_| {}).await.unwrap();
    let executor = pod.executor();
    let spec = ProcessSpec::new(vec!["sh".into(), "-c".into(), "echo first".into()]);
    let mut handle = executor.spawn(spec).await.unwrap();
    let chunk = handle.next_chunk().await.unwrap();
    let elapsed = begun.elapsed();
    assert_eq!(chunk.bytes.as_slice(), b"first\n");
    handle.wait().await.unwrap();
    drop(executor);
    source.release(pod, PodOutcome::Clean).await.unwrap();
    elapsed
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let fake = FakeKube::start(FakeKubeConfig::default(), 0).await.unwrap();
    let client = kube::Client::try_from(kube::Config::new(fake.url().parse().unwrap())).unwrap();
    let listener = AgentListener::bind("127.0.0.1:0").await.unwrap();
    let mut install = AgentInstall::new("kiln-agent-bench");
    install.command = vec![
        agent_binary().display().to_string(),
        "--install".into(),
        kiln_kube::AGENT_BINARY.into(),
    ];
    let mode = AgentMode::Dial {
        agent_url: format!("tcp://{}", listener.local_addr()),
        listener,
    };
    let settings = ExecutorSettings::new(install, mode);
    let config = KubeConfig::from_yaml(
        "templates:\n- name: warm\n  labels: [warm]\n  containers: [{name: tools, image: busybox}]\n  pool: {min: 1, max: 1, idle_ttl_seconds: 600}\n- name: cold\n  labels: [cold]\n  containers: [{name: tools, image: busybox}]\n",
    )
    .unwrap();
    let source = PodSource::start(client, settings, &config).unwrap();
    let pool = source.pool("warm").unwrap().clone();
    let mut warm = Vec::new();
    for n in 0..WARM_RUNS as u64 {
        pool.wait_for(|c| c.idle == 1).await;
        warm.push(trigger_to_first_step(&source, built(&config, "warm", n), n).await);
    }
    let mut cold = Vec::new();
    for n in 0..COLD_RUNS as u64 {
        let b = built(&config, "cold", 1000 + n);
        cold.push(trigger_to_first_step(&source, b, 1000 + n).await);
    }
    let (warm, cold) = (median(warm), median(cold));
    println!(
        "trigger to first step, warm pod: median {warm:?} over {WARM_RUNS} builds (goal < 100 ms)"
    );
    println!("trigger to first step, new pod:  median {cold:?} over {COLD_RUNS} builds");
    println!(
        "new pod / warm pod: {:.1}x",
        cold.as_secs_f64() / warm.as_secs_f64().max(1e-9)
    );
    source.shutdown().await;
    fake.shutdown().await;
}
