//! Reading a build pod's status: is it running, still starting, or failed, and why, in words
//! a user can act on. Pure functions over k8s-openapi types (the lifecycle code watches, this
//! module judges).

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use std::collections::BTreeMap;

/// Where a starting pod stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartState {
    /// Still on its way; the text says what it waits for (for progress logs).
    Pending(String),
    /// Every step container runs.
    Running,
    /// It will not start by itself.
    Failed(PodFailure),
}

/// Why a starting pod will not start by itself; the text is the reason for the build log,
/// the variant lets a caller tell an unschedulable pod from an image that cannot be pulled.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PodFailure {
    /// The scheduler cannot place the pod (no node has room for it, or none matches).
    #[error("pod {pod} cannot be scheduled: {message}")]
    Unschedulable { pod: String, message: String },
    /// A container's image cannot be pulled (`ErrImagePull`, `ImagePullBackOff`, ...).
    #[error("{} `{container}` cannot pull image `{image}` ({reason}){detail}", kind(*.init))]
    ImagePull {
        container: String,
        init: bool,
        image: String,
        reason: String,
        /// `": MESSAGE"` from the status, or empty.
        detail: String,
    },
    /// A container cannot be created, or keeps crashing (`CrashLoopBackOff`).
    #[error("{} `{container}`: {reason}{detail}", kind(*.init))]
    Container {
        container: String,
        init: bool,
        reason: String,
        /// `": MESSAGE"` from the status, or empty.
        detail: String,
    },
    /// A step container stopped (or an init container failed) before the build started.
    #[error("{} `{container}` stopped ({reason}, exit code {exit_code}){detail}", kind(*.init))]
    Stopped {
        container: String,
        init: bool,
        reason: String,
        exit_code: i32,
        /// `": MESSAGE"` from the status, or empty.
        detail: String,
    },
    /// The pod as a whole failed (evicted, node lost, deadline exceeded) or is being
    /// deleted.
    #[error(transparent)]
    Pod(#[from] PodEnded),
}

fn kind(init: bool) -> &'static str {
    if init { "init container" } else { "container" }
}

/// Why a pod as a whole can no longer run steps; the variant lets a caller tell a lost node
/// from an eviction or a deletion, the text is the build log's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PodEnded {
    /// The kubelet evicted the pod (node pressure); `detail` is `": MESSAGE"` or empty.
    #[error("the pod was evicted{detail}")]
    Evicted { detail: String },
    /// The pod's status says its node is lost (phase `Unknown`, reason `NodeLost`).
    #[error("the pod's node was lost{detail}")]
    NodeLost { detail: String },
    /// kiln read the node of a pod that turned not ready: it is not Ready, or gone.
    #[error("node {node} lost ({why})")]
    NodeNotReady {
        node: String,
        /// `Ready Unknown: MESSAGE`, or `the node was removed`.
        why: String,
    },
    /// The pod failed for a reason of its own (`DeadlineExceeded`, ...).
    #[error("the pod failed ({reason}){detail}")]
    Failed { reason: String, detail: String },
    /// The pod failed because its containers did.
    #[error("the pod failed: {}", join(.containers))]
    ContainersFailed { containers: Vec<ContainerEnded> },
    /// Every container exited.
    #[error("the pod stopped (all its containers exited)")]
    Succeeded,
    /// Its deletion has begun.
    #[error("the pod is being deleted")]
    BeingDeleted,
    /// It is gone.
    #[error("pod {pod} was deleted")]
    Deleted { pod: String },
}

fn join(containers: &[ContainerEnded]) -> String {
    let all: Vec<String> = containers.iter().map(ToString::to_string).collect();
    all.join("; ")
}

/// A step container that stopped while the build ran.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("container `{container}` {}", ended(.reason, *.exit_code))]
pub struct ContainerEnded {
    pub container: String,
    /// The kubelet's reason (`OOMKilled`, `Error`, `Completed`).
    pub reason: String,
    pub exit_code: i32,
}

impl ContainerEnded {
    /// Killed for using more memory than its limit.
    pub fn oom_killed(&self) -> bool {
        self.reason == "OOMKilled"
    }
}

fn ended(reason: &str, exit_code: i32) -> String {
    if reason == "OOMKilled" {
        format!("was OOMKilled (exit code {exit_code})")
    } else {
        format!("stopped ({reason}, exit code {exit_code})")
    }
}

