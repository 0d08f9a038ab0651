//! The real kubectl against the fake: apply, wait, logs, exec, get -o json, delete.

use std::path::Path;
use std::process::Output;

use kiln_fake_kube::FakeKube;
use serde_json::Value;

use crate::harness::start;

/// kubectl on the `PATH`. These tests need it: without it they fail, naming what to install
/// (`.ci/run` installs it), rather than pass without testing anything.
fn kubectl_program() -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "kubectl is not installed (not on PATH): these tests drive the fake with the \
                 real kubectl; install it (package `kubectl` from Google Cloud's apt \
                 repository, as .ci/run does)"
            )
        })
}

#[expect(
    clippy::unwrap_used,
    reason = "test plumbing: a kubectl that cannot run fails the test"
)]
async fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = tokio::process::Command::new(kubectl_program());
    command
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .kill_on_drop(true);
    command.stdin(if stdin.is_some() {
        std::process::Stdio::piped()
    } else {
        std::process::Stdio::null()
    });
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        tokio::io::AsyncWriteExt::write_all(&mut pipe, input.as_bytes())
            .await
            .unwrap();
    }
    tokio::time::timeout(crate::harness::PATIENCE, child.wait_with_output())
        .await
        .unwrap()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const MANIFEST: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: agent
  labels: {app: agent}
spec:
  containers:
  - name: jnlp
    image: busybox:1.36
    command: ["sh", "-c", "echo agent up; sleep 60"]
    resources:
      requests: {cpu: 100m, memory: 64Mi}
"#;

/// A fake with pod `agent` applied and Ready through kubectl, its kubeconfig and the
/// directory holding it.
#[expect(
    clippy::unwrap_used,
    reason = "test plumbing: a fake that cannot start fails the test"
)]
async fn fake_with_running_agent() -> (FakeKube, tempfile::TempDir, std::path::PathBuf) {
    let fake: FakeKube = start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig).unwrap();
    let out = kubectl(&kubeconfig, &["apply", "-f", "-"], Some(MANIFEST)).await;
    assert_eq!(text(&out), "pod/agent created\n");
    let ready = [
        "wait",
        "--for=condition=Ready",
        "pod/agent",
        "--timeout=20s",
    ];
    let out = kubectl(&kubeconfig, &ready, None).await;
    assert_eq!(text(&out), "pod/agent condition met\n");
    (fake, dir, kubeconfig)
}

#[tokio::test]
async fn kubectl_drives_a_pod_end_to_end() {
    let (fake, _dir, kubeconfig) = fake_with_running_agent().await;
    let out = kubectl(&kubeconfig, &["apply", "-f", "-"], Some(MANIFEST)).await;
    assert_eq!(text(&out), "pod/agent unchanged\n");

    let out = kubectl(&kubeconfig, &["logs", "agent"], None).await;
    assert_eq!(text(&out), "agent up\n");

    let out = kubectl(
        &kubeconfig,
        &["exec", "agent", "--", "sh", "-c", "echo from exec; exit 7"],
        None,
    )
    .await;
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).as_ref()
        ),
        (Some(7), "from exec\n")
    );
    let out = kubectl(
        &kubeconfig,
        &["exec", "-i", "agent", "--", "cat"],
        Some("piped\n"),
    )
    .await;
    assert_eq!(
        (out.status.code(), text(&out).as_str()),
        (Some(0), "piped\n")
    );

    let out = kubectl(&kubeconfig, &["get", "pod", "agent", "-o", "json"], None).await;
    let pod: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pod["status"]["phase"], "Running");
    assert_eq!(pod["spec"]["nodeName"], "fake-node-1");
    assert_eq!(pod["status"]["qosClass"], "Burstable");
    assert!(
        pod["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );

    let out = kubectl(
        &kubeconfig,
        &["get", "pods", "-l", "app=agent", "-o", "json"],
        None,
    )
    .await;
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));

    let out = kubectl(&kubeconfig, &["delete", "pod", "agent"], None).await;
    assert_eq!(text(&out), "pod \"agent\" deleted\n");
    assert!(fake.object("pods", "default", "agent").is_none());
    let out = kubectl(&kubeconfig, &["get", "pod", "agent"], None).await;
    assert_eq!(
        text(&out),
        "Error from server (NotFound): pods \"agent\" not found\n"
    );
    fake.shutdown().await;
}

/// `kubectl port-forward` (SPDY/3.1 tunnelled in a WebSocket since kubectl 1.31) to a port
/// that, the fake's pods sharing the host network, this test serves itself.
#[tokio::test]
async fn kubectl_port_forward_relays_connections_and_reports_refused_ones() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let (fake, _dir, kubeconfig) = fake_with_running_agent().await;

    // The "pod's" server: answers each connection with its bytes upper-cased.
    let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let pod_port = server.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = server.accept().await {
            tokio::spawn(async move {
                let mut all = Vec::new();
                conn.read_to_end(&mut all).await.unwrap();
                conn.write_all(&all.to_ascii_uppercase()).await.unwrap();
            });
        }
    });
    let refused_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };

    for (target, served) in [(pod_port, true), (refused_port, false)] {
        let local = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut forward = tokio::process::Command::new(kubectl_program())
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args([
                "port-forward",
                "pod/agent",
                &format!("{local}:{target}"),
                "--address",
                "127.0.0.1",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(forward.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(crate::harness::PATIENCE, lines.next_line())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            first.as_deref(),
            Some(format!("Forwarding from 127.0.0.1:{local} -> {target}").as_str())
        );
        let attempts = if served { 2 } else { 1 };
        for attempt in 0..attempts {
            let sent = format!("kiln {attempt} ").repeat(30_000).into_bytes();
            let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", local))
                .await
                .unwrap();
            let _ = conn.write_all(&sent).await;
            let _ = conn.shutdown().await;
            let mut got = Vec::new();
            let _ = conn.read_to_end(&mut got).await;
            if served {
                assert_eq!(got.len(), sent.len());
                assert!(got == sent.to_ascii_uppercase(), "attempt {attempt}");
            } else {
                assert!(got.is_empty());
            }
        }
        if !served {
            let out = tokio::time::timeout(crate::harness::PATIENCE, forward.wait_with_output())
                .await
                .unwrap()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(&format!(
                    "error forwarding port {refused_port} to pod: failed to connect to localhost:{refused_port}"
                )),
                "{stderr}"
            );
        }
    }
    fake.shutdown().await;
}

const TYPO: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: typo
spec:
  containers:
  - name: main
    image: busybox:1.36
    imagePullPolice: Always
"#;

#[tokio::test]
async fn kubectl_creates_namespaces_and_validates_fields_strictly() {
    let fake = start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig).unwrap();
    let out = kubectl(&kubeconfig, &["create", "namespace", "ci"], None).await;
    assert_eq!(text(&out), "namespace/ci created\n");
    let out = kubectl(&kubeconfig, &["apply", "-f", "-"], Some(TYPO)).await;
    assert_eq!(
        text(&out),
        "Error from server (BadRequest): error when creating \"STDIN\": Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"spec.containers[0].imagePullPolice\"\n"
    );
    let out = kubectl(
        &kubeconfig,
        &["apply", "--validate=warn", "-f", "-"],
        Some(TYPO),
    )
    .await;
    assert_eq!(
        (
            String::from_utf8_lossy(&out.stdout).as_ref(),
            String::from_utf8_lossy(&out.stderr).as_ref()
        ),
        (
            "pod/typo created\n",
            "Warning: unknown field \"spec.containers[0].imagePullPolice\"\n"
        )
    );
    fake.shutdown().await;
}
