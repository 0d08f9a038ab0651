//! Injected faults as a client sees them, the request log, and state that outlives clients.

use k8s_openapi::api::core::v1::Pod;
use kiln_fake_kube::{FakeKubeConfig, NodeConfig};
use kube::api::{ListParams, LogParams};

use crate::harness::{
    client, create, is_ready, logs_until, phase, pods, shell_pod, start, start_with, wait_for,
};

fn waiting(p: &Pod) -> Option<(String, String)> {
    let w = p
        .status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?
        .waiting
        .clone()?;
    Some((w.reason.unwrap_or_default(), w.message.unwrap_or_default()))
}

#[tokio::test]
async fn image_pull_failure_backs_off() {
    let fake = start().await;
    let api = pods(&fake);
    fake.fail_image_pull("registry.example/missing:1");
    let mut pod = shell_pod("pull", "true", "Never");
    pod.spec.as_mut().unwrap().containers[0].image = Some("registry.example/missing:1".into());
    create(&api, &pod).await;
    let p = wait_for(&api, "pull", |p| {
        waiting(p).is_some_and(|(r, _)| r == "ErrImagePull")
    })
    .await;
    assert_eq!(
        waiting(&p).unwrap().1,
        "rpc error: code = NotFound desc = failed to pull and unpack image \"registry.example/missing:1\": failed to resolve reference \"registry.example/missing:1\": registry.example/missing:1: not found"
    );
    let p = wait_for(&api, "pull", |p| {
        waiting(p).is_some_and(|(r, _)| r == "ImagePullBackOff")
    })
    .await;
    assert_eq!(
        waiting(&p).unwrap().1,
        "Back-off pulling image \"registry.example/missing:1\""
    );
    assert_eq!(phase(&p), "Pending");
    let err = api.logs("pull", &LogParams::default()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("is waiting to start: trying and failing to pull image"),
        "{err}"
    );

    // An image without a command that the registry does not know cannot be pulled either.
    let mut unknown = shell_pod("unknown", "", "Never");
    unknown.spec.as_mut().unwrap().containers[0].command = None;
    unknown.spec.as_mut().unwrap().containers[0].image = Some("example/unknown".into());
    create(&api, &unknown).await;
    wait_for(&api, "unknown", |p| {
        waiting(p).is_some_and(|(r, _)| r == "ErrImagePull")
    })
    .await;
    fake.allow_image_pull("registry.example/missing:1");
    wait_for(&api, "pull", |p| phase(p) == "Succeeded").await;
    fake.shutdown().await;
}

#[tokio::test]
async fn eviction_and_oom_kill() {
    let fake = start().await;
    let api = pods(&fake);
    create(&api, &shell_pod("evictee", "sleep 60", "Always")).await;
    create(&api, &shell_pod("hog", "sleep 60", "Never")).await;
    wait_for(&api, "evictee", is_ready).await;
    wait_for(&api, "hog", is_ready).await;

    fake.evict("default", "evictee").unwrap();
    let evicted = wait_for(&api, "evictee", |p| phase(p) == "Failed").await;
    let status = evicted.status.unwrap();
    assert_eq!(status.reason.as_deref(), Some("Evicted"));
    assert!(
        status
            .message
            .unwrap()
            .starts_with("The node was low on resource: memory.")
    );

    fake.oom_kill("default", "hog", "main").unwrap();
    let killed = wait_for(&api, "hog", |p| phase(p) == "Failed").await;
    let t = killed.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (137, Some("OOMKilled")));
    fake.shutdown().await;
}

#[tokio::test]
async fn api_errors_for_the_next_requests() {
    let fake = start().await;
    let api = pods(&fake);
    fake.fail_requests("/pods", 2, 500);
    for _ in 0..2 {
        let err = api.list(&ListParams::default()).await.unwrap_err();
        let kube::Error::Api(status) = err else {
            panic!("expected an API error, got {err:?}")
        };
        assert_eq!(
            (status.code, status.reason.as_str()),
            (500, "InternalError")
        );
    }
    assert!(api.list(&ListParams::default()).await.is_ok());
    let statuses: Vec<u16> = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/pods"))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [500, 500, 200]);
    fake.shutdown().await;
}

