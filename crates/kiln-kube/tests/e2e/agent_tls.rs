//! The agent link over TLS with kiln's own CA: the real kiln-agent binary dials the
//! controller's listener, is welcomed only when it trusts the CA that signed the listener's
//! certificate and the certificate names the host it dialled; a client that does not speak
//! TLS is refused. (Builds over the link: every test using `harness::dial`.)

use crate::harness::agent_binary;
use kiln_agent::handshake;
use kiln_kube::{AgentCa, AgentListener};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const TOKEN: &str = "tls-test-token";

/// The agent binary dialling `url` with `ca_pem` as the CA it trusts.
fn agent(url: &str, ca_pem: &str, dir: &std::path::Path) -> Child {
    Command::new(agent_binary())
        .args(["--connect", url, "--container", "main"])
        .arg("--workspace")
        .arg(dir)
        .arg("--run-dir")
        .arg(dir.join("run"))
        .env("KILN_AGENT_TOKEN", TOKEN)
        .env("KILN_AGENT_CA", ca_pem)
        .env("KILN_AGENT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Waits (up to 30 s) for a line of the agent's log containing `wanted`; returns it.
async fn log_line(child: &mut Child, wanted: &str) -> String {
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(wanted) {
                return line;
            }
        }
        panic!("the agent exited without logging `{wanted}`");
    })
    .await;
    found.unwrap_or_else(|_| panic!("no `{wanted}` in the agent's log within 30 s"))
}

async fn refused_by_the_agent(listener: Arc<AgentListener>, url: &str, ca_pem: &str) -> String {
    let mut incoming = listener.register(TOKEN, "main");
    let dir = tempfile::tempdir().unwrap();
    let mut child = agent(url, ca_pem, dir.path());
    let line = log_line(&mut child, "cannot reach the controller").await;
    assert!(
        incoming.try_recv().is_err(),
        "the listener got a connection"
    );
    child.kill().await.unwrap();
    line
}

#[tokio::test]
async fn an_agent_trusting_kiln_s_ca_is_welcomed_over_tls() {
    let listener = AgentListener::bind("127.0.0.1:0").await.unwrap();
    let mut incoming = listener.register(TOKEN, "main");
    let dir = tempfile::tempdir().unwrap();
    let url = format!("tls://{}", listener.local_addr());
    let mut child = agent(&url, listener.ca_pem(), dir.path());
    let stream = tokio::time::timeout(Duration::from_secs(30), incoming.recv())
        .await
        .expect("the agent dialled in within 30 s");
    assert!(stream.is_some());
    let line = log_line(&mut child, "connected to the controller").await;
    assert!(line.contains(&url), "{line}");
}

#[tokio::test]
async fn an_agent_trusting_another_ca_refuses_the_listener() {
    let listener = AgentListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("tls://{}", listener.local_addr());
    let other = AgentCa::generate().unwrap();
    let line = refused_by_the_agent(listener, &url, other.cert_pem()).await;
    assert!(line.contains("invalid peer certificate"), "{line}");
}

#[tokio::test]
async fn an_agent_refuses_a_certificate_for_another_host() {
    let ca = AgentCa::generate().unwrap();
    let tls = ca.server_tls(&["kiln.kiln.svc".to_owned()]).unwrap();
    let listener = AgentListener::bind_now("127.0.0.1:0", tls).unwrap();
    let url = format!("tls://{}", listener.local_addr());
    let line = refused_by_the_agent(listener, &url, ca.cert_pem()).await;
    assert!(
        line.contains("certificate not valid for name \"127.0.0.1\""),
        "{line}"
    );
}

#[tokio::test]
async fn an_agent_without_a_ca_does_not_start_and_plaintext_urls_are_read_as_tls() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(agent_binary())
        .args(["--connect", "tls://127.0.0.1:9", "--container", "main"])
        .arg("--run-dir")
        .arg(dir.path().join("run"))
        .env("KILN_AGENT_TOKEN", TOKEN)
        .env_remove("KILN_AGENT_CA")
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("KILN_AGENT_CA is not set: --connect needs kiln's CA certificate"),
        "{stderr}"
    );
    // `tcp://` (the older spelling) still speaks TLS: a CA of another listener is refused.
    let listener = AgentListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("tcp://{}", listener.local_addr());
    let other = AgentCa::generate().unwrap();
    let line = refused_by_the_agent(listener, &url, other.cert_pem()).await;
    assert!(line.contains("invalid peer certificate"), "{line}");
}

#[tokio::test]
async fn a_plaintext_client_is_refused() {
    let listener = AgentListener::bind("127.0.0.1:0").await.unwrap();
    let mut incoming = listener.register(TOKEN, "main");
    let mut stream = tokio::net::TcpStream::connect(listener.local_addr())
        .await
        .unwrap();
    // The agent protocol's `Hello` with the right token, in the clear.
    let answer = handshake::greet(&mut stream, TOKEN, "main").await;
    assert!(answer.is_err(), "{answer:?}");
    assert!(
        incoming.try_recv().is_err(),
        "a plaintext client was handed to the build"
    );
}

/// kiln in the cluster (agents dial it over TLS) needs nothing beyond deploy/'s RBAC: a pod
/// with two containers starts, runs steps in both, and is deleted with its Secret (which
/// holds the CA certificate), and the API server refused none of kiln's requests. The agents cannot read the CA's Secret key:
/// it reaches them only as `KILN_AGENT_CA`, which their processes do not see.
#[tokio::test]
async fn a_build_runs_over_tls_with_exactly_deploy_s_rights() {
    use kiln_executor::{Executor, ProcessSpec};
    let fake = kiln_fake_kube::FakeKube::start(Default::default(), 0)
        .await
        .unwrap();
    let kiln_kubeconfig = fake.kiln_identity("default").unwrap();
    let cluster = crate::harness::Cluster {
        admin: crate::harness::client_from(&fake.kubeconfig_yaml()).await,
        client: crate::harness::client_from(&kiln_kubeconfig).await,
        kiln_kubeconfig,
        fake,
    };
    let settings = crate::harness::dial().await;
    let name = crate::harness::pod_name("tls-rbac");
    let ex =
        crate::harness::start(&cluster, &settings, &name, crate::harness::TWO_CONTAINERS).await;
    for container in ["a", "b"] {
        let spec = ProcessSpec::new(vec![
            "sh".into(),
            "-c".into(),
            "test -z \"$KILN_AGENT_CA$KILN_AGENT_TOKEN\" && echo no-secrets".into(),
        ])
        .container(Some(container.to_owned()));
        let mut handle = ex.spawn(spec).await.unwrap();
        let mut out = Vec::new();
        while let Some(chunk) = handle.next_chunk().await {
            out.extend_from_slice(&chunk.bytes);
        }
        assert!(handle.wait().await.unwrap().success());
        assert_eq!(String::from_utf8_lossy(&out), "no-secrets\n");
    }
    let secret = cluster
        .fake
        .object("secrets", "default", &kiln_kube::secret_name(&name))
        .unwrap();
    assert!(secret["data"]["ca.crt"].is_string(), "{secret}");
    ex.cleanup().await.unwrap();
    let refused: Vec<String> = cluster
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.status == 401 || r.status == 403)
        .map(|r| format!("{} {} {}", r.status, r.method, r.path))
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
}
