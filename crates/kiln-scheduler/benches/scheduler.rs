//! Scheduler benchmarks (plain `std::time`, medians):
//! 1. trigger-to-first-step latency of a `dir:` job whose first step is `sh 'true'`, on the
//!    local executor with the sled store: from the `trigger()` call to the step's stage
//!    starting and to the step's first log line, as a log follower sees them;
//! 2. 1,000 builds of one job (concurrency 1, a trivial step) queued, then drained: the time
//!    to queue and to drain, and the process's RSS with 1,000 queued and its peak (VmHWM);
//!    the RSS before queueing and with the builds queued split into anonymous and
//!    file-backed pages (the binary's code), whose difference is what the queued builds hold.
//!
//! 3. per-step overhead of a server build: one stage of 50 `sh 'true'` steps, on the local
//!    executor and in a pod of the fake cluster (kiln-fake-kube) with the agents dialling in
//!    (`controller_url`) and through port-forward; the stage's duration as the store has it,
//!    divided by the steps (median of 5 builds each).
//!
//! Run with `cargo bench -p kiln-scheduler --bench scheduler` (the Kubernetes part needs
//! root, for the fake's mount namespaces).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_engine::{BuildCause, InputAnswer};
use kiln_fake_kube::{FakeKube, FakeKubeConfig};
use kiln_kube::KubeAgent;
use kiln_scheduler::{Scheduler, SchedulerHandle, TriggerRequest};
use kiln_store::{BuildStatus, SledStore, Store};
use kiln_types::BuildRef;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const LATENCY_BUILDS: usize = 50;
const QUEUED_BUILDS: usize = 1000;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::Builder::new()
        .prefix("kiln-scheduler-bench-")
        .tempdir()
        .unwrap();
    println!(
        "scheduler benchmark (VmRSS at start: {} kB)",
        status_kb("VmRSS")
    );
    rt.block_on(latency(tmp.path()));
    rt.block_on(queued(tmp.path()));
    rt.block_on(kube_steps(tmp.path()));
}

fn setup(root: &Path, name: &str, pipeline: &str) -> (SchedulerHandle, Arc<dyn Store>) {
    let src = root.join(format!("src-{name}"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("Jenkinsfile"), pipeline).unwrap();
    let data = root.join(format!("data-{name}"));
    let yaml = format!("jobs:\n  - name: {name}\n    dir: {}\n", src.display());
    let config = Arc::new(kiln_config::parse("bench.yaml", &yaml).unwrap());
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&data.join("store")).unwrap());
    let h = Scheduler::start(config, store.clone(), data).unwrap();
    (h, store)
}

/// One stage running `steps`.
fn one_stage(steps: &str) -> String {
    format!(
        "pipeline {{\n  agent any\n  stages {{\n    stage('Build') {{\n      steps {{\n        {steps}\n      }}\n    }}\n  }}\n}}\n"
    )
}

/// A trivial build; with `HOLD=true` it first waits for an input, which holds the job's
/// only slot while the other builds queue.
const HELD: &str = "pipeline {
  agent any
  parameters { booleanParam(name: 'HOLD', defaultValue: false) }
  stages {
    stage('Hold') {
      when { expression { params.HOLD } }
      steps { input message: 'go' }
    }
    stage('Build') { steps { echo 'hi' } }
  }
}
";

fn request(job: &str) -> TriggerRequest {
    TriggerRequest::new(job, BuildCause::User("bench".into()))
}

async fn latency(root: &Path) {
    let (h, _store) = setup(root, "latency", &one_stage("sh 'true'\n        sh 'true'"));
    let mut to_stage = Vec::new();
    let mut to_line = Vec::new();
    for _ in 0..LATENCY_BUILDS {
        let start = Instant::now();
        let id = h.trigger(request("latency")).await.unwrap();
        let mut follower = h.follow_log(&id, 0);
        let mut text = String::new();
        let (mut stage, mut line) = (None, None);
        while let Some(slice) = follower.next().await {
            text.push_str(&String::from_utf8_lossy(&slice.unwrap().bytes));
            if stage.is_none() && text.contains("[Build] Stage started\n") {
                stage = Some(start.elapsed());
            }
            if line.is_none() && text.contains("[Build] + true\n") {
                line = Some(start.elapsed());
            }
        }
        assert!(text.ends_with("Finished: SUCCESS\n"), "{text}");
        to_stage.push(stage.unwrap());
        to_line.push(line.unwrap());
    }
    println!(
        "trigger -> stage started ({LATENCY_BUILDS} builds): median {:.2} ms, p90 {:.2} ms",
        ms(median(&mut to_stage)),
        ms(percentile(&mut to_stage, 0.9))
    );
    println!(
        "trigger -> first line of `sh 'true'`: median {:.2} ms, p90 {:.2} ms",
        ms(median(&mut to_line)),
        ms(percentile(&mut to_line, 0.9))
    );
    h.shutdown().await;
}

