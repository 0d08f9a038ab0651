//! API requests per build after its pod watch expires (`410 Expired` after a compaction, as
//! an API server restart causes for every running build): builds with a running pod each,
//! then the fake's watch history is compacted; the requests each build makes about its pod
//! in the next seconds are counted (watches and lists). Once, and five times 200 ms apart.
//! Run with `cargo bench -p kiln-kube --bench watch_expiry --profile dev` (needs root for the
//! fake's mount namespaces). Counts, not timings: a debug build measures the same.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_diagnostics::Span;
use kiln_fake_kube::{FakeKube, FakeKubeConfig, RequestRecord};
use kiln_kube::{
    AgentInstall, AgentListener, AgentMode, AgentRequest, ExecutorSettings, KubeConfig,
    KubeExecutor, PodIdentity, PodRequest, PodText, build_pod,
};
use std::time::Duration;

const BUILDS: usize = 10;
const POD: &str = "spec:\n  containers:\n  - name: main\n    image: busybox\n";

fn request(n: usize) -> PodRequest {
    let agent = AgentRequest {
        yaml: Some(PodText::evaluated(POD.into(), Span::new(0, 0))),
        ..AgentRequest::default()
    };
    let id = PodIdentity {
        name: format!("kiln-bench-410-{}-{n}", std::process::id()),
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

fn per_build(requests: &[RequestRecord], names: &[String]) -> Vec<usize> {
    names
        .iter()
        .map(|name| {
            requests
                .iter()
                .filter(|r| r.path.contains(name.as_str()) || r.query.contains(name.as_str()))
                .count()
        })
        .collect()
}

fn report(what: &str, mut counts: Vec<usize>) {
    counts.sort_unstable();
    let total: usize = counts.iter().sum();
    println!(
        "  {what}: per build median {}, max {} ({total} in all for {BUILDS} builds)",
        counts[counts.len() / 2],
        counts[counts.len() - 1]
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let fake = FakeKube::start(FakeKubeConfig::default(), 0).await.unwrap();
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
        let mut executors = Vec::new();
        let mut names = Vec::new();
        for n in 0..BUILDS {
            let request = request(n);
            names.push(request.pod.metadata.name.clone().unwrap());
            executors.push(
                KubeExecutor::start(client.clone(), &settings, request)
                    .await
                    .unwrap(),
            );
        }
        println!("requests about each build's pod in the 5 s after its watch expired:");
        fake.clear_requests();
        fake.expire_watches();
        tokio::time::sleep(Duration::from_secs(5)).await;
        report("one 410", per_build(&fake.requests(), &names));
        fake.clear_requests();
        for _ in 0..5 {
            fake.expire_watches();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        report(
            "five 410s 200 ms apart",
            per_build(&fake.requests(), &names),
        );
        for ex in executors {
            ex.cleanup().await.unwrap();
        }
        fake.shutdown().await;
    });
}