/// Why steps cannot run in a container of a running pod: the whole pod, or that container.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StepsStopped {
    #[error(transparent)]
    Pod(#[from] PodEnded),
    #[error(transparent)]
    Container(#[from] ContainerEnded),
}

/// What went wrong with a running pod: the whole pod, or single containers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    pub pod: Option<PodEnded>,
    pub containers: BTreeMap<String, ContainerEnded>,
}

impl Health {
    /// Why steps in `container` cannot run, if they cannot.
    pub fn reason_for(&self, container: &str) -> Option<StepsStopped> {
        match &self.pod {
            Some(pod) => Some(pod.clone().into()),
            None => self.containers.get(container).cloned().map(Into::into),
        }
    }

    pub fn is_healthy(&self) -> bool {
        self.pod.is_none() && self.containers.is_empty()
    }

    /// Why the pod cannot run steps (the pod's reason, else every container's), if so.
    pub fn problem(&self) -> Option<PodEnded> {
        (!self.is_healthy()).then(|| {
            self.pod
                .clone()
                .unwrap_or_else(|| PodEnded::ContainersFailed {
                    containers: self.containers.values().cloned().collect(),
                })
        })
    }
}

fn statuses(pod: &Pod, init: bool) -> &[ContainerStatus] {
    let status = pod.status.as_ref();
    let list = if init {
        status.and_then(|s| s.init_container_statuses.as_ref())
    } else {
        status.and_then(|s| s.container_statuses.as_ref())
    };
    list.map_or(&[], Vec::as_slice)
}

fn image_of(pod: &Pod, name: &str) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
                .find(|c| c.name == name)
                .and_then(|c| c.image.clone())
        })
        .unwrap_or_default()
}

fn pod_name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or("?")
}

/// Judges a pod that should be starting; `steps` are the containers that must run.
pub fn start_state(pod: &Pod, steps: &[String]) -> StartState {
    // A pod that failed without a reason of its own failed because a container did (e.g. the
    // agent's init container): that container's status says more, so it is looked at first.
    let failure = pod_failure(pod);
    if let Some(reason) = failure.clone().filter(|_| !failed_by_containers(pod)) {
        return StartState::Failed(PodFailure::Pod(reason));
    }
    if let Some(message) = unschedulable(pod) {
        return StartState::Failed(PodFailure::Unschedulable {
            pod: pod_name(pod).to_owned(),
            message,
        });
    }
    for (init, status) in statuses(pod, true)
        .iter()
        .map(|s| (true, s))
        .chain(statuses(pod, false).iter().map(|s| (false, s)))
    {
        if let Some(reason) = waiting_failure(pod, status, init) {
            return StartState::Failed(reason);
        }
        if let Some(reason) = terminated_failure(status, init) {
            return StartState::Failed(reason);
        }
    }
    if let Some(reason) = failure {
        return StartState::Failed(PodFailure::Pod(reason));
    }
    let running: Vec<&str> = statuses(pod, false)
        .iter()
        .filter(|s| s.state.as_ref().is_some_and(|st| st.running.is_some()))
        .map(|s| s.name.as_str())
        .collect();
    if !steps.is_empty() && steps.iter().all(|c| running.contains(&c.as_str())) {
        return StartState::Running;
    }
    StartState::Pending(pending_note(pod))
}

/// Every container whose image cannot be pulled now: `ErrImagePull` carries the
/// registry's message, `ImagePullBackOff` the kubelet's back-off between two pulls.
pub fn pull_failures(pod: &Pod) -> Vec<PodFailure> {
    statuses(pod, true)
        .iter()
        .map(|s| (true, s))
        .chain(statuses(pod, false).iter().map(|s| (false, s)))
        .filter_map(|(init, status)| waiting_failure(pod, status, init))
        .filter(|f| matches!(f, PodFailure::ImagePull { .. }))
        .collect()
}

fn pending_note(pod: &Pod) -> String {
    let waiting = statuses(pod, true)
        .iter()
        .chain(statuses(pod, false))
        .find_map(|s| {
            let w = s.state.as_ref()?.waiting.as_ref()?;
            Some(format!(
                "{}: {}",
                s.name,
                w.reason.as_deref().unwrap_or("waiting")
            ))
        });
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Pending".to_owned());
    match waiting {
        Some(w) => format!("{phase} ({w})"),
        None => phase,
    }
}

