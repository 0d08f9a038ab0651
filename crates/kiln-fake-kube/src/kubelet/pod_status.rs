//! The kubelet's view of a pod (container states, restart counts) and its rendering into the
//! pod `status` the apiserver stores: phase, conditions and container statuses.

use serde_json::{Value, json};

use crate::time::now_rfc3339;

/// A container's state as the kubelet reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    /// Not running yet (or waiting to restart).
    Waiting {
        /// `ContainerCreating`, `PodInitializing`, `ErrImagePull`, `CrashLoopBackOff`, ...
        reason: String,
        /// Detail, if any.
        message: Option<String>,
    },
    /// Running since `started_at`.
    Running {
        /// RFC 3339.
        started_at: String,
    },
    /// Exited.
    Terminated {
        /// Exit code (128 + signal for a signalled process).
        exit_code: i32,
        /// `Completed`, `Error`, `OOMKilled`.
        reason: String,
        /// RFC 3339.
        started_at: String,
        /// RFC 3339.
        finished_at: String,
    },
}

impl ContainerState {
    fn to_json(&self, container_id: &str) -> Value {
        match self {
            Self::Waiting { reason, message } => {
                let mut w = json!({"reason": reason});
                if let (Some(m), Some(o)) = (message, w.as_object_mut()) {
                    o.insert("message".to_owned(), json!(m));
                }
                json!({"waiting": w})
            }
            Self::Running { started_at } => json!({"running": {"startedAt": started_at}}),
            Self::Terminated {
                exit_code,
                reason,
                started_at,
                finished_at,
            } => json!({"terminated": {
                "exitCode": exit_code, "reason": reason, "startedAt": started_at,
                "finishedAt": finished_at, "containerID": container_id}}),
        }
    }
}

/// One container's status.
#[derive(Debug, Clone)]
pub struct ContainerStatus {
    /// Container name.
    pub name: String,
    /// Image as given in the spec.
    pub image: String,
    /// Current state.
    pub state: ContainerState,
    /// The previous run's terminated state.
    pub last_state: Option<ContainerState>,
    /// Restarts so far.
    pub restart_count: u32,
    /// `containerd://<id>` once created.
    pub container_id: String,
    /// Whether the kubelet will not run it again.
    pub done: bool,
    /// A native sidecar (an init container with `restartPolicy: Always`).
    pub sidecar: bool,
}

impl ContainerStatus {
    /// A container waiting for `reason`.
    pub fn waiting(name: &str, image: &str, reason: &str) -> Self {
        Self {
            name: name.to_owned(),
            image: image.to_owned(),
            state: ContainerState::Waiting {
                reason: reason.to_owned(),
                message: None,
            },
            last_state: None,
            restart_count: 0,
            container_id: String::new(),
            done: false,
            sidecar: false,
        }
    }

    /// Whether it runs now.
    pub fn running(&self) -> bool {
        matches!(self.state, ContainerState::Running { .. })
    }

    fn succeeded(&self) -> bool {
        matches!(self.state, ContainerState::Terminated { exit_code: 0, .. })
    }

    fn ever_started(&self) -> bool {
        !matches!(self.state, ContainerState::Waiting { .. }) || self.last_state.is_some()
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "image": self.image,
            "imageID": format!("{}@sha256:{:064x}", crate::config::qualified_image(&self.image), self.image.len()),
            "ready": self.running(),
            "started": self.running(),
            "restartCount": self.restart_count,
            "state": self.state.to_json(&self.container_id),
            "lastState": self.last_state.as_ref().map_or(json!({}), |s| s.to_json(&self.container_id)),
        });
        if let (false, Some(o)) = (self.container_id.is_empty(), v.as_object_mut()) {
            o.insert("containerID".to_owned(), json!(self.container_id));
        }
        v
    }
}

/// A pod ended by the node rather than by its containers (eviction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodTermination {
    /// `Evicted`.
    pub reason: String,
    /// The kubelet's message.
    pub message: String,
}

/// Everything the kubelet knows about one pod's containers.
#[derive(Debug, Clone, Default)]
pub struct PodRuntimeStatus {
    /// Init containers, in spec order.
    pub init: Vec<ContainerStatus>,
    /// Regular containers, in spec order.
    pub regular: Vec<ContainerStatus>,
    /// Whether every init container has succeeded.
    pub initialized: bool,
    /// When the kubelet first saw the pod.
    pub start_time: String,
    /// Set when the pod was evicted.
    pub terminated_by_node: Option<PodTermination>,
    /// The pod's IP.
    pub pod_ip: String,
}

