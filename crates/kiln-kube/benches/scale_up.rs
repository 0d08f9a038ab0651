//! Start latency on an autoscaled cluster: a pod only a new node can take is created, the
//! fake's autoscaler answers `TriggeredScaleUp` and its node joins `DELAY` later; measured is
//! the time from the pod-create request to the agents being ready, and what kiln adds on top
//! of the node's arrival (the same pod started on a cluster that already has the node is the
//! baseline). Run with `cargo bench -p kiln-kube --bench scale_up --profile dev` (needs root
//! for the fake's mount namespaces).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_diagnostics::Span;
use kiln_fake_kube::{AutoscalerConfig, FakeKube, FakeKubeConfig, NodeConfig};
use kiln_kube::{
    AgentInstall, AgentListener, AgentMode, AgentRequest, ExecutorSettings, KubeConfig,
    KubeExecutor, PodIdentity, PodRequest, PodText, build_pod,
};
use std::time::Duration;

const RUNS: usize = 5;
const DELAY: Duration = Duration::from_secs(2);
const POD: &str =
    "spec:\n  nodeSelector: {pool: big}\n  containers:\n  - name: main\n    image: busybox\n";

fn request(n: usize) -> PodRequest {
    let agent = AgentRequest {
        yaml: Some(PodText::evaluated(POD.into(), Span::new(0, 0))),
        ..AgentRequest::default()
    };
    let id = PodIdentity {
        name: format!("kiln-bench-scale-{}-{n}", std::process::id()),
        job: "bench".into(),
        build: n as u64,
    };
    let built = build_pod(&KubeConfig::default(), &agent, &id).unwrap();
    PodRequest {
        pod: built.pod,
        namespace: built.namespace,
        default_container: Some(built.default_container),
        start_log: kiln_kube::StartLog::none(),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// One start on a fresh fake; `scale_up`: the node comes from the autoscaler, else it is
/// there from the start.
async fn one_start(n: usize, scale_up: bool) -> Duration {
    let fake = FakeKube::start(FakeKubeConfig::default(), 0).await.unwrap();
    let big = NodeConfig::new("big").label("pool", "big");
    if scale_up {
        fake.set_autoscaler(Some(AutoscalerConfig {
            template: big,
            ..AutoscalerConfig::new(DELAY, 1)
        }));
    } else {
        fake.set_node(&big);
    }
    let config = kube::Config::new(fake.url().parse().unwrap());
    let client = kiln_kube::limited_client(config, &kiln_kube::ApiLimits::default()).unwrap();
    let listener = AgentListener::bind("127.0.0.1:0").await.unwrap();
    let mode = AgentMode::Dial {
        agent_url: format!("tcp://{}", listener.local_addr()),
        listener,
    };
    let mut install = AgentInstall::new("kiln-agent-bench");
    let agent = kiln_fake_kube::workspace_binary("kiln-agent", "kiln-agent").unwrap();
    install.command = vec![
        agent.display().to_string(),
        "--install".into(),
        kiln_kube::AGENT_BINARY.into(),
    ];
    let settings = ExecutorSettings::new(install, mode);
    let ex = KubeExecutor::start(client, &settings, request(n))
        .await
        .unwrap();
    let t = ex.timings().unwrap();
    let took = t.agents_ready - t.pod_create_sent;
    ex.cleanup().await.unwrap();
    fake.shutdown().await;
    took
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut baseline = Vec::new();
        let mut scaled = Vec::new();
        for n in 0..RUNS {
            baseline.push(one_start(n, false).await);
            scaled.push(one_start(n, true).await);
        }
        let (baseline, scaled) = (median(baseline), median(scaled));
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        println!("pod-create request -> agents ready ({RUNS} runs, medians):");
        println!("  node already there:             {}", ms(baseline));
        println!(
            "  node added by a scale-up ({} s): {}",
            DELAY.as_secs(),
            ms(scaled)
        );
        println!(
            "  after the node's arrival:       {} (scale-up minus its delay)",
            ms(scaled.saturating_sub(DELAY))
        );
    });
}