async fn queued(root: &Path) {
    let (h, store) = setup(root, "drain", HELD);
    let hwm_before = status_kb("VmHWM");
    let before = Resident::now();
    let holder = h
        .trigger(request("drain").param("HOLD", "true"))
        .await
        .unwrap();
    let start = Instant::now();
    let mut ids = Vec::with_capacity(QUEUED_BUILDS);
    for _ in 0..QUEUED_BUILDS {
        ids.push(h.trigger(request("drain")).await.unwrap());
    }
    let queue_time = start.elapsed();
    let rss_queued = status_kb("VmRSS");
    let queued_split = Resident::now();
    let queued_now = h.stats().queued;
    loop {
        let answer = InputAnswer::Proceed {
            values: Default::default(),
            by: "bench".into(),
        };
        if h.answer_input(&holder, answer).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drain = Instant::now();
    let last = ids.last().unwrap().clone();
    wait_finished(store.as_ref(), &last).await;
    let drain_time = drain.elapsed();
    for id in &ids {
        let b = store.get_build(id).unwrap().unwrap();
        assert_eq!(b.result, Some(kiln_types::BuildResult::Success));
    }
    println!(
        "{QUEUED_BUILDS} builds: queued in {:.2} s ({:.2} ms/trigger), drained in {:.2} s ({:.2} ms/build)",
        queue_time.as_secs_f64(),
        ms(queue_time) / QUEUED_BUILDS as f64,
        drain_time.as_secs_f64(),
        ms(drain_time) / QUEUED_BUILDS as f64
    );
    println!(
        "memory: VmRSS {rss_queued} kB with {queued_now} builds queued; VmHWM {hwm_before} kB before queueing, {} kB after draining",
        status_kb("VmHWM")
    );
    println!(
        "memory: before queueing {before}; with the builds queued {queued_split}; the queued builds' anonymous memory {} kB",
        queued_split.anon.saturating_sub(before.anon)
    );
    h.shutdown().await;
}

/// The process's resident memory split: anonymous (heap, stacks, sled's buffers) and
/// file-backed (mostly the binary's own code pages, which grow with the code linked in,
/// not with what the process holds).
struct Resident {
    rss: u64,
    anon: u64,
    file: u64,
}

impl Resident {
    fn now() -> Resident {
        Resident {
            rss: status_kb("VmRSS"),
            anon: status_kb("RssAnon"),
            file: status_kb("RssFile"),
        }
    }
}

impl std::fmt::Display for Resident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "VmRSS {} kB (RssAnon {} kB, RssFile {} kB)",
            self.rss, self.anon, self.file
        )
    }
}

async fn wait_finished(store: &dyn Store, id: &BuildRef) {
    loop {
        let b = store.get_build(id).unwrap().unwrap();
        if b.status == BuildStatus::Finished {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn status_kb(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(v: &mut [Duration]) -> Duration {
    percentile(v, 0.5)
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

const STEPS: usize = 50;
const STEP_BUILDS: usize = 5;

/// The median per-step time of `STEP_BUILDS` builds of one stage of `STEPS` `true` steps.
async fn per_step(root: &Path, name: &str, agent: &str, executors: &str, kube: KubeAgent) -> f64 {
    let src = root.join(format!("src-{name}"));
    std::fs::create_dir_all(&src).unwrap();
    let steps = vec!["sh 'true'"; STEPS].join("\n        ");
    let pipeline = format!(
        "pipeline {{\n  agent {agent}\n  stages {{\n    stage('Steps') {{\n      steps {{\n        {steps}\n      }}\n    }}\n  }}\n}}\n"
    );
    std::fs::write(src.join("Jenkinsfile"), pipeline).unwrap();
    let data = root.join(format!("data-{name}"));
    let yaml = format!(
        "{executors}jobs:\n  - name: {name}\n    dir: {}\n",
        src.display()
    );
    let config = Arc::new(kiln_config::parse("bench.yaml", &yaml).unwrap());
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&data.join("store")).unwrap());
    let clock = Arc::new(kiln_scheduler::SystemClock);
    let h = Scheduler::start_with_backend(
        config.clone(),
        store.clone(),
        data,
        clock,
        kube_backend(&config, kube),
    )
    .unwrap();
    let mut per_step = Vec::new();
    for _ in 0..STEP_BUILDS {
        let id = h.trigger(request(name)).await.unwrap();
        wait_finished(store.as_ref(), &id).await;
        let b = store.get_build(&id).unwrap().unwrap();
        assert_eq!(b.result, Some(kiln_types::BuildResult::Success), "{name}");
        let stage_ms = b.stages[0].duration_ms.unwrap();
        per_step.push(Duration::from_micros(stage_ms * 1000 / STEPS as u64));
    }
    h.shutdown().await;
    ms(median(&mut per_step))
}

async fn kube_steps(root: &Path) {
    let fake = FakeKube::start(FakeKubeConfig::default(), 0).await.unwrap();
    let kubeconfig = root.join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig).unwrap();
    let agent_binary = kiln_fake_kube::workspace_binary("kiln-agent", "kiln-agent").unwrap();
    let kube = |base_port| KubeAgent {
        install_command: Some(vec![
            agent_binary.display().to_string(),
            "--install".into(),
            kiln_kube::AGENT_BINARY.into(),
        ]),
        base_port,
    };
    let section = format!(
        "executors:\n  kubernetes:\n    connection: {{kubeconfig: {{path: '{}'}}}}\n",
        kubeconfig.display()
    );
    let pod = "{ kubernetes { yaml 'spec: {containers: [{name: main, image: busybox}]}' } }";
    let local = per_step(root, "steps-local", "any", "", kube(free_port())).await;
    let port = free_port();
    let dial = format!(
        "{section}    controller_url: tcp://127.0.0.1:{port}\n    agent_listen: 127.0.0.1:{port}\n"
    );
    let dialled = per_step(root, "steps-dial", pod, &dial, kube(free_port())).await;
    let forwarded = per_step(root, "steps-forward", pod, &section, kube(free_port())).await;
    println!(
        "per step in a server build ({STEPS} `sh 'true'`, median of {STEP_BUILDS} builds): local {local:.2} ms; in a pod, agents dialling in {dialled:.2} ms (+{:.2} ms), port-forward {forwarded:.2} ms (+{:.2} ms)",
        dialled - local,
        forwarded - local
    );
    fake.shutdown().await;
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