fn condition(
    kind: &str,
    ok: bool,
    reason: Option<&str>,
    message: Option<String>,
    old: &Value,
) -> Value {
    let status = if ok { "True" } else { "False" };
    let previous = old.as_array().and_then(|cs| {
        cs.iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
    });
    let since = previous
        .filter(|c| c.get("status").and_then(Value::as_str) == Some(status))
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(now_rfc3339()));
    let mut c =
        json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": since});
    if let Some(o) = c.as_object_mut() {
        if let Some(r) = reason {
            o.insert("reason".to_owned(), json!(r));
        }
        if let Some(m) = message {
            o.insert("message".to_owned(), json!(m));
        }
    }
    c
}

impl PodRuntimeStatus {
    /// The pod phase a kubelet would report.
    pub fn phase(&self) -> &'static str {
        if self.terminated_by_node.is_some() {
            return "Failed";
        }
        // A sidecar stopped with the pod does not fail it.
        let init_failed = self
            .init
            .iter()
            .any(|c| c.done && !c.sidecar && !c.succeeded());
        if init_failed {
            return "Failed";
        }
        if !self.initialized || self.regular.iter().any(|c| !c.ever_started()) {
            return "Pending";
        }
        if self.regular.iter().all(|c| c.done) {
            if self.regular.iter().all(ContainerStatus::succeeded) {
                "Succeeded"
            } else {
                "Failed"
            }
        } else {
            "Running"
        }
    }

    /// Renders the full pod status, keeping `PodScheduled` and transition times from `old`.
    pub fn to_status(&self, old: &Value, host_ip: &str) -> Value {
        let old_conditions = old.get("conditions").cloned().unwrap_or(Value::Null);
        let phase = self.phase();
        let terminal = phase == "Succeeded" || phase == "Failed";
        let unready: Vec<&str> = self
            .regular
            .iter()
            .filter(|c| !c.running())
            .map(|c| c.name.as_str())
            .collect();
        let incomplete: Vec<&str> = self
            .init
            .iter()
            .filter(|c| !c.succeeded())
            .map(|c| c.name.as_str())
            .collect();
        let ready = unready.is_empty() && !terminal;
        let (ready_reason, ready_msg) = if ready {
            (None, None)
        } else if terminal {
            (Some("PodCompleted"), None)
        } else {
            (
                Some("ContainersNotReady"),
                Some(format!(
                    "containers with unready status: [{}]",
                    unready.join(" ")
                )),
            )
        };
        let mut conditions = vec![
            condition(
                "PodReadyToStartContainers",
                !terminal,
                None,
                None,
                &old_conditions,
            ),
            if self.initialized {
                condition("Initialized", true, None, None, &old_conditions)
            } else {
                condition(
                    "Initialized",
                    false,
                    Some("ContainersNotInitialized"),
                    Some(format!(
                        "containers with incomplete status: [{}]",
                        incomplete.join(" ")
                    )),
                    &old_conditions,
                )
            },
            condition(
                "Ready",
                ready,
                ready_reason,
                ready_msg.clone(),
                &old_conditions,
            ),
            condition(
                "ContainersReady",
                ready,
                ready_reason,
                ready_msg,
                &old_conditions,
            ),
        ];
        if self.terminated_by_node.is_some() {
            conditions.push(condition("DisruptionTarget", true, Some("TerminationByKubelet"),
                Some("Pod was terminated in response to imminent node shutdown or resource pressure.".to_owned()), &old_conditions));
        }
        if let Some(scheduled) = old_conditions.as_array().and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("PodScheduled"))
                .cloned()
        }) {
            conditions.push(scheduled);
        }
        let mut status = json!({
            "phase": phase,
            "conditions": conditions,
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}],
            "podIP": self.pod_ip,
            "podIPs": [{"ip": self.pod_ip}],
            "startTime": self.start_time,
            "containerStatuses": self.regular.iter().map(ContainerStatus::to_json).collect::<Vec<_>>(),
            "qosClass": old.get("qosClass").cloned().unwrap_or(json!("BestEffort")),
        });
        if let Some(o) = status.as_object_mut() {
            if !self.init.is_empty() {
                o.insert(
                    "initContainerStatuses".to_owned(),
                    json!(
                        self.init
                            .iter()
                            .map(ContainerStatus::to_json)
                            .collect::<Vec<_>>()
                    ),
                );
            }
            if let Some(t) = &self.terminated_by_node {
                o.insert("reason".to_owned(), json!(t.reason));
                o.insert("message".to_owned(), json!(t.message));
            }
        }
        status
    }
}

impl PodTermination {
    /// The kubelet's eviction under memory pressure.
    pub fn memory_pressure() -> Self {
        Self {
            reason: "Evicted".to_owned(),
            message: "The node was low on resource: memory. Threshold quantity: 100Mi, available: 51200Ki. ".to_owned(),
        }
    }
}
