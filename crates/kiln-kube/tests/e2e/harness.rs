//! Test support: a fake cluster, the agent binary, pods from the pod builder, executors.

use kiln_diagnostics::Span;
use kiln_fake_kube::{FakeKube, FakeKubeConfig, RequestRecord};
use kiln_kube::{
    AgentInstall, AgentListener, AgentMode, AgentRequest, ExecutorSettings, KubeConfig,
    KubeExecutor, PodIdentity, PodRequest, PodText, build_pod,
};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The kiln-agent binary of this target directory (built when missing).
pub fn agent_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| kiln_fake_kube::workspace_binary("kiln-agent", "kiln-agent").unwrap())
        .clone()
}

pub struct Cluster {
    pub fake: FakeKube,
    /// kiln's client: deploy/'s `kiln` service account in `default`, with deploy/'s RBAC and
    /// `pods/portforward` (which docs/kubernetes.md adds for kiln outside the cluster).
    pub client: kube::Client,
    /// The administrator, for what a test sets up or checks beside kiln.
    pub admin: kube::Client,
    /// kiln's kubeconfig (YAML).
    pub kiln_kubeconfig: String,
}

pub async fn cluster() -> Cluster {
    cluster_with(FakeKubeConfig::default()).await
}

pub async fn cluster_with(config: FakeKubeConfig) -> Cluster {
    let fake = FakeKube::start(config, 0).await.unwrap();
    let kiln = fake.kiln_identity("default").unwrap();
    fake.grant_kiln("default", "pods/portforward", &["create"])
        .unwrap();
    let client = client_from(&kiln).await;
    let admin = client_from(&fake.kubeconfig_yaml()).await;
    Cluster {
        fake,
        client,
        admin,
        kiln_kubeconfig: kiln,
    }
}

/// Waits (at most a minute, polling the fake's store) until the agent Secret of pod `name` is
/// gone: the pod owns it, so the cluster's garbage collector deletes it once the pod is.
pub async fn secret_goes_with_the_pod(c: &Cluster, name: &str) {
    let secret = kiln_kube::secret_name(name);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while c.fake.object("secrets", "default", &secret).is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "secret {secret} still there a minute after its pod was deleted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A client with kiln's limits from a kubeconfig (YAML).
pub async fn client_from(yaml: &str) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(yaml).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    kiln_kube::limited_client(config, &kiln_kube::ApiLimits::default()).unwrap()
}

/// Ports for agents in port-forward mode (the fake's pods share the host network): see
/// [`kiln_fake_kube::free_agent_ports`].
pub fn free_base_port(count: u16) -> u16 {
    kiln_fake_kube::free_agent_ports(count)
}

pub fn install() -> AgentInstall {
    let mut install = AgentInstall::new("kiln-agent-test");
    install.command = vec![
        agent_binary().display().to_string(),
        "--install".into(),
        kiln_kube::AGENT_BINARY.into(),
    ];
    install.kill_grace_seconds = 1;
    install
}

/// Port-forward settings (kiln outside the cluster).
pub fn port_forward(containers: u16) -> ExecutorSettings {
    let mut s = ExecutorSettings::new(
        install(),
        AgentMode::PortForward {
            base_port: free_base_port(containers),
        },
    );
    s.start_deadline = Duration::from_secs(20);
    s.reconnect_deadline = Duration::from_secs(5);
    s.delete_grace_seconds = 1;
    s.scale_up_window = Duration::from_secs(2);
    s.image_pull = kiln_kube::ImagePull {
        retries: 4,
        deadline_seconds: 2,
    };
    s
}

