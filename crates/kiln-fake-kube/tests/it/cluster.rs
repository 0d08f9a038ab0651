//! The control plane around the pods: Events, delayed scheduling, the simulated autoscaler,
//! image pulls that recover, and node loss.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed setup step should fail the test that called it"
)]

use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kiln_fake_kube::{AutoscalerConfig, FakeKubeConfig, NodeConfig};
use kube::api::{DeleteParams, ListParams, WatchEvent, WatchParams};
use kube::{Api, ResourceExt};

use crate::harness::{
    PATIENCE, client, create, is_ready, phase, pods, raw, shell_pod, start, start_with, wait_for,
};

fn condition<'a>(p: &'a Pod, kind: &str) -> Option<&'a k8s_openapi::api::core::v1::PodCondition> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
}

fn node_of(p: &Pod) -> &str {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
}

fn requesting(name: &str, cpu: &str) -> Pod {
    let mut pod = shell_pod(name, "sleep 60", "Never");
    pod.spec.as_mut().unwrap().containers[0].resources =
        Some(serde_json::from_value(serde_json::json!({"requests": {"cpu": cpu}})).unwrap());
    pod
}

/// The events about one object, by reason, waiting (at most [`PATIENCE`]) until `reason`
/// has been reported.
async fn events_until(fake: &kiln_fake_kube::FakeKube, object: &str, reason: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(client(fake), "default");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let list = api.list(&ListParams::default()).await.unwrap().items;
        let about: Vec<Event> = list
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(object))
            .collect();
        if about.iter().any(|e| e.reason.as_deref() == Some(reason)) {
            return about;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {reason} event for {object}: {about:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn message_of<'a>(events: &'a [Event], reason: &str) -> &'a str {
    events
        .iter()
        .find(|e| e.reason.as_deref() == Some(reason))
        .and_then(|e| e.message.as_deref())
        .unwrap_or("")
}

