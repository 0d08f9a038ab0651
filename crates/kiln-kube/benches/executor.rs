//! The Kubernetes executor against the fake cluster: controller time from trigger to the
//! pod-create request, from all containers Running to the first step running, per-step
//! overhead in a pod (vs. the local runner), and API requests per build; for both ways of
//! reaching the agents. Plain std::time, medians. Run with
//! `cargo bench -p kiln-kube --bench executor` (needs root for the fake's mount namespaces).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_diagnostics::Span;
use kiln_executor::{Executor, ProcessSpec};
use kiln_fake_kube::{FakeKube, FakeKubeConfig};
use kiln_kube::{
    AgentInstall, AgentListener, AgentMode, AgentRequest, ExecutorSettings, KubeConfig,
    KubeExecutor, PodIdentity, PodRequest, PodText, build_pod,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const BUILDS: usize = 15;
const STEPS: usize = 50;
const POD: &str = "spec:\n  containers:\n  - name: main\n    image: busybox\n  - name: tools\n    image: alpine\n";

fn agent_binary() -> PathBuf {
    kiln_fake_kube::workspace_binary("kiln-agent", "kiln-agent").unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn free_base_port() -> u16 {
    loop {
        let p = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if p < 65000 && (p..p + 2).all(|q| std::net::TcpListener::bind(("127.0.0.1", q)).is_ok()) {
            return p;
        }
    }
}

struct Sample {
    to_create: Duration,
    running_to_first_step: Duration,
    requests: usize,
    /// The build's requests one by one, e.g. `POST secrets`, `WATCH pods`.
    listed: Vec<String>,
}

/// A request as `METHOD resource[/NAME/subresource]` (watches as `WATCH`).
fn label(r: &kiln_fake_kube::RequestRecord) -> String {
    let parts: Vec<&str> = r.path.split('/').collect();
    let at = parts
        .iter()
        .position(|p| *p == "namespaces")
        .map_or(0, |i| i + 2);
    let mut what: Vec<&str> = parts.iter().skip(at).copied().collect();
    if what.len() > 1 {
        what[1] = "NAME";
    }
    let method = if r.watch { "WATCH" } else { r.method.as_str() };
    format!("{method} {}", what.join("/"))
}

async fn one_build(fake: &FakeKube, client: &kube::Client, mode: AgentMode, n: usize) -> Sample {
    let mut install = AgentInstall::new("kiln-agent-bench");
    install.command = vec![
        agent_binary().display().to_string(),
        "--install".into(),
        kiln_kube::AGENT_BINARY.into(),
    ];
    let settings = ExecutorSettings::new(install, mode);
    fake.clear_requests();
    let trigger = Instant::now();
    let agent = AgentRequest {
        yaml: Some(PodText::evaluated(POD.into(), Span::new(0, 0))),
        ..AgentRequest::default()
    };
    let id = PodIdentity {
        name: format!("kiln-bench-{}-{n}", std::process::id()),
        job: "bench".into(),
        build: n as u64,
    };
    let built = build_pod(&KubeConfig::default(), &agent, &id).unwrap();
    let request = PodRequest {
        pod: built.pod,
        namespace: built.namespace,
        default_container: Some(built.default_container),
        start_log: kiln_kube::StartLog::none(),
    };
    let ex = KubeExecutor::start(client.clone(), &settings, request)
        .await
        .unwrap();
    let mut first = ex
        .spawn(ProcessSpec::new(vec!["echo".into(), "go".into()]))
        .await
        .unwrap();
    first.next_chunk().await.unwrap();
    let first_output = Instant::now();
    first.wait().await.unwrap();
    let t = ex.timings().unwrap();
    ex.cleanup().await.unwrap();
    Sample {
        to_create: t.pod_create_sent.into_std() - trigger,
        running_to_first_step: first_output - t.running_seen.into_std(),
        requests: fake.requests().len(),
        listed: fake.requests().iter().map(label).collect(),
    }
}

async fn step_overhead(ex: &KubeExecutor) -> (Duration, Duration, Duration) {
    let mut pod = Vec::new();
    let mut big = Vec::new();
    let mut local = Vec::new();
    let spec = ProcessSpec::new(vec!["true".into()]);
    // A step whose Spawn is larger than one 4 KiB port-forward message (a big environment).
    let mut big_spec = spec.clone();
    big_spec.env = (0..64)
        .map(|i| (format!("VAR_{i}"), "x".repeat(250)))
        .collect();
    for _ in 0..STEPS {
        let started = Instant::now();
        ex.spawn(spec.clone()).await.unwrap().wait().await.unwrap();
        pod.push(started.elapsed());
        let started = Instant::now();
        ex.spawn(big_spec.clone())
            .await
            .unwrap()
            .wait()
            .await
            .unwrap();
        big.push(started.elapsed());
        let started = Instant::now();
        kiln_executor::process::spawn_local(spec.clone(), Path::new("/"))
            .await
            .unwrap()
            .wait()
            .await
            .unwrap();
        local.push(started.elapsed());
    }
    (median(pod), median(big), median(local))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let fake = FakeKube::start(FakeKubeConfig::default(), 0).await.unwrap();
        // kiln's client (TCP_NODELAY, API limits); KILN_BENCH_KUBE_CLIENT=default: kube's own.
        let config = kube::Config::new(fake.url().parse().unwrap());
        let client = if std::env::var("KILN_BENCH_KUBE_CLIENT").as_deref() == Ok("default") {
            kube::Client::try_from(config).unwrap()
        } else {
            kiln_kube::limited_client(config, &kiln_kube::ApiLimits::default()).unwrap()
        };
        let listener = AgentListener::bind("127.0.0.1:0").await.unwrap();
        let dial = AgentMode::Dial { agent_url: format!("tcp://{}", listener.local_addr()), listener };
        for (name, make) in [("port-forward", None), ("dial-in", Some(dial))] {
            let mut samples = Vec::new();
            for n in 0..BUILDS {
                let mode = make.clone().unwrap_or(AgentMode::PortForward { base_port: free_base_port() });
                samples.push(one_build(&fake, &client, mode, n).await);
            }
            let mode = make.clone().unwrap_or(AgentMode::PortForward { base_port: free_base_port() });
            let mut install = AgentInstall::new("kiln-agent-bench");
            install.command = vec![agent_binary().display().to_string(), "--install".into(), kiln_kube::AGENT_BINARY.into()];
            let agent = AgentRequest { yaml: Some(PodText::evaluated(POD.into(), Span::new(0, 0))), ..AgentRequest::default() };
            let id = PodIdentity { name: format!("kiln-bench-steps-{name}"), job: "bench".into(), build: 1 };
            let built = build_pod(&KubeConfig::default(), &agent, &id).unwrap();
            let request = PodRequest { pod: built.pod, namespace: built.namespace, default_container: Some(built.default_container), start_log: kiln_kube::StartLog::none() };
            let ex = KubeExecutor::start(client.clone(), &ExecutorSettings::new(install, mode), request).await.unwrap();
            fake.clear_requests();
            let (pod, big, local) = step_overhead(&ex).await;
            let step_requests = fake.requests().len();
            ex.cleanup().await.unwrap();
            let mut requests: Vec<usize> = samples.iter().map(|s| s.requests).collect();
            requests.sort_unstable();
            println!("{name} ({BUILDS} builds, 2 containers, {STEPS} steps):");
            println!("  trigger -> pod-create request   median {}", ms(median(samples.iter().map(|s| s.to_create).collect())));
            println!("  Running -> first step output    median {}", ms(median(samples.iter().map(|s| s.running_to_first_step).collect())));
            println!("  step `true` in the pod          median {}", ms(pod));
            println!("  step `true` locally             median {}", ms(local));
            println!("  step with a 16 KiB environment  median {}", ms(big));
            println!("  per-step overhead in a pod      median {} ({:.2}x local)", ms(pod.saturating_sub(local)), pod.as_secs_f64() / local.as_secs_f64());
            println!("  API requests per build          median {} (min {}, max {}); during {STEPS} steps: {step_requests}", requests[requests.len() / 2], requests[0], requests[requests.len() - 1]);
            let median_build = samples.iter().find(|s| s.requests == requests[requests.len() / 2]).unwrap();
            println!("  requests of a median build      {}", median_build.listed.join(", "));
        }
        fake.shutdown().await;
    });
}