fn unschedulable(pod: &Pod) -> Option<String> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
        })
        .map(|c| {
            c.message
                .clone()
                .unwrap_or_else(|| "Unschedulable".to_owned())
        })
}

/// Waiting reasons that do not resolve by themselves.
fn waiting_failure(pod: &Pod, status: &ContainerStatus, init: bool) -> Option<PodFailure> {
    let waiting = status.state.as_ref()?.waiting.as_ref()?;
    let reason = waiting.reason.as_deref()?;
    let message = waiting.message.as_deref().unwrap_or("");
    let detail = if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    };
    match reason {
        "ErrImagePull" | "ImagePullBackOff" | "InvalidImageName" | "ErrImageNeverPull" => {
            Some(PodFailure::ImagePull {
                container: status.name.clone(),
                init,
                image: image_of(pod, &status.name),
                reason: reason.to_owned(),
                detail,
            })
        }
        "CreateContainerConfigError"
        | "CreateContainerError"
        | "RunContainerError"
        | "CrashLoopBackOff" => Some(PodFailure::Container {
            container: status.name.clone(),
            init,
            reason: reason.to_owned(),
            detail,
        }),
        _ => None,
    }
}

/// A terminated step container (or a failed init container) before the build started.
fn terminated_failure(status: &ContainerStatus, init: bool) -> Option<PodFailure> {
    let t = status.state.as_ref()?.terminated.as_ref()?;
    if init && t.exit_code == 0 {
        return None;
    }
    let detail = t
        .message
        .as_deref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    Some(PodFailure::Stopped {
        container: status.name.clone(),
        init,
        reason: t.reason.as_deref().unwrap_or("Error").to_owned(),
        exit_code: t.exit_code,
        detail,
    })
}

/// The pod as a whole failed (evicted, node lost, deadline exceeded) or is being deleted.
fn pod_failure(pod: &Pod) -> Option<PodEnded> {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("");
    let reason = status.and_then(|s| s.reason.as_deref());
    let detail = status
        .and_then(|s| s.message.as_deref())
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    match (phase, reason) {
        ("Failed", Some("Evicted")) => Some(PodEnded::Evicted { detail }),
        (_, Some("NodeLost")) | ("Unknown", _) => Some(PodEnded::NodeLost { detail }),
        ("Failed", r) => Some(PodEnded::Failed {
            reason: r.unwrap_or("no reason given").to_owned(),
            detail,
        }),
        ("Succeeded", _) => Some(PodEnded::Succeeded),
        _ if pod.metadata.deletion_timestamp.is_some() => Some(PodEnded::BeingDeleted),
        _ => None,
    }
}

/// Judges a pod whose build is under way: what can no longer run, and why.
pub fn health(pod: &Pod) -> Health {
    let mut health = Health {
        pod: pod_failure(pod),
        containers: BTreeMap::new(),
    };
    for status in statuses(pod, false) {
        let Some(t) = status.state.as_ref().and_then(|s| s.terminated.as_ref()) else {
            continue;
        };
        let ended = ContainerEnded {
            container: status.name.clone(),
            reason: t.reason.as_deref().unwrap_or("Error").to_owned(),
            exit_code: t.exit_code,
        };
        health.containers.insert(status.name.clone(), ended);
    }
    // A pod that failed without a reason of its own failed because its containers did:
    // say which.
    if health.pod.is_some() && failed_by_containers(pod) && !health.containers.is_empty() {
        health.pod = Some(PodEnded::ContainersFailed {
            containers: health.containers.values().cloned().collect(),
        });
    }
    health
}

