//! The configured API limits hold against the fake cluster: no more than `max_in_flight`
//! requests reach the API server at once, a request the server does not answer in
//! `request_timeout_seconds` fails with a message naming it, and watches are not held back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use k8s_openapi::api::core::v1::Pod;
use kiln_fake_kube::{FakeKube, FakeKubeConfig};
use kiln_kube::{ApiLimits, limited_client};
use kube::api::{Api, ListParams, WatchParams};
use std::time::Duration;

async fn fake_and_client(limits: ApiLimits) -> (FakeKube, kube::Client) {
    let fake = FakeKube::start(FakeKubeConfig::default(), 0).await.unwrap();
    let config = kube::Config::new(fake.url().parse().unwrap());
    (fake, limited_client(config, &limits).unwrap())
}

/// Six pod lists sent at once, all answered.
async fn six_lists_at_once(client: kube::Client) {
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let lists: Vec<_> = (0..6)
        .map(|_| {
            let pods = pods.clone();
            tokio::spawn(async move { pods.list(&ListParams::default()).await })
        })
        .collect();
    for list in lists {
        list.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn no_more_requests_than_max_in_flight_reach_the_api_server() {
    let limits = ApiLimits {
        max_in_flight: 2,
        request_timeout_seconds: 30,
    };
    let (fake, client) = fake_and_client(limits).await;
    fake.delay_requests("/pods", Duration::from_millis(150));
    six_lists_at_once(client).await;
    let served = fake.requests().iter().filter(|r| !r.watch).count();
    assert_eq!(served, 6);
    assert_eq!(fake.peak_in_flight(), 2);
    fake.shutdown().await;
}

#[tokio::test]
async fn without_the_limit_the_same_burst_arrives_at_once() {
    // The control for the test above: the fake does count concurrent requests.
    let limits = ApiLimits {
        max_in_flight: 16,
        request_timeout_seconds: 30,
    };
    let (fake, client) = fake_and_client(limits).await;
    fake.delay_requests("/pods", Duration::from_millis(300));
    six_lists_at_once(client).await;
    assert!(fake.peak_in_flight() > 2, "peak {}", fake.peak_in_flight());
    fake.shutdown().await;
}

#[tokio::test]
async fn a_request_without_an_answer_times_out_and_says_which() {
    let limits = ApiLimits {
        max_in_flight: 4,
        request_timeout_seconds: 1,
    };
    let fake = FakeKube::start(FakeKubeConfig::default(), 0).await.unwrap();
    let config = kube::Config::new(fake.url().parse().unwrap());
    // Timed-out attempts are retried until the budget is spent (short here); the error is
    // the last attempt's.
    let retry = kiln_kube::ApiRetry {
        budget_seconds: 3,
        first_pause_ms: 100,
        max_pause_seconds: 1,
    };
    let client = kiln_kube::limited_client_with_retry(config, &limits, &retry).unwrap();
    fake.delay_requests("/pods/slow", Duration::from_secs(5));
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let error = pods.get("slow").await.unwrap_err().to_string();

    assert!(
        error.contains("/api/v1/namespaces/default/pods/slow"),
        "{error}"
    );
    assert!(error.contains("within 1 s"), "{error}");
    // Other requests still go through.
    pods.list(&ListParams::default()).await.unwrap();
    fake.shutdown().await;
}

#[tokio::test]
async fn watches_take_no_slot() {
    let limits = ApiLimits {
        max_in_flight: 1,
        request_timeout_seconds: 30,
    };
    let (fake, client) = fake_and_client(limits).await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    // Two open watches, then a plain request: with watches holding slots it would wait.
    let first = pods.watch(&WatchParams::default(), "0").await.unwrap();
    let second = pods.watch(&WatchParams::default(), "0").await.unwrap();
    let list = tokio::time::timeout(Duration::from_secs(20), pods.list(&ListParams::default()))
        .await
        .expect("a plain request is not held back by open watches");
    list.unwrap();
    drop((first, second));
    fake.shutdown().await;
}
