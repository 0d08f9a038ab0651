//! `max_concurrent_pods` against the fake: warm pool pods hold slots, a build that finds none
//! free takes an idle warm pod's slot, else waits (told how many pods are in use) and starts
//! when a slot frees; a waiting build that is dropped (cancelled) leaves the line.

use crate::harness::*;
use kiln_diagnostics::Span;
use kiln_kube::{
    AgentRequest, BuiltPod, KubeConfig, PodIdentity, PodOutcome, PodSource, PodText, SlotCounts,
    build_pod,
};
use std::sync::Arc;
use tokio::sync::mpsc;

const CONFIG: &str = "
max_concurrent_pods: 1
templates:
- name: tools
  labels: [tools]
  containers:
  - name: tools
    image: busybox
  pool: {min: 1, max: 1}
";

/// A build pod no pool serves (the pipeline gives its own YAML).
fn own_pod(config: &KubeConfig, build: u64) -> BuiltPod {
    let agent = AgentRequest {
        yaml: Some(PodText::evaluated(
            "spec:\n  containers:\n  - name: main\n    image: busybox\n".into(),
            Span::new(0, 0),
        )),
        ..AgentRequest::default()
    };
    let id = PodIdentity {
        name: pod_name("slots"),
        job: "app".into(),
        build,
    };
    build_pod(config, &agent, &id).unwrap_or_else(|d| panic!("{d:?}"))
}

fn pod_posts(c: &Cluster) -> Vec<String> {
    c.fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/pods"))
        .map(|r| r.path)
        .collect()
}

/// Starts acquiring a pod for `build` in a task; what it is told while waiting arrives on
/// the returned receiver.
fn acquire_in_task(
    source: &Arc<PodSource>,
    built: BuiltPod,
    build: u64,
) -> (
    tokio::task::JoinHandle<kiln_kube::BuildPod>,
    mpsc::UnboundedReceiver<SlotCounts>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let source = source.clone();
    let task = tokio::spawn(async move {
        source
            .acquire(built, "app", build, move |counts| {
                tx.send(counts).unwrap();
            })
            .await
            .unwrap()
    });
    (task, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_wait_for_a_pod_slot_and_warm_pods_hold_and_yield_theirs() {
    let c = cluster().await;
    let config = KubeConfig::from_yaml(CONFIG).unwrap();
    let source = Arc::new(PodSource::start(c.client.clone(), dial().await, &config).unwrap());
    let pool = source.pool("tools").unwrap().clone();
    pool.wait_for(|n| n.idle == 1).await;
    let full = SlotCounts {
        in_use: 1,
        limit: 1,
    };
    assert_eq!(source.slots().counts(), full);

    // The only slot is the warm pod's: a build of another pod takes it (the warm pod is
    // deleted) instead of waiting.
    let (first, mut told) = acquire_in_task(&source, own_pod(&config, 1), 1);
    let first = first.await.unwrap();
    assert!(told.try_recv().is_err(), "the first build did not wait");
    assert_eq!(pool.counts().idle, 0);
    assert_eq!(source.slots().counts(), full);
    // (The warm pod's delete is sent in the background.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !c
        .fake
        .requests()
        .iter()
        .any(|r| r.method == "DELETE" && r.path.contains("/pods/kiln-pool-tools-"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            c.fake.requests()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // The next build waits and says why; dropped while waiting (cancelled), it leaves the
    // line without a pod.
    c.fake.clear_requests();
    let (second, mut told) = acquire_in_task(&source, own_pod(&config, 2), 2);
    assert_eq!(told.recv().await, Some(full));
    assert_eq!(full.to_string(), "1 of 1 pods in use");
    second.abort();
    assert!(second.await.is_err_and(|e| e.is_cancelled()));

    // A third waits too, and starts when the first build's pod is released; the warm pool,
    // short of slots meanwhile, refills once the third build is done.
    let (third, mut told) = acquire_in_task(&source, own_pod(&config, 3), 3);
    assert_eq!(told.recv().await, Some(full));
    assert!(pod_posts(&c).is_empty(), "{:?}", c.fake.requests());
    source.release(first, PodOutcome::Clean).await.unwrap();
    let third = third.await.unwrap();
    assert_eq!(pod_posts(&c).len(), 1, "{:?}", c.fake.requests());
    assert_eq!(source.slots().counts(), full);
    assert_eq!(pool.counts().starting + pool.counts().idle, 0);
    source.release(third, PodOutcome::Clean).await.unwrap();
    pool.wait_for(|n| n.idle == 1).await;
    assert_eq!(source.slots().counts(), full);

    source.shutdown().await;
    c.fake.shutdown().await;
}