/// Dial settings (agents dial the controller's TLS listener on 127.0.0.1:0, trusting its CA).
pub async fn dial() -> ExecutorSettings {
    let listener: Arc<AgentListener> = AgentListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("tls://{}", listener.local_addr());
    let mut s = ExecutorSettings::new(
        install(),
        AgentMode::Dial {
            agent_url: url,
            listener,
        },
    );
    s.start_deadline = Duration::from_secs(20);
    s.reconnect_deadline = Duration::from_secs(5);
    s.delete_grace_seconds = 1;
    s.scale_up_window = Duration::from_secs(2);
    s.image_pull = kiln_kube::ImagePull {
        retries: 4,
        deadline_seconds: 2,
    };
    s
}

/// A unique pod name (the fake is per test, but names show up in process lists).
pub fn pod_name(test: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("kiln-{test}-{}-{n}", std::process::id())
}

/// The pod the pod builder makes from a pipeline's `yaml` (no templates).
pub fn pod_request(name: &str, yaml: &str) -> PodRequest {
    let config = KubeConfig::default();
    let agent = AgentRequest {
        yaml: Some(PodText::evaluated(yaml.to_owned(), Span::new(0, 0))),
        ..AgentRequest::default()
    };
    let id = PodIdentity {
        name: name.to_owned(),
        job: "e2e".to_owned(),
        build: 7,
    };
    let built = build_pod(&config, &agent, &id).unwrap_or_else(|d| panic!("{d:?}"));
    PodRequest {
        pod: built.pod,
        namespace: built.namespace,
        default_container: Some(built.default_container),
        start_log: kiln_kube::StartLog::none(),
    }
}

pub const TWO_CONTAINERS: &str = "
spec:
  containers:
  - name: a
    image: busybox
  - name: b
    image: alpine
";

pub async fn start(
    cluster: &Cluster,
    settings: &ExecutorSettings,
    name: &str,
    yaml: &str,
) -> KubeExecutor {
    KubeExecutor::start(cluster.client.clone(), settings, pod_request(name, yaml))
        .await
        .unwrap_or_else(|e| panic!("pod did not start: {e}"))
}

/// Non-watch requests to pods whose path mentions `name`, as `METHOD path?query`.
pub fn pod_requests(requests: &[RequestRecord], name: &str) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.path.contains(name))
        .map(|r| {
            let kind = if r.watch { "WATCH" } else { r.method.as_str() };
            format!("{kind} {}", r.path)
        })
        .collect()
}

/// A Kaniko container as kiln makes it: root (Kaniko needs it) but unprivileged, with root's
/// capabilities as they are, the registry credentials read-only at /kaniko/.docker, the agent
/// volume and the workspace.
pub fn assert_kaniko_container(container: &k8s_openapi::api::core::v1::Container) {
    assert_eq!(container.name, "kaniko");
    let security = container.security_context.clone().unwrap_or_default();
    let expected = k8s_openapi::api::core::v1::SecurityContext {
        run_as_user: Some(0),
        ..Default::default()
    };
    assert_eq!(security, expected, "{container:?}");
    let mut mounts: Vec<(String, bool)> = container
        .volume_mounts
        .clone()
        .unwrap()
        .into_iter()
        .map(|m| (m.mount_path, m.read_only.unwrap_or(false)))
        .collect();
    mounts.sort();
    assert_eq!(
        mounts,
        [
            ("/kaniko/.docker".to_owned(), true),
            ("/kiln".to_owned(), false),
            ("/workspace".to_owned(), false)
        ]
    );
}

/// A `kubernetes.io/dockerconfigjson`-style secret `name` holding `docker_config`, as Kaniko
/// pods mount at /kaniko/.docker.
pub async fn create_docker_config_secret(cluster: &Cluster, name: &str, docker_config: &str) {
    use k8s_openapi::api::core::v1::Secret;
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(std::collections::BTreeMap::from([(
            ".dockerconfigjson".to_owned(),
            k8s_openapi::ByteString(docker_config.as_bytes().to_vec()),
        )])),
        ..Secret::default()
    };
    let secrets: kube::Api<Secret> = kube::Api::namespaced(cluster.admin.clone(), "default");
    secrets
        .create(&kube::api::PostParams::default(), &secret)
        .await
        .unwrap();
}
