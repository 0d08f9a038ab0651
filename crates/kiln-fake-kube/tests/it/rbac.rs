//! Authentication by service account tokens and RBAC from deploy/'s Role and RoleBinding.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed setup step should fail the test that called it"
)]

use std::path::Path;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod, ServiceAccount};
use kiln_fake_kube::{FakeKube, FakeKubeConfig};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{shell_pod, start_with};

fn deploy(file: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../deploy")
            .join(file),
    )
    .unwrap()
}

async fn client_from(yaml: &str) -> Client {
    let kubeconfig = Kubeconfig::from_yaml(yaml).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

/// A fake with RBAC on, deploy/'s Role and RoleBinding loaded, and namespace `kiln` with
/// the `kiln` service account; returns it with a client acting as that account.
async fn cluster_with_role(role_yaml: &str) -> (FakeKube, Client) {
    let fake = start_with(FakeKubeConfig {
        rbac: true,
        ..FakeKubeConfig::default()
    })
    .await;
    assert_eq!(fake.load_rbac(role_yaml).unwrap(), 1);
    assert_eq!(fake.load_rbac(&deploy("rolebinding.yaml")).unwrap(), 1);
    let admin = client_from(&fake.kubeconfig_yaml()).await;
    let namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "kiln"}})).unwrap();
    Api::<Namespace>::all(admin.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
    let account: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "kiln"}})).unwrap();
    Api::<ServiceAccount>::namespaced(admin, "kiln")
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    let kiln = client_from(&fake.service_account_kubeconfig("kiln", "kiln")).await;
    (fake, kiln)
}

fn api_error(err: kube::Error) -> (u16, String) {
    match err {
        kube::Error::Api(status) => (status.code, status.message),
        other => panic!("expected a Status, got {other:?}"),
    }
}

