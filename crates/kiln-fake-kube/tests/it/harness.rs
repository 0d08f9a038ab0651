//! Shared test plumbing: starting a fake, a kube-rs client for it, pod manifests, raw HTTP.

#![allow(
    clippy::unwrap_used,
    reason = "test plumbing: a failed setup step should fail the test that called it"
)]

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kiln_fake_kube::{FakeKube, FakeKubeConfig};
use kube::api::{LogParams, PostParams};
use kube::runtime::wait::await_condition;
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A fake on a free port with fast back-offs.
pub async fn start() -> FakeKube {
    start_with(FakeKubeConfig {
        image_pull_backoff: Duration::from_millis(200),
        restart_backoff: Duration::from_millis(100),
        bookmark_interval: Duration::from_millis(300),
        ..FakeKubeConfig::default()
    })
    .await
}

pub async fn start_with(config: FakeKubeConfig) -> FakeKube {
    FakeKube::start(config, 0).await.unwrap()
}

pub fn client(fake: &FakeKube) -> Client {
    let mut config = kube::Config::new(fake.url().parse().unwrap());
    config.default_namespace = "default".to_owned();
    Client::try_from(config).unwrap()
}

pub fn pods(fake: &FakeKube) -> Api<Pod> {
    Api::namespaced(client(fake), "default")
}

/// A pod with one busybox container running `script` under `sh -c`.
pub fn shell_pod(name: &str, script: &str, restart: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "kiln-test"}},
        "spec": {"restartPolicy": restart, "containers": [
            {"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", script]}
        ]},
    }))
    .unwrap()
}

pub async fn create(api: &Api<Pod>, pod: &Pod) -> Pod {
    api.create(&PostParams::default(), pod).await.unwrap()
}

/// How long a test waits for a pod's processes to do something: a bound for a loaded
/// machine (pods start real processes), not a timing assertion.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Waits (watching, not polling) until `cond` holds for the pod, at most [`PATIENCE`].
pub async fn wait_for(api: &Api<Pod>, name: &str, cond: impl Fn(&Pod) -> bool) -> Pod {
    let cond = move |p: Option<&Pod>| p.is_some_and(&cond);
    tokio::time::timeout(PATIENCE, await_condition(api.clone(), name, cond))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for pod {name}"))
        .unwrap()
        .unwrap()
}

/// Polls the pod's log until `done` holds for it (at most [`PATIENCE`]) and returns it.
pub async fn logs_until(api: &Api<Pod>, name: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let logs = api.logs(name, &LogParams::default()).await.unwrap();
        if done(&logs) || tokio::time::Instant::now() >= deadline {
            return logs;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

pub fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// One HTTP/1.1 request over a fresh connection; returns status and parsed JSON body.
pub async fn raw(fake: &FakeKube, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(fake.address())
        .await
        .unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        fake.address(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let json_body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    (
        status,
        serde_json::from_str(&json_body).unwrap_or(Value::Null),
    )
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&tail[..n]);
        rest = &tail[n + 2..];
    }
    out
}

/// One HTTP/1.1 request with a body of the given content type; returns status, the response
/// headers (lower-cased text) and the parsed JSON body.
pub async fn raw_text(
    fake: &FakeKube,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, String, Value) {
    let mut stream = tokio::net::TcpStream::connect(fake.address())
        .await
        .unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        fake.address(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let lower = head.to_ascii_lowercase();
    let json_body = if lower.contains("transfer-encoding: chunked") {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    (
        status,
        head.to_owned(),
        serde_json::from_str(&json_body).unwrap_or(Value::Null),
    )
}
