//! `FakeKube`: a running fake cluster (API server, controller, kubelet) and the handle tests
//! use to inspect it and inject faults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{AppState, router};
use crate::catalog;
use crate::config::{AutoscalerConfig, FakeKubeConfig, Isolation, NodeConfig};
use crate::controller::ControlPlane;
use crate::faults::{Faults, WatchFault};
use crate::kubelet::{Kubelet, PodTermination, StopReason};
use crate::log_store::LogStore;
use crate::process_table::ProcessTable;
use crate::recorder::{Recorder, RequestRecord};
use crate::store::Store;

/// Why a fake cluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum FakeKubeError {
    /// Binding the listener failed.
    #[error("cannot listen on 127.0.0.1:{port}")]
    Bind {
        /// The requested port.
        port: u16,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// Creating the state directory failed.
    #[error("cannot create the state directory")]
    StateDir(#[source] std::io::Error),
    /// Writing the kubeconfig failed.
    #[error("cannot write kubeconfig to {path}")]
    Kubeconfig {
        /// Target path.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The object named for a fault does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The control plane refused the change (e.g. no such node).
    #[error(transparent)]
    Api(#[from] crate::api_error::ApiError),
    /// RBAC objects were refused.
    #[error(transparent)]
    Rbac(#[from] crate::rbac::RbacError),
    /// `hidden_paths` were asked for without a mount namespace to hide them in.
    #[error("hidden paths need container isolation (`Isolation::MountNamespace`)")]
    HiddenWithoutIsolation,
}

/// A running fake cluster. Dropping it kills every container process it started.
pub struct FakeKube {
    address: SocketAddr,
    store: Store,
    kubelet: Arc<Kubelet>,
    control: Arc<ControlPlane>,
    rbac: Arc<crate::rbac::Rbac>,
    faults: Arc<Faults>,
    recorder: Recorder,
    procs: ProcessTable,
    cancel: CancellationToken,
    server: Option<JoinHandle<()>>,
    _state_dir: Option<tempfile::TempDir>,
}

impl FakeKube {
    /// Starts a fake cluster on `127.0.0.1:port` (0 for any free port).
    pub async fn start(config: FakeKubeConfig, port: u16) -> Result<Self, FakeKubeError> {
        if !config.hidden_paths.is_empty() && config.isolation != Isolation::MountNamespace {
            return Err(FakeKubeError::HiddenWithoutIsolation);
        }
        let (state_dir, base) = match &config.state_dir {
            Some(dir) => (None, dir.clone()),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("kiln-fake-kube-")
                    .tempdir()
                    .map_err(FakeKubeError::StateDir)?;
                let path = dir.path().to_path_buf();
                (Some(dir), path)
            }
        };
        std::fs::create_dir_all(&base).map_err(FakeKubeError::StateDir)?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|source| FakeKubeError::Bind { port, source })?;
        let address = listener
            .local_addr()
            .map_err(|source| FakeKubeError::Bind { port, source })?;
        let config = Arc::new(config);
        let store = Store::new(config.watch_history);
        seed(&store, &config);
        let faults = Arc::new(Faults::default());
        let logs = LogStore::default();
        let procs = ProcessTable::default();
        let kubelet = Kubelet::new(
            store.clone(),
            Arc::clone(&config),
            Arc::clone(&faults),
            logs.clone(),
            procs.clone(),
            base,
        );
        let recorder = Recorder::default();
        let cancel = CancellationToken::new();
        let control = ControlPlane::new(store.clone(), Arc::clone(&kubelet), &config);
        let rbac = Arc::new(crate::rbac::Rbac::default());
        let app = router(AppState {
            rbac: Arc::clone(&rbac),
            store: store.clone(),
            kubelet: Arc::clone(&kubelet),
            control: Arc::clone(&control),
            logs,
            faults: Arc::clone(&faults),
            recorder: recorder.clone(),
            config: Arc::clone(&config),
            address: address.to_string(),
        });
        tokio::spawn(crate::controller::run(Arc::clone(&control), cancel.clone()));
        tokio::spawn(crate::garbage::run(store.clone(), cancel.clone()));
        let shutdown = cancel.clone();
        let server = tokio::spawn(async move {
            // A real API server answers small frames at once (Go sets TCP_NODELAY).
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let serve = axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await });
            if let Err(err) = serve.await {
                tracing::error!(%err, "fake kube API server failed");
            }
        });
        tracing::info!(%address, "fake kube API server listening");
        Ok(Self {
            address,
            store,
            kubelet,
            control,
            rbac,
            faults,
            recorder,
            procs,
            cancel,
            server: Some(server),
            _state_dir: state_dir,
        })
    }

    /// The server's address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A kubeconfig (YAML) whose current context points at this server, namespace `default`.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kiln-fake\n  cluster:\n    server: {}\ncontexts:\n- name: kiln-fake\n  context:\n    cluster: kiln-fake\n    user: kiln-fake\n    namespace: default\ncurrent-context: kiln-fake\nusers:\n- name: kiln-fake\n  user:\n    token: kiln-fake-token\n",
            self.url()
        )
    }

    /// A kubeconfig like [`FakeKube::kubeconfig_yaml`] whose user is the service account
    /// `namespace/name` (its default namespace `namespace`), for clusters with RBAC on.
    pub fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> String {
        let token = crate::rbac::service_account_token(namespace, name);
        self.kubeconfig_yaml()
            .replace("namespace: default", &format!("namespace: {namespace}"))
            .replace(crate::rbac::ADMIN_TOKEN, &token)
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn rbac(&self) -> &crate::rbac::Rbac {
        &self.rbac
    }

    /// Loads Roles, ClusterRoles, RoleBindings and ClusterRoleBindings from YAML (several
    /// documents allowed, e.g. deploy/role.yaml); returns how many objects were loaded.
    pub fn load_rbac(&self, yaml: &str) -> Result<usize, crate::rbac::RbacError> {
        self.rbac.load_yaml(yaml)
    }

    /// Writes [`FakeKube::kubeconfig_yaml`] to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), FakeKubeError> {
        std::fs::write(path, self.kubeconfig_yaml()).map_err(|source| FakeKubeError::Kubeconfig {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Every API request served so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.recorder.requests()
    }

    /// Forgets the requests served so far.
    pub fn clear_requests(&self) {
        self.recorder.clear();
    }

    /// An object as stored, e.g. `object("pods", "default", "build-1")`.
    pub fn object(&self, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        self.store
            .get(catalog::resource(plural)?, namespace, name)
            .ok()
    }

    /// Every stored object of a type in `namespace`, e.g. `objects("events", "default")`
    /// (empty for a type the fake does not serve).
    pub fn objects(&self, plural: &str, namespace: &str) -> Vec<Value> {
        catalog::resource(plural)
            .map(|resource| self.store.list(resource, Some(namespace)).0)
            .unwrap_or_default()
    }

    /// Makes the next `count` API requests whose path contains `path_contains` fail with `code`.
    pub fn fail_requests(&self, path_contains: &str, count: u32, code: u16) {
        self.faults.fail_requests(path_contains, count, code);
    }

    /// Makes the next `count` `method` requests whose path contains `path_contains` be
    /// performed and then, after `wait`, answered with `code` instead (a create that timed out
    /// after it was made).
    pub fn lose_answers(
        &self,
        method: &str,
        path_contains: &str,
        count: u32,
        code: u16,
        wait: std::time::Duration,
    ) {
        self.faults
            .lose_answers(method, path_contains, count, code, wait);
    }

    /// Makes every API request whose path contains `path_contains` wait `delay` first.
    pub fn delay_requests(&self, path_contains: &str, delay: std::time::Duration) {
        self.faults.delay_requests(path_contains, delay);
    }

    /// Serves every request without delay again.
    pub fn clear_delays(&self) {
        self.faults.clear_delays();
    }

    /// The most API requests (not watches) served at once since the last
    /// [`FakeKube::clear_requests`].
    pub fn peak_in_flight(&self) -> usize {
        self.recorder.peak_in_flight()
    }

    /// Makes pulls of `image` fail (`ErrImagePull`, then `ImagePullBackOff`).
    pub fn fail_image_pull(&self, image: &str) {
        self.faults.fail_image(image);
    }

    /// Makes the next `pulls` pulls of `image` fail; later pulls succeed.
    pub fn fail_image_pulls(&self, image: &str, pulls: u32) {
        self.faults.fail_image_times(image, pulls);
    }

    /// Sets how long new pods wait before their first scheduling attempt.
    pub fn set_scheduling_delay(&self, delay: std::time::Duration) {
        self.control.set_scheduling_delay(delay);
    }

    /// Turns the simulated cluster autoscaler on (or off with `None`).
    pub fn set_autoscaler(&self, config: Option<AutoscalerConfig>) {
        self.control.set_autoscaler(config);
    }

    /// Sets how long pods stay on a lost node before the taint eviction controller deletes
    /// them (for nodes lost from now on).
    pub fn set_node_lost_grace(&self, grace: std::time::Duration) {
        self.control.set_node_lost_grace(grace);
    }

    /// Cuts a node off as a network partition or a dead machine would: `Ready=Unknown`, the
    /// `unreachable` taints, its pods `Ready=False`, and their eviction after the grace.
    pub fn lose_node(&self, node: &str) -> Result<(), FakeKubeError> {
        Ok(crate::node_lifecycle::lose_node(&self.control, node)?)
    }

    /// Deletes a node object; its pods are failed and removed as PodGC does.
    pub fn remove_node(&self, node: &str) -> Result<(), FakeKubeError> {
        Ok(crate::node_lifecycle::remove_node(&self.control, node)?)
    }

    /// Lets pulls of `image` succeed again.
    pub fn allow_image_pull(&self, image: &str) {
        self.faults.allow_image(image);
    }

    /// Closes every open watch without a final event.
    pub fn drop_watches(&self) {
        self.faults.signal_watches(WatchFault::Drop);
    }

    /// Forgets the change history and ends every open watch with an `ERROR` event carrying a
    /// `410 Expired` Status; resuming from any earlier resourceVersion then fails the same way.
    pub fn expire_watches(&self) {
        self.store.compact();
        self.faults.signal_watches(WatchFault::Expire);
    }

    /// Keeps only the last `changes` changes for watches (and exact lists) to resume from;
    /// older resourceVersions get `410 Expired`, as after an etcd compaction.
    pub fn set_watch_window(&self, changes: usize) {
        self.store.set_history_limit(changes);
    }

    /// Evicts a pod as the kubelet does under memory pressure: containers killed, pod `Failed`
    /// with reason `Evicted`.
    pub fn evict(&self, namespace: &str, name: &str) -> Result<(), FakeKubeError> {
        let uid = self.pod_uid(namespace, name)?;
        if self
            .kubelet
            .stop(&uid, StopReason::Evict(PodTermination::memory_pressure()))
        {
            Ok(())
        } else {
            Err(FakeKubeError::NotFound(format!(
                "pod {namespace}/{name} is not running on a node"
            )))
        }
    }

    /// Kills one container as the OOM killer would (`OOMKilled`, exit code 137).
    pub fn oom_kill(
        &self,
        namespace: &str,
        name: &str,
        container: &str,
    ) -> Result<(), FakeKubeError> {
        let uid = self.pod_uid(namespace, name)?;
        if self.kubelet.oom_kill(&uid, container) {
            Ok(())
        } else {
            Err(FakeKubeError::NotFound(format!(
                "pod {namespace}/{name} is not running on a node"
            )))
        }
    }

    /// Adds a node (or replaces one of the same name); pending pods are scheduled again.
    pub fn set_node(&self, node: &NodeConfig) {
        let Some(nodes) = catalog::resource("nodes") else {
            return;
        };
        let _ = self.store.delete(nodes, "", &node.name);
        if let Err(err) = self.store.create(nodes, "", node_object(node)) {
            tracing::warn!(%err, "node not created");
        }
    }

    fn pod_uid(&self, namespace: &str, name: &str) -> Result<String, FakeKubeError> {
        self.object("pods", namespace, name)
            .and_then(|p| {
                p.pointer("/metadata/uid")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .ok_or_else(|| {
                FakeKubeError::NotFound(format!(
                    "pods \"{name}\" not found in namespace {namespace}"
                ))
            })
    }

    /// Stops the server, kills every container process and waits for the server task.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        self.procs.kill_all();
        if let Some(server) = self.server.take() {
            // Open streams (watches, follows) end when their tasks see the dropped state.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), server).await;
        }
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.procs.kill_all();
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

fn seed(store: &Store, config: &FakeKubeConfig) {
    if let Some(ns) = catalog::resource("namespaces") {
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let object = json!({"metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
            if let Err(err) = store.create(ns, "", object) {
                tracing::warn!(%err, "namespace not seeded");
            }
            create_default_service_account(store, name);
        }
    }
    if let Some(nodes) = catalog::resource("nodes") {
        for node in &config.nodes {
            if let Err(err) = store.create(nodes, "", node_object(node)) {
                tracing::warn!(%err, "node not seeded");
            }
        }
    }
}

/// The `default` ServiceAccount the service account controller creates in every namespace.
pub(crate) fn create_default_service_account(store: &Store, namespace: &str) {
    let Some(sas) = catalog::resource("serviceaccounts") else {
        return;
    };
    let object = json!({"metadata": {"name": "default", "namespace": namespace}});
    if let Err(err) = store.create(sas, namespace, object) {
        tracing::debug!(%err, "default service account not created");
    }
}

pub(crate) fn node_object(node: &NodeConfig) -> Value {
    let mut labels = json!({
        "kubernetes.io/arch": crate::api::go_arch(),
        "kubernetes.io/os": "linux",
        "kubernetes.io/hostname": node.name,
        "beta.kubernetes.io/arch": crate::api::go_arch(),
        "beta.kubernetes.io/os": "linux",
    });
    if let Some(map) = labels.as_object_mut() {
        for (k, v) in &node.labels {
            map.insert(k.clone(), json!(v));
        }
    }
    let resources = json!({"cpu": node.cpu, "memory": node.memory, "pods": node.pods.to_string(), "ephemeral-storage": "100Gi"});
    let now = crate::time::now_rfc3339();
    json!({
        "metadata": {"name": node.name, "labels": labels},
        "spec": {},
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now}],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": node.name}],
            "nodeInfo": {"architecture": crate::api::go_arch(), "operatingSystem": "linux",
                "kubeletVersion": "v1.32.0", "containerRuntimeVersion": "kiln-fake://1.0",
                "osImage": "kiln fake kubelet", "kernelVersion": "", "kubeProxyVersion": "",
                "machineID": "", "systemUUID": "", "bootID": ""},
        },
    })
}