#[tokio::test]
async fn events_are_listed_watched_and_aggregated() {
    let fake = start().await;
    let events: Api<Event> = Api::namespaced(client(&fake), "default");
    let mut watch = events
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    let api = pods(&fake);
    create(&api, &shell_pod("ev", "sleep 60", "Always")).await;
    // The scheduler's event arrives on the watch.
    let first = tokio::time::timeout(PATIENCE, async {
        loop {
            match watch.try_next().await.unwrap() {
                Some(WatchEvent::Added(e)) if e.reason.as_deref() == Some("Scheduled") => {
                    return e;
                }
                Some(_) => {}
                None => panic!("event watch ended"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(
        first.message.as_deref(),
        Some(
            format!(
                "Successfully assigned default/ev to {}",
                fake.object("pods", "default", "ev").unwrap()["spec"]["nodeName"]
                    .as_str()
                    .unwrap()
            )
            .as_str()
        )
    );
    assert_eq!(first.involved_object.kind.as_deref(), Some("Pod"));
    assert_eq!(first.type_.as_deref(), Some("Normal"));
    assert_eq!(first.count, Some(1));
    wait_for(&api, "ev", is_ready).await;
    let started = events_until(&fake, "ev", "Started").await;
    assert_eq!(message_of(&started, "Started"), "Started container main");
    let started = started
        .iter()
        .find(|e| e.reason.as_deref() == Some("Started"))
        .unwrap();
    assert_eq!(
        started.involved_object.field_path.as_deref(),
        Some("spec.containers{main}")
    );
    assert_eq!(
        started.source.as_ref().and_then(|s| s.component.as_deref()),
        Some("kubelet")
    );
    api.delete("ev", &DeleteParams::default()).await.unwrap();
    let killed = events_until(&fake, "ev", "Killing").await;
    assert_eq!(message_of(&killed, "Killing"), "Stopping container main");

    // A repeated event raises the count of the first instead of adding another.
    fake.fail_image_pulls("registry.example/flaky:1", 3);
    let mut pod = shell_pod("flaky", "sleep 60", "Never");
    pod.spec.as_mut().unwrap().containers[0].image = Some("registry.example/flaky:1".into());
    create(&api, &pod).await;
    let running = wait_for(&api, "flaky", is_ready).await;
    assert_eq!(phase(&running), "Running");
    let about = events_until(&fake, "flaky", "Started").await;
    let pull_errors: Vec<&Event> = about
        .iter()
        .filter(|e| e.message.as_deref() == Some("Error: ErrImagePull"))
        .collect();
    assert_eq!(pull_errors.len(), 1, "{about:?}");
    assert_eq!(pull_errors[0].count, Some(3));
    assert_eq!(pull_errors[0].type_.as_deref(), Some("Warning"));
    assert!(
        about
            .iter()
            .any(|e| e.message.as_deref() == Some("Error: ImagePullBackOff")),
        "{about:?}"
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn autoscaler_adds_a_node_for_an_unschedulable_pod() {
    let fake = start_with(FakeKubeConfig {
        nodes: vec![NodeConfig::new("small").capacity("1", "4Gi")],
        autoscaler: Some(AutoscalerConfig::new(Duration::from_millis(300), 1)),
        ..FakeKubeConfig::default()
    })
    .await;
    let api = pods(&fake);
    create(&api, &requesting("wide", "2")).await;
    let pending = wait_for(&api, "wide", |p| condition(p, "PodScheduled").is_some()).await;
    let scheduled = condition(&pending, "PodScheduled").unwrap();
    assert_eq!(
        (scheduled.status.as_str(), scheduled.reason.as_deref()),
        ("False", Some("Unschedulable"))
    );
    let about = events_until(&fake, "wide", "TriggeredScaleUp").await;
    assert_eq!(
        message_of(&about, "TriggeredScaleUp"),
        "pod triggered scale-up: [{fake-pool 0->1 (max: 1)}]"
    );
    assert_eq!(
        message_of(&about, "FailedScheduling"),
        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.."
    );
    let bound = wait_for(&api, "wide", is_ready).await;
    assert_eq!(node_of(&bound), "fake-pool-1");
    let nodes: Api<Node> = Api::all(client(&fake));
    let node = nodes.get("fake-pool-1").await.unwrap();
    assert_eq!(node.labels()["kiln.fake/node-group"], "fake-pool");

    // The group is at its maximum; a pod larger than any new node is told so too.
    create(&api, &requesting("more", "3")).await;
    let about = events_until(&fake, "more", "NotTriggerScaleUp").await;
    assert_eq!(
        message_of(&about, "NotTriggerScaleUp"),
        "pod didn't trigger scale-up: 1 max node group size reached"
    );
    create(&api, &requesting("huge", "64")).await;
    let about = events_until(&fake, "huge", "NotTriggerScaleUp").await;
    assert_eq!(
        message_of(&about, "NotTriggerScaleUp"),
        "pod didn't trigger scale-up (it wouldn't fit if a new node is added): 1 Insufficient cpu"
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn autoscaler_and_scheduling_delay_through_the_admin_api() {
    let fake = start_with(FakeKubeConfig {
        nodes: vec![NodeConfig::new("small").capacity("1", "4Gi")],
        ..FakeKubeConfig::default()
    })
    .await;
    let (code, _) = raw(&fake, "POST", "/__fake/scheduling?delayMs=soon", None).await;
    assert_eq!(code, 400);
    let (code, _) = raw(
        &fake,
        "POST",
        "/__fake/autoscaler?delayMs=200&maxNodes=2&cpu=8&group=burst",
        None,
    )
    .await;
    assert_eq!(code, 200);
    let (code, _) = raw(&fake, "POST", "/__fake/scheduling?delayMs=3000", None).await;
    assert_eq!(code, 200);
    let api = pods(&fake);
    create(&api, &requesting("late", "6")).await;
    // Still in the scheduler's queue: no decision yet.
    let queued = api.get("late").await.unwrap();
    assert!(condition(&queued, "PodScheduled").is_none(), "{queued:?}");
    let about = events_until(&fake, "late", "TriggeredScaleUp").await;
    assert_eq!(
        message_of(&about, "TriggeredScaleUp"),
        "pod triggered scale-up: [{burst 0->1 (max: 2)}]"
    );
    let bound = wait_for(&api, "late", is_ready).await;
    assert_eq!(node_of(&bound), "burst-1");
    fake.shutdown().await;
}

#[tokio::test]
async fn lost_node_marks_pods_not_ready_then_evicts_them() {
    let fake = start_with(FakeKubeConfig {
        nodes: vec![NodeConfig::new("doomed")],
        node_lost_grace: Duration::from_millis(500),
        ..FakeKubeConfig::default()
    })
    .await;
    let api = pods(&fake);
    create(&api, &shell_pod("victim", "sleep 60", "Always")).await;
    let mut patient = shell_pod("patient", "sleep 60", "Always");
    patient.spec.as_mut().unwrap().tolerations = Some(
        serde_json::from_value(serde_json::json!([{"key": "node.kubernetes.io/unreachable",
            "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 3600}]))
        .unwrap(),
    );
    create(&api, &patient).await;
    wait_for(&api, "victim", is_ready).await;
    wait_for(&api, "patient", is_ready).await;
    assert!(fake.lose_node("nowhere").is_err());
    fake.lose_node("doomed").unwrap();

    let nodes: Api<Node> = Api::all(client(&fake));
    let node = nodes.get("doomed").await.unwrap();
    let status = node.status.unwrap();
    let ready = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(
        (
            ready.status.as_str(),
            ready.reason.as_deref(),
            ready.message.as_deref()
        ),
        (
            "Unknown",
            Some("NodeStatusUnknown"),
            Some("Kubelet stopped posting node status.")
        )
    );
    let taints = node.spec.unwrap().taints.unwrap();
    assert!(
        taints
            .iter()
            .any(|t| t.key == "node.kubernetes.io/unreachable" && t.effect == "NoExecute")
    );

    let not_ready = wait_for(&api, "patient", |p| !is_ready(p)).await;
    assert_eq!(phase(&not_ready), "Running");
    let about = events_until(&fake, "patient", "NodeNotReady").await;
    assert_eq!(message_of(&about, "NodeNotReady"), "Node is not ready");

    // After the grace the taint eviction controller deletes the pod; nobody confirms it.
    let terminating = wait_for(&api, "victim", |p| p.metadata.deletion_timestamp.is_some()).await;
    let target = condition(&terminating, "DisruptionTarget").unwrap();
    assert_eq!(target.reason.as_deref(), Some("DeletionByTaintManager"));
    let about = events_until(&fake, "victim", "TaintManagerEviction").await;
    assert_eq!(
        message_of(&about, "TaintManagerEviction"),
        "Marking for deletion Pod default/victim"
    );
    // A toleration of an hour keeps the other pod bound.
    assert!(
        api.get("patient")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none()
    );

    // No new pod goes to the unreachable node.
    create(&api, &shell_pod("newcomer", "true", "Never")).await;
    let pending = wait_for(&api, "newcomer", |p| condition(p, "PodScheduled").is_some()).await;
    assert_eq!(
        condition(&pending, "PodScheduled")
            .unwrap()
            .message
            .as_deref(),
        Some(
            "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.."
        )
    );

    // Deleting the node object lets PodGC fail and remove its pods.
    let mut gone = api
        .watch(&WatchParams::default().fields("metadata.name=patient"), "0")
        .await
        .unwrap()
        .boxed();
    fake.remove_node("doomed").unwrap();
    let failed = tokio::time::timeout(PATIENCE, async {
        let mut last_failed = None;
        while let Some(event) = gone.try_next().await.unwrap() {
            match event {
                WatchEvent::Modified(p) if phase(&p) == "Failed" => last_failed = Some(p),
                WatchEvent::Deleted(_) => return last_failed,
                _ => {}
            }
        }
        None
    })
    .await
    .unwrap()
    .expect("the pod was failed before its removal");
    assert_eq!(
        condition(&failed, "DisruptionTarget")
            .unwrap()
            .reason
            .as_deref(),
        Some("DeletionByPodGC")
    );
    assert!(api.get_opt("victim").await.unwrap().is_none());
    fake.shutdown().await;
}

#[tokio::test]
async fn compacted_versions_are_gone_for_watches_and_exact_lists() {
    let fake = start().await;
    let api = pods(&fake);
    let old = create(&api, &shell_pod("a", "true", "Never"))
        .await
        .resource_version()
        .unwrap();
    let (code, _) = raw(&fake, "POST", "/__fake/compaction?window=2", None).await;
    assert_eq!(code, 200);
    for name in ["b", "c", "d"] {
        create(&api, &shell_pod(name, "true", "Never")).await;
    }
    let exact =
        format!("/api/v1/namespaces/default/pods?resourceVersion={old}&resourceVersionMatch=Exact");
    let (code, status) = raw(&fake, "GET", &exact, None).await;
    assert_eq!(
        (code, status["reason"].as_str(), status["message"].as_str()),
        (
            410,
            Some("Expired"),
            Some("The resourceVersion for the provided list is too old.")
        )
    );
    // Not older than: served from the current state.
    let (code, _) = raw(
        &fake,
        "GET",
        &format!("/api/v1/namespaces/default/pods?resourceVersion={old}"),
        None,
    )
    .await;
    assert_eq!(code, 200);
    let (code, status) = raw(
        &fake,
        "GET",
        "/api/v1/namespaces/default/pods?resourceVersion=99999999",
        None,
    )
    .await;
    assert_eq!((code, status["reason"].as_str()), (504, Some("Timeout")));
    let mut watch = api
        .watch(&WatchParams::default(), &old)
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(PATIENCE, watch.try_next()).await {
        Ok(Ok(Some(WatchEvent::Error(e)))) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"))
        }
        other => panic!("expected a 410 Expired event, got {other:?}"),
    }
    fake.shutdown().await;
}
