//! The simulated kubelet: runs each bound pod's containers as local processes and reports their
//! statuses into the store, as a node agent would.

mod container;
mod pod_status;
mod pod_worker;
mod sandbox;
mod volumes;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use crate::config::FakeKubeConfig;
use crate::faults::Faults;
use crate::log_store::LogStore;
use crate::process_table::ProcessTable;
use crate::store::Store;

pub use container::KillCause;
pub use pod_status::PodTermination;
pub use sandbox::exec_command;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running container's main process, for exec.
#[derive(Debug, Clone)]
pub struct RunningProcess {
    /// Main process id.
    pub pid: u32,
    /// Its environment.
    pub env: Vec<(String, String)>,
}

/// Why a whole pod is being stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// Deleted through the API, with this grace period.
    Delete(Duration),
    /// Evicted by the node.
    Evict(PodTermination),
}

/// The kubelet's handle on one pod.
pub struct PodHandle {
    uid: String,
    namespace: String,
    name: String,
    node: String,
    dir: PathBuf,
    running: Mutex<HashMap<String, RunningProcess>>,
    kills: Mutex<HashMap<String, watch::Sender<Option<KillCause>>>>,
    stop: watch::Sender<Option<StopReason>>,
    evicted: Mutex<Option<PodTermination>>,
}

impl PodHandle {
    fn set_running(&self, container: &str, pid: u32, env: Vec<(String, String)>) {
        lock(&self.running).insert(container.to_owned(), RunningProcess { pid, env });
    }

    fn clear_running(&self, container: &str) {
        lock(&self.running).remove(container);
    }

    fn kill_receiver(&self, container: &str) -> watch::Receiver<Option<KillCause>> {
        lock(&self.kills)
            .entry(container.to_owned())
            .or_insert_with(|| watch::channel(None).0)
            .subscribe()
    }

    fn kill(&self, container: Option<&str>, cause: KillCause) {
        let kills = lock(&self.kills);
        for (name, tx) in kills.iter() {
            if container.is_none_or(|c| c == name) {
                tx.send_replace(Some(cause));
            }
        }
    }
}

/// Shared kubelet state.
pub struct Kubelet {
    store: Store,
    config: Arc<FakeKubeConfig>,
    faults: Arc<Faults>,
    logs: LogStore,
    procs: ProcessTable,
    base_dir: PathBuf,
    pods: Mutex<HashMap<String, Arc<PodHandle>>>,
    next_ip: Mutex<u32>,
    /// Nodes whose kubelet no longer reaches the API server.
    lost_nodes: Mutex<HashSet<String>>,
}

