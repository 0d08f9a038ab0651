//! The real kubectl against the fake: apply, wait, logs, exec, get -o json, delete.

use std::path::Path;
use std::process::Output;

use kiln_fake_kube::FakeKube;
use serde_json::Value;

use crate::harness::start;

const KUBECTL: &str = "/usr/bin/kubectl";

#[expect(
    clippy::unwrap_used,
    reason = "test plumbing: a kubectl that cannot run fails the test"
)]
async fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = tokio::process::Command::new(KUBECTL);
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
    tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
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

#[tokio::test]
async fn kubectl_drives_a_pod_end_to_end() {
    if !Path::new(KUBECTL).exists() {
        eprintln!("skipping: {KUBECTL} is not installed");
        return;
    }
    let fake: FakeKube = start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig).unwrap();

    let out = kubectl(&kubeconfig, &["apply", "-f", "-"], Some(MANIFEST)).await;
    assert_eq!(text(&out), "pod/agent created\n");
    let out = kubectl(
        &kubeconfig,
        &[
            "wait",
            "--for=condition=Ready",
            "pod/agent",
            "--timeout=20s",
        ],
        None,
    )
    .await;
    assert_eq!(text(&out), "pod/agent condition met\n");
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
