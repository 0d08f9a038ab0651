//! Errors of the Kubernetes executor (pod creation, start, cleanup, reaping). Each way a pod
//! can fail is a variant of its own, so a caller can tell an unschedulable pod
//! ([`StartError::Failed`] with [`PodFailure::Unschedulable`]) from a network error
//! ([`KubeError::Api`]) or an agent that cannot be reached ([`KubeError::Agent`]); the texts
//! are the reasons for the build log.

use crate::pod::status::PodFailure;
use kiln_executor::ExecError;

/// Why a build pod could not be made ready or cleaned up.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// An API request failed (after retries for transient errors).
    #[error("cannot {action}")]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },
    /// The pod did not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// An agent in the pod could not be reached.
    #[error(transparent)]
    Agent(ExecError),
    /// The pod as given cannot be used.
    #[error("invalid build pod: {0}")]
    Pod(#[source] InvalidPod),
    /// The pod of a build being taken over (after a controller restart) is gone or can no
    /// longer run steps.
    #[error(transparent)]
    Unusable(#[from] Unusable),
    #[error("cannot make a random token")]
    Token(#[source] std::io::Error),
    /// The pod asks for what `executors.kubernetes.pod_policy` does not allow.
    #[error(transparent)]
    Refused(#[from] crate::policy::PolicyRefusal),
    /// A create met an object of the same name that kiln did not send (another build's, or
    /// one being deleted): pod names are meant to be unique per build.
    #[error("{kind} {name} already exists and is not the one kiln created")]
    NotOurs { kind: &'static str, name: String },
}

impl From<InvalidPod> for KubeError {
    fn from(e: InvalidPod) -> Self {
        KubeError::Pod(e)
    }
}

/// Why a pod did not get to run steps.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The start deadline (`pod_start_deadline_seconds`, or the agent's
    /// `slaveConnectTimeout`) passed first.
    #[error(
        "pod {pod} did not start within the start deadline of {seconds} s (last state: {last})"
    )]
    Deadline {
        pod: String,
        seconds: u64,
        /// What the pod was waiting for last.
        last: String,
    },
    /// The pod was deleted while it started.
    #[error("pod {pod} was deleted while starting")]
    Deleted { pod: String },
    /// The pod will not start by itself (unschedulable, image not pulled, ...).
    #[error(transparent)]
    Failed(#[from] PodFailure),
}

/// Why a pod as given cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InvalidPod {
    #[error("the pod has no name")]
    NoName,
    #[error("the pod has no containers")]
    NoContainers,
    #[error("the default container `{container}` is not one of the pod's containers ({})", .containers.join(", "))]
    UnknownDefault {
        container: String,
        containers: Vec<String>,
    },
    /// The Secret of a pod being taken over has no agent token.
    #[error("secret {secret} holds no `{key}`")]
    NoToken { secret: String, key: &'static str },
}

/// Why the pod of a build being taken over cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Unusable {
    #[error("pod {pod} is gone")]
    Gone { pod: String },
    #[error("pod {pod} is being deleted")]
    BeingDeleted { pod: String },
    #[error("pod {pod} cannot run steps: {reason}")]
    CannotRunSteps { pod: String, reason: String },
    #[error(
        "the agents of pod {pod} trust another agent CA than kiln's (its Secret has none, or the CA in the data directory was replaced since the pod was made), so they cannot dial in"
    )]
    OtherCa { pod: String },
}