async fn raw_with_token(fake: &FakeKube, path: &str, token: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(fake.address())
        .await
        .unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n",
        fake.address()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    String::from_utf8_lossy(&response)
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn deploy_role_allows_what_kiln_does_and_nothing_else() {
    let (fake, kiln) = cluster_with_role(&deploy("role.yaml")).await;
    let pods: Api<Pod> = Api::namespaced(kiln.clone(), "kiln");
    pods.create(
        &PostParams::default(),
        &shell_pod("build", "sleep 30", "Never"),
    )
    .await
    .unwrap();
    pods.list(&ListParams::default()).await.unwrap();
    let relabel = Patch::Merge(json!({"metadata": {"labels": {"kiln.dev/pool": "taken"}}}));
    pods.patch("build", &PatchParams::default(), &relabel)
        .await
        .unwrap();

    let (code, message) = api_error(
        Api::<Node>::all(kiln.clone())
            .list(&ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (code, message.as_str()),
        (
            403,
            "nodes is forbidden: User \"system:serviceaccount:kiln:kiln\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"
        )
    );
    let (code, message) = api_error(
        Api::<Pod>::namespaced(kiln.clone(), "default")
            .get("anything")
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (code, message.as_str()),
        (
            403,
            "pods \"anything\" is forbidden: User \"system:serviceaccount:kiln:kiln\" cannot get resource \"pods\" in API group \"\" in the namespace \"default\""
        )
    );
    let token = kiln_fake_kube::rbac::service_account_token("kiln", "kiln");
    let exec = "/api/v1/namespaces/kiln/pods/build/exec?command=true&stdout=true";
    assert_eq!(raw_with_token(&fake, exec, &token).await, 403);
    assert_eq!(
        raw_with_token(&fake, "/api/v1/namespaces/kiln/pods/build/log", &token).await,
        200
    );
    assert_eq!(
        raw_with_token(&fake, "/api/v1/namespaces/kiln/pods", "forged").await,
        401
    );
    let ghost = kiln_fake_kube::rbac::service_account_token("kiln", "ghost");
    assert_eq!(
        raw_with_token(&fake, "/api/v1/namespaces/kiln/pods", &ghost).await,
        401
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn a_verb_the_role_lacks_is_refused() {
    let without_patch = deploy("role.yaml").replace("watch, patch, delete", "watch, delete");
    assert_ne!(
        without_patch,
        deploy("role.yaml"),
        "role.yaml changed shape"
    );
    let (fake, kiln) = cluster_with_role(&without_patch).await;
    let pods: Api<Pod> = Api::namespaced(kiln, "kiln");
    pods.create(
        &PostParams::default(),
        &shell_pod("warm", "sleep 30", "Never"),
    )
    .await
    .unwrap();
    let relabel = Patch::Merge(json!({"metadata": {"labels": {"kiln.dev/pool": "taken"}}}));
    let (code, message) = api_error(
        pods.patch("warm", &PatchParams::default(), &relabel)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (code, message.as_str()),
        (
            403,
            "pods \"warm\" is forbidden: User \"system:serviceaccount:kiln:kiln\" cannot patch resource \"pods\" in API group \"\" in the namespace \"kiln\""
        )
    );
    fake.shutdown().await;
}

/// `kiln_identity` installs deploy/'s account and RBAC in a namespace of the test's choice
/// and turns RBAC on: kiln may do what deploy/ grants there (and read nodes, from the
/// ClusterRole), nothing in other namespaces, and `grant_kiln` adds a named right.
#[tokio::test]
async fn kiln_identity_is_deploy_s_account_and_rights_in_the_namespace() {
    let fake = start_with(FakeKubeConfig::default()).await;
    let kiln = client_from(&fake.kiln_identity("builds").unwrap()).await;
    let pods: Api<Pod> = Api::namespaced(kiln.clone(), "builds");
    pods.create(&PostParams::default(), &shell_pod("b", "sleep 30", "Never"))
        .await
        .unwrap();
    pods.list(&ListParams::default()).await.unwrap();
    Api::<Node>::all(kiln.clone())
        .get("fake-node-1")
        .await
        .unwrap();
    let (code, _) = api_error(
        Api::<Pod>::namespaced(kiln.clone(), "default")
            .list(&ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 403);
    let token = kiln_fake_kube::rbac::service_account_token("builds", "kiln");
    let forward = "/api/v1/namespaces/builds/pods/b/portforward?ports=1";
    assert_eq!(raw_with_token(&fake, forward, &token).await, 403);
    // Unauthenticated requests are refused once kiln's identity is installed.
    assert_eq!(
        raw_with_token(&fake, "/api/v1/namespaces/builds/pods", "").await,
        401
    );
    fake.grant_kiln("builds", "pods/portforward", &["create"])
        .unwrap();
    assert_ne!(raw_with_token(&fake, forward, &token).await, 403);
    fake.shutdown().await;
}

/// The binary run as `kiln-fake-kube`, stopped (SIGINT, which kills its containers) when
/// dropped.
struct Binary(std::process::Child);

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// Waits (30 s at most) for `path` to hold a kubeconfig; returns its text.
async fn wait_for_kubeconfig(path: &Path, child: &mut Binary) -> String {
    for _ in 0..1500 {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.contains("current-context")
        {
            return text;
        }
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "kiln-fake-kube exited"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("kiln-fake-kube wrote no {}", path.display());
}

#[tokio::test]
async fn the_binarys_kubeconfig_is_kilns_account_and_the_admins_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let (kiln_path, admin_path) = (dir.path().join("kiln"), dir.path().join("admin"));
    let mut child = Binary(
        std::process::Command::new(env!("CARGO_BIN_EXE_kiln-fake-kube"))
            .args(["--port", "0", "--no-isolation", "--kubeconfig-out"])
            .arg(&kiln_path)
            .arg("--admin-kubeconfig-out")
            .arg(&admin_path)
            .args(["--grant-kiln", "pods/portforward=create"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let kiln_yaml = wait_for_kubeconfig(&kiln_path, &mut child).await;
    let admin_yaml = wait_for_kubeconfig(&admin_path, &mut child).await;
    assert_ne!(kiln_yaml, admin_yaml);
    let kiln = client_from(&kiln_yaml).await;
    let admin = client_from(&admin_yaml).await;
    // kiln: deploy/'s Role in `default` (pods, not namespaces or service accounts).
    let pods: Api<Pod> = Api::namespaced(kiln.clone(), "default");
    pods.create(&PostParams::default(), &shell_pod("b", "sleep 30", "Never"))
        .await
        .unwrap();
    pods.list(&ListParams::default()).await.unwrap();
    let namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "other"}})).unwrap();
    let (code, _) = api_error(
        Api::<Namespace>::all(kiln.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 403);
    let (code, _) = api_error(
        Api::<ServiceAccount>::namespaced(kiln.clone(), "default")
            .list(&ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 403);
    // The grant asked for: port-forward in `default` (the request gets past RBAC).
    let token = kiln_yaml
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .unwrap()
        .trim()
        .to_owned();
    let mut stream = tokio::net::TcpStream::connect(
        admin_yaml
            .lines()
            .find_map(|l| l.trim().strip_prefix("server: http://"))
            .unwrap()
            .trim(),
    )
    .await
    .unwrap();
    let request = format!(
        "GET /api/v1/namespaces/default/pods/b/portforward?ports=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let status = String::from_utf8_lossy(&response);
    assert!(!status.starts_with("HTTP/1.1 403"), "{status}");
    // The administrator can do what kiln cannot.
    Api::<Namespace>::all(admin)
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
}

#[test]
fn a_malformed_grant_stops_the_binary_saying_what_it_wants() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiln-fake-kube"))
        .args([
            "--port",
            "0",
            "--no-isolation",
            "--grant-kiln",
            "pods/portforward",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--grant-kiln wants RESOURCE=VERB"),
        "{stderr}"
    );
}