#[tokio::test]
async fn a_lost_answer_is_a_timeout_after_the_object_was_made() {
    let fake = start().await;
    // kube's default client retries a 504 itself: this test looks at each answer.
    let mut config = kube::Config::new(fake.url().parse().unwrap());
    config.default_retry = false;
    let api: kube::Api<Pod> =
        kube::Api::namespaced(kube::Client::try_from(config).unwrap(), "default");
    fake.lose_answers(
        "post",
        "/pods",
        1,
        504,
        std::time::Duration::from_millis(200),
    );
    // A GET is not a POST: the rule waits for the create.
    assert!(api.list(&ListParams::default()).await.is_ok());
    let err = api
        .create(&Default::default(), &shell_pod("lost", "true", "Never"))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error, got {err:?}")
    };
    assert_eq!((status.code, status.reason.as_str()), (504, "Timeout"));
    assert!(
        status.message.starts_with("Timeout: "),
        "{}",
        status.message
    );
    // The pod was made all the same; a second create meets it, and is answered.
    assert!(api.get("lost").await.is_ok());
    let again = api
        .create(&Default::default(), &shell_pod("lost", "true", "Never"))
        .await
        .unwrap_err();
    assert!(matches!(again, kube::Error::Api(s) if s.code == 409));
    let posts: Vec<(u16, bool)> = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| {
            (
                r.status,
                r.duration >= std::time::Duration::from_millis(200),
            )
        })
        .collect();
    assert_eq!(posts, [(504, true), (409, false)]);
    fake.shutdown().await;
}

#[tokio::test]
async fn waiting_watches_instead_of_polling() {
    let fake = start().await;
    let api = pods(&fake);
    create(&api, &shell_pod("slow", "sleep 1; echo done", "Never")).await;
    fake.clear_requests();
    wait_for(&api, "slow", |p| phase(p) == "Succeeded").await;
    let requests = fake.requests();
    assert!(
        requests.len() <= 3,
        "waiting should be one list and one watch: {requests:?}"
    );
    assert!(requests.iter().any(|r| r.watch));
    fake.shutdown().await;
}

#[tokio::test]
async fn pods_outlive_the_client_that_made_them() {
    let fake = start().await;
    {
        let api = pods(&fake);
        create(
            &api,
            &shell_pod(
                "build",
                "echo step1; sleep 1; echo step2; sleep 30",
                "Never",
            ),
        )
        .await;
        wait_for(&api, "build", is_ready).await;
    }
    // A new client (a restarted controller) finds the build still running, output continuing.
    let api: kube::Api<Pod> = kube::Api::namespaced(client(&fake), "default");
    let found = wait_for(&api, "build", |p| phase(p) == "Running").await;
    assert!(is_ready(&found));
    let logs = logs_until(&api, "build", |l| l.contains("step2")).await;
    assert_eq!(logs, "step1\nstep2\n");
    fake.shutdown().await;
}

#[tokio::test]
async fn nodes_added_later_take_pending_pods() {
    let fake = start_with(FakeKubeConfig {
        nodes: vec![NodeConfig::new("small").capacity("1", "1Gi")],
        ..FakeKubeConfig::default()
    })
    .await;
    let api = pods(&fake);
    let mut pod = shell_pod("big", "sleep 30", "Never");
    pod.spec.as_mut().unwrap().containers[0].resources = Some(
        serde_json::from_value(serde_json::json!({"requests": {"cpu": "2", "memory": "2Gi"}}))
            .unwrap(),
    );
    create(&api, &pod).await;
    let pending = wait_for(&api, "big", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some()
    })
    .await;
    let message = pending.status.unwrap().conditions.unwrap()[0]
        .message
        .clone()
        .unwrap();
    assert_eq!(
        message,
        "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.."
    );
    fake.set_node(
        &NodeConfig::new("large")
            .capacity("8", "16Gi")
            .label("kiln.dev/pool", "builds"),
    );
    let running = wait_for(&api, "big", is_ready).await;
    assert_eq!(running.spec.unwrap().node_name.as_deref(), Some("large"));
    fake.shutdown().await;
}