/// A `Failed` pod without a reason of its own (such as `Evicted`): its containers' statuses
/// say why.
fn failed_by_containers(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .is_some_and(|s| s.phase.as_deref() == Some("Failed") && s.reason.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "kiln-b-1"},
            "spec": {"containers": [{"name": "maven", "image": "maven:3"}, {"name": "node", "image": "node:22"}]},
            "status": status,
        }))
        .unwrap()
    }

    fn steps() -> Vec<String> {
        vec!["maven".into(), "node".into()]
    }

    /// The reason a pod will not start, as the build log says it.
    fn failure(p: &Pod) -> String {
        match start_state(p, &steps()) {
            StartState::Failed(f) => f.to_string(),
            other => panic!("not failed: {other:?}"),
        }
    }

    fn running(name: &str) -> serde_json::Value {
        json!({"name": name, "image": "x", "imageID": "", "ready": true, "restartCount": 0, "state": {"running": {}}})
    }

    #[test]
    fn unschedulable_carries_the_scheduler_message() {
        let p = pod(
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable", "message": "0/3 nodes are available: 3 Insufficient cpu."}]}),
        );
        assert_eq!(
            failure(&p),
            "pod kiln-b-1 cannot be scheduled: 0/3 nodes are available: 3 Insufficient cpu."
        );
        assert!(matches!(
            start_state(&p, &steps()),
            StartState::Failed(PodFailure::Unschedulable { .. })
        ));
    }

    #[test]
    fn image_pull_failures_name_the_image() {
        let p = pod(
            json!({"phase": "Pending", "containerStatuses": [running("node"),
            {"name": "maven", "image": "maven:3", "imageID": "", "ready": false, "restartCount": 0,
             "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]}),
        );
        assert_eq!(
            failure(&p),
            "container `maven` cannot pull image `maven:3` (ImagePullBackOff): Back-off pulling image"
        );
    }

    #[test]
    fn running_only_when_every_step_container_runs() {
        let p = pod(
            json!({"phase": "Pending", "containerStatuses": [running("maven"),
            {"name": "node", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
             "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
        );
        assert_eq!(
            start_state(&p, &steps()),
            StartState::Pending("Pending (node: ContainerCreating)".into())
        );
        let p = pod(
            json!({"phase": "Running", "containerStatuses": [running("maven"), running("node")]}),
        );
        assert_eq!(start_state(&p, &steps()), StartState::Running);
    }

    #[test]
    fn eviction_and_oom_during_the_build() {
        let p = pod(
            json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}),
        );
        assert_eq!(
            health(&p)
                .reason_for("maven")
                .map(|r| r.to_string())
                .as_deref(),
            Some("the pod was evicted: The node was low on resource: memory.")
        );
        let p = pod(
            json!({"phase": "Running", "containerStatuses": [running("node"),
            {"name": "maven", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
             "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}),
        );
        let h = health(&p);
        assert_eq!(
            h.reason_for("maven").map(|r| r.to_string()).as_deref(),
            Some("container `maven` was OOMKilled (exit code 137)")
        );
        assert_eq!(h.reason_for("node"), None);
    }

    #[test]
    fn a_failed_pod_names_the_container_that_failed_it() {
        let p = pod(
            json!({"phase": "Failed", "initContainerStatuses": [{"name": "kiln-agent-init", "image": "x",
                "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
        );
        assert_eq!(
            failure(&p),
            "init container `kiln-agent-init` stopped (Error, exit code 1)"
        );
        let bare = pod(json!({"phase": "Failed"}));
        assert_eq!(failure(&bare), "the pod failed (no reason given)");
    }

    #[test]
    fn a_pod_that_fails_during_the_build_names_its_container() {
        let p = pod(
            json!({"phase": "Failed", "containerStatuses": [{"name": "maven", "image": "x",
            "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}]}),
        );
        assert_eq!(
            health(&p)
                .reason_for("node")
                .map(|r| r.to_string())
                .as_deref(),
            Some("the pod failed: container `maven` stopped (Error, exit code 2)")
        );
    }

    #[test]
    fn failed_init_container_and_config_errors() {
        let p = pod(
            json!({"phase": "Pending", "initContainerStatuses": [{"name": "kiln-agent-init", "image": "x",
            "imageID": "", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
        );
        assert_eq!(
            failure(&p),
            "init container `kiln-agent-init` stopped (Error, exit code 1)"
        );
        let p = pod(
            json!({"phase": "Pending", "containerStatuses": [{"name": "maven", "image": "x", "imageID": "",
            "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "CreateContainerConfigError",
            "message": "secret \"s\" not found"}}}]}),
        );
        assert_eq!(
            failure(&p),
            "container `maven`: CreateContainerConfigError: secret \"s\" not found"
        );
    }
}
