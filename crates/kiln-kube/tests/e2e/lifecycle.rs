//! Pod lifecycle: start failures with their reasons, failures during the build, cleanup,
//! orphan reaping, and the requests the fake saw (watches, no polling).

use crate::harness::*;
use kiln_executor::{Executor, ExitStatus, ProcessSpec};
use kiln_fake_kube::FakeKubeConfig;
use kiln_kube::KubeExecutor;
use std::time::Duration;

/// A step that runs until its agent dies. In a real cluster a container's processes die with
/// it; the fake runs them on the host, so the step watches its parent (the agent) itself.
const UNTIL_AGENT_DIES: &str = "echo up; while kill -0 $PPID 2>/dev/null; do sleep 0.1; done";

const ONE: &str = "spec:\n  containers:\n  - name: main\n    image: busybox\n";

async fn start_error(
    c: &Cluster,
    settings: &kiln_kube::ExecutorSettings,
    name: &str,
    yaml: &str,
) -> String {
    match KubeExecutor::start(c.client.clone(), settings, pod_request(name, yaml)).await {
        Ok(_) => panic!("the pod started"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn unschedulable_fails_with_the_scheduler_message_and_cleans_up() {
    let c = cluster().await;
    let name = pod_name("unsched");
    let yaml = "spec:\n  containers:\n  - name: main\n    image: busybox\n    resources:\n      requests:\n        cpu: '64'\n";
    let err = start_error(&c, &port_forward(1), &name, yaml).await;
    assert!(
        err.starts_with(&format!(
            "pod {name} cannot be scheduled: 0/1 nodes are available: 1 Insufficient cpu."
        )),
        "{err}"
    );
    assert!(
        c.fake.object("pods", "default", &name).is_none(),
        "the failed pod was deleted"
    );
    assert!(
        c.fake
            .object("secrets", "default", &kiln_kube::secret_name(&name))
            .is_none()
    );
    c.fake.shutdown().await;
}

#[tokio::test]
async fn image_pull_failure_names_the_image() {
    let c = cluster().await;
    c.fake.fail_image_pull("registry.example/missing:1");
    let yaml = "spec:\n  containers:\n  - name: main\n    image: registry.example/missing:1\n";
    // After the image-pull window (2 s here) of the kubelet's retries.
    let err = start_error(&c, &port_forward(1), &pod_name("pull"), yaml).await;
    assert!(
        err.starts_with("container `main` cannot pull image `registry.example/missing:1` (")
            && err.contains("(ErrImagePull, ")
            && err.contains("registry.example/missing:1: not found"),
        "{err}"
    );
    c.fake.shutdown().await;
}

#[tokio::test]
async fn an_image_pull_that_recovers_within_the_window_starts_the_pod() {
    let c = cluster().await;
    // A registry answering 429 twice: the kubelet's retries get the image.
    c.fake.fail_image_pulls("registry.example/flaky:1", 2);
    let yaml = "spec:\n  containers:\n  - name: main\n    image: registry.example/flaky:1\n";
    let mut settings = port_forward(1);
    settings.image_pull.deadline_seconds = 60;
    let ex = start(&c, &settings, &pod_name("flaky"), yaml).await;
    ex.cleanup().await.unwrap();
    // With no retries the first failure fails the start, with the registry's message.
    c.fake.fail_image_pulls("registry.example/flaky:1", 2);
    settings.image_pull.retries = 0;
    let err = start_error(&c, &settings, &pod_name("flaky"), yaml).await;
    assert!(
        err.contains("(ErrImagePull, 1 failed pull in 0 s)"),
        "{err}"
    );
    assert!(err.contains("429 Too Many Requests"), "{err}");
    // With one retry the second failure does.
    c.fake.fail_image_pulls("registry.example/flaky:1", 2);
    settings.image_pull.retries = 1;
    let err = start_error(&c, &settings, &pod_name("flaky"), yaml).await;
    assert!(err.contains("(ErrImagePull, 2 failed pulls in "), "{err}");
    c.fake.shutdown().await;
}

#[tokio::test]
async fn the_start_deadline_fails_a_pod_that_does_not_start() {
    let config = FakeKubeConfig {
        container_start_delay: Duration::from_secs(30),
        ..FakeKubeConfig::default()
    };
    let c = cluster_with(config).await;
    let mut settings = port_forward(1);
    settings.start_deadline = Duration::from_millis(800);
    let err = start_error(&c, &settings, &pod_name("deadline"), ONE).await;
    assert!(
        err.contains("did not start within the start deadline of 0 s"),
        "{err}"
    );
    c.fake.shutdown().await;
}

#[tokio::test]
async fn a_pipelines_connect_timeout_replaces_the_configured_start_deadline() {
    let config = FakeKubeConfig {
        container_start_delay: Duration::from_secs(30),
        ..FakeKubeConfig::default()
    };
    let c = cluster_with(config).await;
    // What `slaveConnectTimeout 1` puts on the pod; the configured deadline is 20 s.
    let yaml = format!(
        "metadata:\n  annotations:\n    {}: '1'\n{ONE}",
        kiln_kube::ANNOTATION_START_DEADLINE
    );
    let settings = port_forward(1);
    assert_eq!(settings.start_deadline, Duration::from_secs(20));
    let err = start_error(&c, &settings, &pod_name("connect-timeout"), &yaml).await;
    assert!(
        err.contains("did not start within the start deadline of 1 s"),
        "{err}"
    );
    c.fake.shutdown().await;
}

#[tokio::test]
async fn oom_kill_during_a_step_fails_it_with_the_reason() {
    let c = cluster().await;
    let name = pod_name("oom");
    let ex = start(&c, &port_forward(2), &name, TWO_CONTAINERS).await;
    let mut handle = ex
        .spawn(
            ProcessSpec::new(vec!["sh".into(), "-c".into(), UNTIL_AGENT_DIES.into()])
                .container(Some("b".into())),
        )
        .await
        .unwrap();
    assert_eq!(handle.next_chunk().await.unwrap().bytes, b"up\n");
    c.fake.oom_kill("default", &name, "b").unwrap();
    let mut out = String::new();
    while let Some(chunk) = handle.next_chunk().await {
        out.push_str(&String::from_utf8_lossy(&chunk.bytes));
    }
    assert_eq!(handle.wait().await.unwrap(), ExitStatus::Signal(9));
    assert!(
        out.contains("kiln: container `b` was OOMKilled (exit code 137)"),
        "{out}"
    );
    // The other container still works; the dead one says why.
    let again = ex
        .spawn(ProcessSpec::new(vec!["true".into()]).container(Some("b".into())))
        .await
        .unwrap_err();
    assert!(again.to_string().contains("OOMKilled"), "{again}");
    assert!(
        ex.spawn(ProcessSpec::new(vec!["true".into()]).container(Some("a".into())))
            .await
            .is_ok()
    );
    ex.cleanup().await.unwrap();
    c.fake.shutdown().await;
}

/// Runs a step until the agent dies, evicts the pod while it runs, and returns the step's
/// whole output (the executor's reason at its end).
async fn evicted_mid_step(c: &Cluster, ex: &KubeExecutor, name: &str) -> String {
    let mut handle = ex
        .spawn(ProcessSpec::new(vec![
            "sh".into(),
            "-c".into(),
            UNTIL_AGENT_DIES.into(),
        ]))
        .await
        .unwrap();
    assert_eq!(handle.next_chunk().await.unwrap().bytes, b"up\n");
    c.fake.evict("default", name).unwrap();
    let mut out = String::new();
    while let Some(chunk) = handle.next_chunk().await {
        out.push_str(&String::from_utf8_lossy(&chunk.bytes));
    }
    out
}

#[tokio::test]
async fn eviction_during_a_step_fails_it_with_the_reason() {
    let c = cluster().await;
    let name = pod_name("evict");
    let ex = start(&c, &dial().await, &name, ONE).await;
    let out = evicted_mid_step(&c, &ex, &name).await;
    assert!(out.contains("kiln: the pod was evicted"), "{out}");
    ex.cleanup().await.unwrap();
    c.fake.shutdown().await;
}

#[tokio::test]
async fn orphans_are_reaped_and_live_builds_kept() {
    let c = cluster().await;
    let settings = port_forward(2);
    let live = start(&c, &settings, &pod_name("live"), ONE).await;
    let orphan_name = pod_name("orphan");
    let mut orphan_req = pod_request(&orphan_name, ONE);
    orphan_req
        .pod
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("kiln.dev/build".into(), "3".into());
    let settings2 = port_forward(1);
    let orphan = KubeExecutor::start(c.client.clone(), &settings2, orphan_req)
        .await
        .unwrap();
    orphan.detach();
    let reaped = kiln_kube::reap_orphans(c.client.clone(), "default", |p| p.build == "7")
        .await
        .unwrap();
    assert_eq!(
        reaped.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        vec![orphan_name.as_str()]
    );
    assert!(
        c.fake
            .object("secrets", "default", &kiln_kube::secret_name(&orphan_name))
            .is_none()
    );
    assert!(c.fake.object("pods", "default", live.pod_name()).is_some());
    live.cleanup().await.unwrap();
    c.fake.shutdown().await;
}

#[tokio::test]
async fn a_build_uses_watches_not_polling() {
    let c = cluster().await;
    let settings = port_forward(2);
    let name = pod_name("requests");
    let ex = start(&c, &settings, &name, TWO_CONTAINERS).await;
    let at_start = c.fake.requests();
    let methods = |rs: &[kiln_fake_kube::RequestRecord], m: &str| {
        rs.iter()
            .filter(|r| r.method == m && !r.watch && !r.path.ends_with("/portforward"))
            .count()
    };
    assert_eq!(
        methods(&at_start, "POST"),
        2,
        "secret + pod: {:#?}",
        pod_requests(&at_start, &name)
    );
    assert_eq!(
        methods(&at_start, "GET"),
        0,
        "no polling: {:#?}",
        pod_requests(&at_start, &name)
    );
    assert_eq!(
        methods(&at_start, "PATCH"),
        1,
        "the pod made the owner of its secret: {:#?}",
        pod_requests(&at_start, &name)
    );
    let watches = |path: &str| {
        at_start
            .iter()
            .filter(|r| r.watch && r.path == path)
            .count()
    };
    assert_eq!(
        watches("/api/v1/namespaces/default/pods"),
        1,
        "one watch of the pod"
    );
    // Its Events are watched only when it waits (not running 500 ms after its creation):
    // at most once, while it starts.
    assert!(watches("/api/v1/namespaces/default/events") <= 1);
    assert_eq!(
        at_start.iter().filter(|r| r.watch).count(),
        watches("/api/v1/namespaces/default/pods") + watches("/api/v1/namespaces/default/events")
    );
    // One port-forward per container (more only if an agent was not listening yet).
    assert!(
        at_start
            .iter()
            .filter(|r| r.path.ends_with("/portforward"))
            .count()
            >= 2
    );
    c.fake.clear_requests();
    for container in ["a", "b", "a", "b"] {
        let h = ex
            .spawn(ProcessSpec::new(vec!["true".into()]).container(Some(container.into())))
            .await
            .unwrap();
        h.wait().await.unwrap();
    }
    assert_eq!(
        c.fake.requests(),
        Vec::new(),
        "steps reuse the agent connections"
    );
    ex.cleanup().await.unwrap();
    let deletes: Vec<_> = c
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path)
        .collect();
    assert_eq!(
        deletes,
        vec![format!("/api/v1/namespaces/default/pods/{name}")],
        "the pod's secret goes with it"
    );
    secret_goes_with_the_pod(&c, &name).await;
    c.fake.shutdown().await;
}

/// Whether `r` is the re-list of pod `name`: a LIST of pods with a field selector on its name.
fn is_relist(r: &kiln_fake_kube::RequestRecord, name: &str) -> bool {
    r.method == "GET"
        && !r.watch
        && r.path.ends_with("/pods")
        && r.query.contains(&format!("metadata.name%3D{name}"))
}

/// Requests about pod `name` (its path, or a selector on its name), watches included.
fn requests_about(requests: &[kiln_fake_kube::RequestRecord], name: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.path.contains(name) || r.query.contains(name))
        .count()
}

/// Waits until the pod's watch has been re-listed after a 410 and watches again.
async fn wait_for_relist(c: &Cluster, name: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let requests = c.fake.requests();
        let relisted = requests.iter().position(|r| is_relist(r, name));
        if relisted.is_some_and(|at| requests[at..].iter().any(|r| r.watch)) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no re-list and new watch after the 410: {requests:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn expired_and_dropped_watches_are_resumed() {
    let c = cluster().await;
    let name = pod_name("expire");
    let ex = start(&c, &port_forward(1), &name, ONE).await;
    c.fake.clear_requests();
    c.fake.expire_watches();
    c.fake.drop_watches();
    wait_for_relist(&c, &name).await;
    // The monitor re-listed after the 410 and still sees eviction.
    let out = evicted_mid_step(&c, &ex, &name).await;
    assert!(out.contains("evicted"), "{out}");
    ex.cleanup().await.unwrap();
    c.fake.shutdown().await;
}

/// A compaction while a pod has not changed: the watch re-lists once and watches from the
/// list's resourceVersion, rather than from the pod's own (older than the history, so every
/// watch from it expired again: thousands of requests a second).
#[tokio::test]
async fn a_410_costs_a_few_requests_not_a_storm() {
    let c = cluster().await;
    let name = pod_name("storm");
    let ex = start(&c, &port_forward(1), &name, ONE).await;
    for round in 0..3 {
        c.fake.clear_requests();
        c.fake.expire_watches();
        wait_for_relist(&c, &name).await;
        // Time for a storm to show, were there one.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let requests = c.fake.requests();
        let count = requests_about(&requests, &name);
        assert!(
            count <= 10,
            "round {round}: {count} requests after a 410: {:#?}",
            pod_requests(&requests, &name)
        );
        assert!(
            requests.iter().filter(|r| is_relist(r, &name)).count() == 1,
            "one re-list: {requests:#?}"
        );
    }
    // The watch still follows the pod.
    let out = evicted_mid_step(&c, &ex, &name).await;
    assert!(out.contains("evicted"), "{out}");
    ex.cleanup().await.unwrap();
    c.fake.shutdown().await;
}
