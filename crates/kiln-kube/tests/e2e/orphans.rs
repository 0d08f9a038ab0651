//! Build pods cannot outlive their builds: the agent Secret is owned by its pod, pods carry
//! an `activeDeadlineSeconds`, agents whose controller has been gone past the grace exit
//! (the pod ends), and finished pods are collected with their Secrets.

use crate::harness::*;
use kiln_executor::{Executor, ProcessSpec};
use kiln_kube::KubeExecutor;
use serde_json::Value;
use std::time::{Duration, Instant};

const ONE: &str = "spec:\n  containers:\n  - name: main\n    image: busybox\n";

#[tokio::test]
async fn the_secret_is_owned_by_its_pod_and_the_pod_has_a_deadline() {
    let c = cluster().await;
    let name = pod_name("owned");
    let mut request = pod_request(&name, ONE);
    kiln_kube::set_build_timeout(&mut request.pod, Duration::from_secs(600));
    let settings = port_forward(1);
    let ex = KubeExecutor::start(c.client.clone(), &settings, request)
        .await
        .unwrap();
    let pod = c.fake.object("pods", "default", &name).unwrap();
    let secret = c
        .fake
        .object("secrets", "default", &kiln_kube::secret_name(&name))
        .unwrap();
    let owners = &secret["metadata"]["ownerReferences"];
    assert_eq!(owners[0]["kind"], "Pod", "{secret:#}");
    assert_eq!(owners[0]["name"].as_str(), Some(name.as_str()));
    assert_eq!(owners[0]["uid"], pod["metadata"]["uid"]);
    // The build's timeout, the start deadline (20 s here) and 300 s for `post` and cleanup.
    assert_eq!(
        pod["spec"]["activeDeadlineSeconds"].as_i64(),
        Some(600 + 20 + 300)
    );
    ex.cleanup().await.unwrap();

    // Without a build timeout: the configured default.
    let name = pod_name("default-deadline");
    let mut settings = port_forward(1);
    settings.active_deadline_seconds = 7200;
    let ex = start(&c, &settings, &name, ONE).await;
    let pod = c.fake.object("pods", "default", &name).unwrap();
    assert_eq!(pod["spec"]["activeDeadlineSeconds"].as_i64(), Some(7200));
    ex.cleanup().await.unwrap();
    c.fake.shutdown().await;
}

fn phase(pod: &Value) -> &str {
    pod["status"]["phase"].as_str().unwrap_or("")
}

/// A controller that goes away without deleting its pod (as `kill -9` does): the agent exits
/// after its grace, the pod ends, and the collector deletes it and its Secret; a running pod
/// beside it is left alone.
#[tokio::test]
async fn an_abandoned_pod_ends_and_is_collected() {
    let c = cluster().await;
    let mut settings = port_forward(2);
    settings.install.orphan_grace_seconds = 1;
    let kept = start(&c, &settings, &pod_name("kept"), ONE).await;
    let mut settings = port_forward(1);
    settings.install.orphan_grace_seconds = 1;
    let name = pod_name("abandoned");
    let abandoned = start(&c, &settings, &name, ONE).await;
    let step = abandoned
        .spawn(ProcessSpec::new(vec!["sleep".into(), "600".into()]))
        .await
        .unwrap();
    drop(step);
    abandoned.detach();
    // Still connected: the kept pod's agent stays.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pod = c.fake.object("pods", "default", &name).unwrap();
        if matches!(phase(&pod), "Failed" | "Succeeded") {
            break;
        }
        assert!(Instant::now() < deadline, "the pod did not end: {pod:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let collected = kiln_kube::collect_finished(c.client.clone(), "default", Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        collected
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        [name.as_str()]
    );
    assert!(
        c.fake
            .object("secrets", "default", &kiln_kube::secret_name(&name))
            .is_none()
    );
    let kept_pod = c.fake.object("pods", "default", kept.pod_name()).unwrap();
    assert_eq!(phase(&kept_pod), "Running");
    let h = kept
        .spawn(ProcessSpec::new(vec!["true".into()]))
        .await
        .unwrap();
    h.wait().await.unwrap();
    kept.cleanup().await.unwrap();
    c.fake.shutdown().await;
}
