//! A control plane in trouble for a few seconds (connections dropped, 503s, an answer lost)
//! does not fail the build: kiln retries over its budget (`api_retry`) and adopts the pod a
//! create whose answer was lost had made.

use crate::harness::*;
use crate::proxy::{Proxy, Trouble};
use kiln_executor::{Executor, ExitStatus, ProcessSpec};
use kiln_kube::{ApiLimits, ApiRetry, ExecutorSettings, KubeExecutor};
use std::time::Duration;

const ONE: &str = "spec:\n  containers:\n  - name: main\n    image: busybox\n";

/// Short pauses, so that tests do not wait long; a budget well past the trouble.
fn quick_retry() -> ApiRetry {
    ApiRetry {
        budget_seconds: 30,
        first_pause_ms: 50,
        max_pause_seconds: 1,
    }
}

/// kiln's client (its service account's token) reaching the fake through `proxy`.
async fn client_through(c: &Cluster, proxy: &Proxy, retry: &ApiRetry) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&c.kiln_kubeconfig).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    config.cluster_url = proxy.url().parse().unwrap();
    kiln_kube::limited_client_with_retry(config, &ApiLimits::default(), retry).unwrap()
}

fn settings(retry: ApiRetry) -> ExecutorSettings {
    let mut s = port_forward(1);
    s.api_retry = retry;
    s
}

async fn wait_until_clear(proxy: &Proxy) {
    while proxy.trouble() != Trouble::None {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_start_and_a_cleanup_ride_out_seconds_of_dropped_connections_and_503s() {
    let c = cluster().await;
    let proxy = Proxy::start(c.fake.address()).await;
    let client = client_through(&c, &proxy, &quick_retry()).await;
    let name = pod_name("outage");
    proxy.for_a_while(Trouble::Drop, Duration::from_secs(2));
    let ex = KubeExecutor::start(
        client.clone(),
        &settings(quick_retry()),
        pod_request(&name, ONE),
    )
    .await
    .unwrap_or_else(|e| panic!("the start failed: {e:?}"));
    let h = ex
        .spawn(ProcessSpec::new(vec!["true".into()]))
        .await
        .unwrap();
    assert_eq!(h.wait().await.unwrap(), ExitStatus::Code(0));
    proxy.for_a_while(Trouble::Unavailable, Duration::from_secs(2));
    ex.cleanup().await.unwrap();
    wait_until_clear(&proxy).await;
    // The delete reached the API server once the 503s were over; the pod's Secret went with
    // the pod (the pod owns it).
    let deletes: Vec<(String, u16)> = c
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| (r.path, r.status))
        .collect();
    assert_eq!(
        deletes,
        [(format!("/api/v1/namespaces/default/pods/{name}"), 200)]
    );
    secret_goes_with_the_pod(&c, &name).await;
    c.fake.shutdown().await;
}

#[tokio::test]
async fn without_a_budget_the_same_trouble_fails_the_start_clearly() {
    let c = cluster().await;
    let proxy = Proxy::start(c.fake.address()).await;
    let client = client_through(&c, &proxy, &ApiRetry::none()).await;
    proxy.for_a_while(Trouble::Unavailable, Duration::from_secs(2));
    let err = KubeExecutor::start(
        client,
        &settings(ApiRetry::none()),
        pod_request(&pod_name("no-budget"), ONE),
    )
    .await
    .err()
    .expect("the start failed");
    let text = format!("{err}: {:?}", std::error::Error::source(&err));
    assert!(text.starts_with("cannot create secret for pod"), "{text}");
    assert!(text.contains("unavailable"), "{text}");
    c.fake.shutdown().await;
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_adopts_its_own_pod() {
    let c = cluster().await;
    let proxy = Proxy::start(c.fake.address()).await;
    let client = client_through(&c, &proxy, &quick_retry()).await;
    let name = pod_name("adopt");
    proxy.set(Trouble::LoseAnswer(
        "POST /api/v1/namespaces/default/pods?".to_owned(),
    ));
    let ex = KubeExecutor::start(client, &settings(quick_retry()), pod_request(&name, ONE))
        .await
        .unwrap_or_else(|e| panic!("the start failed: {e:?}"));
    assert_eq!(proxy.trouble(), Trouble::None, "the answer was lost");
    let creates: Vec<u16> = c
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/api/v1/namespaces/default/pods")
        .map(|r| r.status)
        .collect();
    assert_eq!(creates, [201, 409], "created, then found existing");
    let h = ex
        .spawn(ProcessSpec::new(vec!["true".into()]))
        .await
        .unwrap();
    assert_eq!(h.wait().await.unwrap(), ExitStatus::Code(0));
    ex.cleanup().await.unwrap();
    c.fake.shutdown().await;
}

#[tokio::test]
async fn a_pod_of_the_same_name_that_is_not_ours_is_not_adopted() {
    let c = cluster().await;
    let proxy = Proxy::start(c.fake.address()).await;
    let client = client_through(&c, &proxy, &quick_retry()).await;
    let name = pod_name("not-ours");
    // Someone else's pod under the name (other labels).
    let mut other = pod_request(&name, ONE);
    other.pod.metadata.labels = None;
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(c.client.clone(), "default");
    pods.create(&kube::api::PostParams::default(), &other.pod)
        .await
        .unwrap();
    // A lost answer to our own create: the retry meets the other pod.
    proxy.set(Trouble::LoseAnswer(
        "POST /api/v1/namespaces/default/pods?".to_owned(),
    ));
    let err = KubeExecutor::start(client, &settings(quick_retry()), pod_request(&name, ONE))
        .await
        .err()
        .expect("the start failed");
    assert_eq!(
        err.to_string(),
        format!("pod {name} already exists and is not the one kiln created")
    );
    c.fake.shutdown().await;
}
