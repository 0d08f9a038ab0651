//! The control loop: watches pod and node changes in the store and drives the scheduler, the
//! autoscaler and the kubelet, so that everything a client sees happens through the API objects.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::autoscaler::Autoscaler;
use crate::catalog;
use crate::config::{AutoscalerConfig, FakeKubeConfig};
use crate::kubelet::{Kubelet, StopReason};
use crate::scheduler::{self, Outcome};
use crate::store::{ChangeType, Store};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The control plane's shared state: what the controllers need and what `/__fake/` changes at
/// run time.
pub struct ControlPlane {
    /// The objects.
    pub store: Store,
    /// The node agent.
    pub kubelet: Arc<Kubelet>,
    /// The simulated cluster autoscaler.
    pub autoscaler: Autoscaler,
    scheduling_delay: Mutex<Duration>,
    node_lost_grace: Mutex<Duration>,
    /// When each pending pod entered the scheduling queue, by uid.
    queued: Mutex<HashMap<String, Instant>>,
    /// Pods with a wake-up armed for the end of their scheduling delay.
    armed: Mutex<HashSet<String>>,
}

impl ControlPlane {
    /// The control plane of a cluster shaped by `config`.
    pub fn new(store: Store, kubelet: Arc<Kubelet>, config: &FakeKubeConfig) -> Arc<Self> {
        Arc::new(Self {
            autoscaler: Autoscaler::new(store.clone(), config.autoscaler.clone()),
            store,
            kubelet,
            scheduling_delay: Mutex::new(config.scheduling_delay),
            node_lost_grace: Mutex::new(config.node_lost_grace),
            queued: Mutex::new(HashMap::new()),
            armed: Mutex::new(HashSet::new()),
        })
    }

    /// Sets how long new pods wait before their first scheduling attempt.
    pub fn set_scheduling_delay(&self, delay: Duration) {
        *lock(&self.scheduling_delay) = delay;
    }

    /// Turns the autoscaler on (or off with `None`).
    pub fn set_autoscaler(&self, config: Option<AutoscalerConfig>) {
        self.autoscaler.configure(config);
    }

    /// Sets how long pods stay on a lost node before they are evicted.
    pub fn set_node_lost_grace(&self, grace: Duration) {
        *lock(&self.node_lost_grace) = grace;
    }

    /// The configured grace for pods on lost nodes.
    pub fn node_lost_grace(&self) -> Duration {
        *lock(&self.node_lost_grace)
    }

    /// One scheduling attempt for a pending pod, honouring the scheduling delay; an
    /// unschedulable pod is shown to the autoscaler.
    pub fn try_schedule(self: &Arc<Self>, pod: &Value) {
        let uid = pod
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let delay = *lock(&self.scheduling_delay);
        if !delay.is_zero() {
            let since = *lock(&self.queued)
                .entry(uid.clone())
                .or_insert_with(Instant::now);
            let ready_at = since + delay;
            if Instant::now() < ready_at {
                if lock(&self.armed).insert(uid.clone()) {
                    self.wake_at(ready_at, pod);
                }
                return;
            }
        }
        match scheduler::schedule(&self.store, pod) {
            Outcome::Bound => {
                self.autoscaler.forget(&uid);
                lock(&self.queued).remove(&uid);
            }
            Outcome::Unschedulable => self.autoscaler.consider(pod),
            Outcome::Unresolvable | Outcome::Skipped => {}
        }
    }

    fn wake_at(self: &Arc<Self>, at: Instant, pod: &Value) {
        let this = Arc::clone(self);
        let ns = text(pod, "/metadata/namespace");
        let name = text(pod, "/metadata/name");
        let uid = text(pod, "/metadata/uid");
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            lock(&this.armed).remove(&uid);
            let current = catalog::resource("pods")
                .and_then(|rt| this.store.get(rt, &ns, &name).ok())
                .filter(|p| p.pointer("/metadata/uid").and_then(Value::as_str) == Some(&uid));
            if let Some(pod) = current {
                this.try_schedule(&pod);
            }
        });
    }

    fn forget_pod(&self, uid: &str) {
        lock(&self.queued).remove(uid);
        self.autoscaler.forget(uid);
    }
}

fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// Runs until `cancel` fires.
pub async fn run(control: Arc<ControlPlane>, cancel: CancellationToken) {
    let store = control.store.clone();
    let kubelet = Arc::clone(&control.kubelet);
    let mut changes = store.subscribe();
    resync(&control);
    loop {
        let change = tokio::select! {
            () = cancel.cancelled() => return,
            change = changes.recv() => change,
        };
        match change {
            Ok(change) => match (change.resource.plural, change.kind) {
                ("pods", ChangeType::Deleted) => {
                    let uid = text(&change.object, "/metadata/uid");
                    kubelet.stop(&uid, StopReason::Delete(Duration::ZERO));
                    control.forget_pod(&uid);
                    reschedule_pending(&control);
                }
                ("pods", _) => {
                    reconcile_pod(&control, &change.object);
                    if is_terminal(&change.object) {
                        reschedule_pending(&control);
                    }
                }
                ("persistentvolumeclaims", ChangeType::Added) => reschedule_pending(&control),
                ("nodes", kind) => {
                    if kind == ChangeType::Added {
                        let name = text(&change.object, "/metadata/name");
                        kubelet.node_joined(&name);
                        control.autoscaler.joined(&name);
                    }
                    reschedule_pending(&control);
                }
                _ => {}
            },
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "controller lagged behind the store; resyncing");
                resync(&control);
            }
            Err(RecvError::Closed) => return,
        }
    }
}

fn is_terminal(pod: &Value) -> bool {
    matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    )
}

fn resync(control: &Arc<ControlPlane>) {
    if let Some(pods) = catalog::resource("pods") {
        for pod in control.store.list(pods, None).0 {
            reconcile_pod(control, &pod);
        }
    }
}

fn reschedule_pending(control: &Arc<ControlPlane>) {
    let Some(pods) = catalog::resource("pods") else {
        return;
    };
    for pod in control.store.list(pods, None).0 {
        if pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
            && pod.pointer("/metadata/deletionTimestamp").is_none()
        {
            control.try_schedule(&pod);
        }
    }
}

fn reconcile_pod(control: &Arc<ControlPlane>, pod: &Value) {
    let (store, kubelet) = (&control.store, &control.kubelet);
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !node.is_empty() && kubelet.node_lost(node) {
        // The node's kubelet is gone: nothing starts or stops there any more.
        return;
    }
    if let Some(grace) = pod
        .pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_u64)
    {
        if pod.pointer("/metadata/deletionTimestamp").is_some()
            && !kubelet.stop(uid, StopReason::Delete(Duration::from_secs(grace)))
        {
            // Nothing runs it: remove it now.
            let ns = pod
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("");
            let name = pod
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if let Some(pods) = catalog::resource("pods") {
                let _ = store.delete(pods, ns, name);
            }
        }
        return;
    }
    if node.is_empty() {
        if !pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.get("type").and_then(Value::as_str) == Some("PodScheduled"))
            })
        {
            control.try_schedule(pod);
        }
    } else if !kubelet.knows(uid) && !is_terminal(pod) {
        kubelet.start(pod);
    }
}