impl Kubelet {
    /// A kubelet keeping pod directories under `base_dir`.
    pub fn new(
        store: Store,
        config: Arc<FakeKubeConfig>,
        faults: Arc<Faults>,
        logs: LogStore,
        procs: ProcessTable,
        base_dir: PathBuf,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            config,
            faults,
            logs,
            procs,
            base_dir,
            pods: Mutex::new(HashMap::new()),
            next_ip: Mutex::new(10),
            lost_nodes: Mutex::new(HashSet::new()),
        })
    }

    /// Whether the kubelet is already running this pod.
    pub fn knows(&self, uid: &str) -> bool {
        lock(&self.pods).contains_key(uid)
    }

    /// Starts running a pod bound to one of the fake's nodes.
    pub fn start(self: &Arc<Self>, pod: &Value) {
        let text = |p: &str| {
            pod.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let uid = text("/metadata/uid");
        let handle = Arc::new(PodHandle {
            uid: uid.clone(),
            namespace: text("/metadata/namespace"),
            name: text("/metadata/name"),
            node: text("/spec/nodeName"),
            dir: self.base_dir.join("pods").join(&uid),
            running: Mutex::new(HashMap::new()),
            kills: Mutex::new(HashMap::new()),
            stop: watch::channel(None).0,
            evicted: Mutex::new(None),
        });
        {
            let mut pods = lock(&self.pods);
            if pods.contains_key(&uid) {
                return;
            }
            pods.insert(uid.clone(), Arc::clone(&handle));
        }
        let ip = {
            let mut next = lock(&self.next_ip);
            *next += 1;
            format!("10.244.{}.{}", (*next >> 8) & 0xff, *next & 0xff)
        };
        tracing::info!(pod = %handle.name, namespace = %handle.namespace, node = %handle.node, "kubelet starting pod");
        tokio::spawn(pod_worker::run_pod(
            Arc::clone(self),
            handle,
            pod.clone(),
            ip,
        ));
    }

    /// Asks a pod's containers to stop (SIGTERM, SIGKILL after `grace`); the pod object is
    /// removed from the store once they have. Returns `false` when the kubelet has no such pod.
    pub fn stop(&self, uid: &str, reason: StopReason) -> bool {
        let Some(handle) = lock(&self.pods).get(uid).cloned() else {
            return false;
        };
        let grace = match &reason {
            StopReason::Delete(grace) => *grace,
            StopReason::Evict(_) => Duration::from_secs(0),
        };
        if let StopReason::Evict(termination) = &reason {
            lock(&handle.evicted).get_or_insert_with(|| termination.clone());
        }
        let first_delete =
            matches!(reason, StopReason::Delete(_)) && handle.stop.borrow().is_none();
        if first_delete && !self.node_lost(&handle.node) {
            self.report_killing(&handle);
        }
        if matches!(reason, StopReason::Delete(_)) || handle.stop.borrow().is_none() {
            handle.stop.send_replace(Some(reason));
        }
        handle.kill(None, KillCause::Stop(grace));
        true
    }

    /// Cuts a node off: its kubelet stops reporting (no more status updates or events for its
    /// pods, and it never confirms their deletion) and its containers die with the machine.
    pub fn lose_node(&self, node: &str) {
        lock(&self.lost_nodes).insert(node.to_owned());
        let handles: Vec<Arc<PodHandle>> = lock(&self.pods)
            .values()
            .filter(|h| h.node == node)
            .cloned()
            .collect();
        for handle in handles {
            handle
                .stop
                .send_replace(Some(StopReason::Delete(Duration::ZERO)));
            handle.kill(None, KillCause::Stop(Duration::ZERO));
        }
    }

    /// A node (re)joined under this name: its kubelet reports again.
    pub fn node_joined(&self, node: &str) {
        lock(&self.lost_nodes).remove(node);
    }

    /// Whether [`Kubelet::lose_node`] cut this node off.
    pub fn node_lost(&self, node: &str) -> bool {
        lock(&self.lost_nodes).contains(node)
    }

    /// `Killing` events for the running containers of a pod being deleted.
    fn report_killing(&self, handle: &PodHandle) {
        let Some(pods) = crate::catalog::resource("pods") else {
            return;
        };
        let Ok(pod) = self.store.get(pods, &handle.namespace, &handle.name) else {
            return;
        };
        let mut names: Vec<String> = lock(&handle.running).keys().cloned().collect();
        names.sort();
        for name in names {
            let field = format!("spec.containers{{{name}}}");
            crate::events::record(
                &self.store,
                &pod,
                crate::events::Reporter::Kubelet(&handle.node),
                false,
                "Killing",
                &format!("Stopping container {name}"),
                Some(&field),
            );
        }
    }

    /// Kills one container as the kernel's OOM killer would.
    pub fn oom_kill(&self, uid: &str, container: &str) -> bool {
        let Some(handle) = lock(&self.pods).get(uid).cloned() else {
            return false;
        };
        handle.kill(Some(container), KillCause::Oom);
        true
    }

    /// The running main process of a container, for exec.
    pub fn running_process(&self, uid: &str, container: &str) -> Option<RunningProcess> {
        let handle = lock(&self.pods).get(uid).cloned()?;
        lock(&handle.running).get(container).cloned()
    }

    /// The configured isolation.
    pub fn isolation(&self) -> crate::config::Isolation {
        self.config.isolation
    }

    fn forget(&self, uid: &str) {
        lock(&self.pods).remove(uid);
        self.logs.forget_pod(uid);
    }
}
