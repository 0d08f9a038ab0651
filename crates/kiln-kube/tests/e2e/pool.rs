//! Warm pools against the fake: a build takes the warm pod (no pod is created for it), the pool
//! refills, idle pods above `min` expire, a returned pod's workspace is wiped, a failed
//! build's pod is deleted.

use crate::harness::*;
use crate::pipelines::run_pipeline;
use kiln_diagnostics::{Span, Spanned};
use kiln_engine::BuildResult;
use kiln_kube::{
    AgentRequest, BuiltPod, KubeConfig, PodIdentity, PodOutcome, PodSource, PoolCounts, build_pod,
};

const CONFIG: &str = "
templates:
- name: tools
  labels: [tools]
  containers:
  - name: tools
    image: busybox
  pool: {min: 1, max: 2, idle_ttl_seconds: 1}
";

fn build_for(config: &KubeConfig, job: &str, build: u64) -> BuiltPod {
    let agent = AgentRequest {
        label: Some(Spanned::new("tools".to_owned(), Span::new(0, 0))),
        ..AgentRequest::default()
    };
    let id = PodIdentity {
        name: pod_name("pooled"),
        job: job.to_owned(),
        build,
    };
    build_pod(config, &agent, &id).unwrap_or_else(|d| panic!("{d:?}"))
}

fn posts_of_pods(c: &Cluster) -> usize {
    c.fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/pods"))
        .count()
}

fn deletes_of(c: &Cluster, pod: &str) -> usize {
    c.fake
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE" && r.path.ends_with(&format!("/pods/{pod}")))
        .count()
}

const WRITE: &str = "pipeline {\n  agent any\n  stages {\n    stage('s') {\n      steps {\n        sh 'test ! -e out.txt && echo clean; echo built > out.txt'\n      }\n    }\n  }\n}\n";
const FAIL: &str = "pipeline {\n  agent any\n  stages {\n    stage('s') {\n      steps {\n        sh 'test ! -e out.txt && echo clean; exit 3'\n      }\n    }\n  }\n}\n";

#[tokio::test]
async fn builds_take_warm_pods_the_pool_refills_and_idle_pods_expire() {
    let c = cluster().await;
    let config = KubeConfig::from_yaml(CONFIG).unwrap();
    let source = PodSource::start(c.client.clone(), dial().await, &config).unwrap();
    let pool = source.pool("tools").unwrap().clone();
    pool.wait_for(|n| n.idle == 1).await;

    // A build of the template takes the warm pod: no pod is created for it.
    c.fake.clear_requests();
    let lease = source
        .acquire(build_for(&config, "app", 1), "app", 1, |_| {})
        .await
        .unwrap();
    assert_eq!(lease.pool(), Some("tools"));
    let first = lease.executor().pod_name().to_owned();
    assert!(first.starts_with("kiln-pool-tools-"), "{first}");
    assert_eq!(posts_of_pods(&c), 0, "{:?}", c.fake.requests());
    let (result, lines) = run_pipeline(lease.executor(), WRITE).await;
    assert_eq!(result, BuildResult::Success, "{lines:#?}");
    assert!(lines.iter().any(|l| l == "clean"), "{lines:#?}");

    // The pool refilled in the background: one pod created, not the build's.
    pool.wait_for(|n| n.idle == 1 && n.lent == 1).await;
    assert_eq!(posts_of_pods(&c), 1);
    let labels = c.fake.object("pods", "default", &first).unwrap()["metadata"]["labels"].clone();
    assert_eq!(labels["kiln.dev/job"], "app", "{labels}");

    // A clean build's pod goes back (workspace wiped); idle pods above min expire after
    // the TTL, oldest first: the refilled pod, not the one just returned.
    source.release(lease, PodOutcome::Clean).await.unwrap();
    assert_eq!(
        pool.counts(),
        PoolCounts {
            idle: 2,
            starting: 0,
            lent: 0
        }
    );
    pool.wait_for(|n| n.idle == 1).await;
    assert_eq!(deletes_of(&c, &first), 0);
    assert!(c.fake.object("pods", "default", &first).is_some());

    // The next build gets the returned pod with an empty workspace; it fails, so its pod is
    // deleted and the pool makes a new one.
    let lease = source
        .acquire(build_for(&config, "app", 2), "app", 2, |_| {})
        .await
        .unwrap();
    assert_eq!(lease.executor().pod_name(), first);
    let (result, lines) = run_pipeline(lease.executor(), FAIL).await;
    assert_eq!(result, BuildResult::Failure, "{lines:#?}");
    assert!(lines.iter().any(|l| l == "clean"), "{lines:#?}");
    source.release(lease, PodOutcome::Dirty).await.unwrap();
    assert_eq!(deletes_of(&c, &first), 1);
    pool.wait_for(|n| n.idle == 1 && n.starting == 0).await;

    // A build whose pipeline changes the pod is not served by the pool.
    let mut changed = build_for(&config, "other", 3);
    changed.pool = None;
    let before = posts_of_pods(&c);
    let lease = source.acquire(changed, "other", 3, |_| {}).await.unwrap();
    assert_eq!(lease.pool(), None);
    assert_eq!(posts_of_pods(&c), before + 1);
    source.release(lease, PodOutcome::Clean).await.unwrap();

    source.shutdown().await;
    c.fake.shutdown().await;
}
