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
    CannotRunSteps {
        pod: String,
        reason: crate::pod::status::PodEnded,
    },
    #[error(
        "the agents of pod {pod} trust another agent CA than kiln's (its Secret has none, or the CA in the data directory was replaced since the pod was made), so they cannot dial in"
    )]
    OtherCa { pod: String },
}

/// Why steps are refused in a container that is there and running.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StepsRefused {
    /// The container runs a service of its own command, not kiln's agent.
    #[error(
        "container `{container}` of pod {pod} is a service: it runs its own command, not kiln's agent, so steps cannot run in it (to run steps there, give it no `command`/`args` and leave it out of the `{}` annotation)",
        crate::pod::services::ANNOTATION_SERVICES
    )]
    Service { pod: String, container: String },
}

/// Why an image build in Kaniko pods failed; `platform` is the platform's name or "the
/// node's platform". The causes a caller can act on (the pod did not start because it was
/// unschedulable, the API server could not be reached, the registry refused) are sources.
#[derive(Debug, thiserror::Error)]
pub enum ImageBuildError {
    /// The Kaniko pod kiln would make is invalid (its template); the messages say why.
    #[error("the Kaniko pod for {platform}: {messages}")]
    KanikoPod { platform: String, messages: String },
    /// The Kaniko pod did not start, or the API server failed.
    #[error("Kaniko for {platform}")]
    Start {
        platform: String,
        #[source]
        source: KubeError,
    },
    /// A Kaniko pod started before a controller restart cannot be taken over.
    #[error(
        "Kaniko for {platform} ran in pod {pod} when the controller restarted, and it cannot be taken over"
    )]
    TakeOver {
        platform: String,
        pod: String,
        #[source]
        source: KubeError,
    },
    /// Kaniko ended with a failure (its output is in the log).
    #[error("Kaniko for {platform} failed with {ended} (its output is above)")]
    Exited { platform: String, ended: String },
    /// Kaniko wrote no image digest.
    #[error("Kaniko for {platform} wrote no image digest (got `{got}`)")]
    NoDigest { platform: String, got: String },
    /// The multi-arch index could not be pushed.
    #[error("pushing the image index {destination}")]
    Index {
        destination: String,
        #[source]
        source: crate::registry::OciError,
    },
    /// A platform of the built images is not `os/arch`.
    #[error("pushing the image index {destination}: `{platform}` is not an os/arch platform")]
    Platform {
        destination: String,
        platform: String,
    },
    /// Several platforms failed: each one's error, whole.
    #[error("{}", .0.join("; "))]
    Platforms(Vec<String>),
}

/// What kind of trouble an error of the Kubernetes backend is, for a caller that acts on it
/// (retry later, tell the user to fix the pod or the cluster's rights, give up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trouble {
    /// The scheduler cannot place the pod (and no scale-up came).
    Unschedulable,
    /// An image cannot be pulled.
    ImagePull,
    /// The API server refused kiln's credentials (401) or rights (403).
    Forbidden,
    /// An object kiln needs is gone (404), or the pod was deleted.
    NotFound,
    /// The API server or an agent could not be reached, or answered 5xx/429, or timed out.
    Network,
    /// The pod's node was lost.
    NodeLost,
    /// The pod is refused by the pod policy, or invalid.
    Refused,
}

/// The [`Trouble`] of `error` or of the first of its sources kiln-kube knows, if any.
pub fn trouble(error: &(dyn std::error::Error + 'static)) -> Option<Trouble> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(found) = trouble_of(e) {
            return Some(found);
        }
        next = e.source();
    }
    None
}

fn trouble_of(e: &(dyn std::error::Error + 'static)) -> Option<Trouble> {
    use crate::pod::status::{PodEnded, StepsStopped};
    if let Some(failure) = e.downcast_ref::<PodFailure>() {
        return pod_failure(failure);
    }
    if let Some(ended) = e.downcast_ref::<PodEnded>() {
        return pod_ended(ended);
    }
    if let Some(StepsStopped::Pod(ended)) = e.downcast_ref::<StepsStopped>() {
        return pod_ended(ended);
    }
    // The executor's and the backend's boxes hold kiln-kube's errors whole (as their
    // message, not as a `source`): look inside.
    if let Some(ExecError::Unusable(inner) | ExecError::ImageBuild(inner)) =
        e.downcast_ref::<ExecError>()
    {
        return trouble(inner.as_ref());
    }
    if let Some(
        kiln_backend::BackendError::Agent(inner)
        | kiln_backend::BackendError::Connect(inner)
        | kiln_backend::BackendError::Image(inner),
    ) = e.downcast_ref::<kiln_backend::BackendError>()
    {
        return trouble(inner.as_ref());
    }
    // Transparent variants pass `source()` on to their inner value's sources, skipping the
    // value itself: they are looked into here.
    if let Some(error) = e.downcast_ref::<KubeError>() {
        return match error {
            KubeError::Refused(_) | KubeError::Pod(_) | KubeError::NotOurs { .. } => {
                Some(Trouble::Refused)
            }
            KubeError::Unusable(Unusable::Gone { .. } | Unusable::BeingDeleted { .. })
            | KubeError::Start(StartError::Deleted { .. }) => Some(Trouble::NotFound),
            KubeError::Unusable(Unusable::CannotRunSteps { reason, .. }) => pod_ended(reason),
            KubeError::Start(StartError::Failed(failure)) => pod_failure(failure),
            KubeError::Agent(exec) => trouble(exec),
            KubeError::Api { source, .. } => Some(kube_error(source)),
            KubeError::Start(StartError::Deadline { .. })
            | KubeError::Unusable(Unusable::OtherCa { .. })
            | KubeError::Token(_) => None,
        };
    }
    if let Some(error) = e.downcast_ref::<kube::Error>() {
        return Some(kube_error(error));
    }
    None
}

fn kube_error(error: &kube::Error) -> Trouble {
    match error {
        kube::Error::Api(status) => match status.code {
            401 | 403 => Trouble::Forbidden,
            404 | 410 => Trouble::NotFound,
            400 | 409 | 422 => Trouble::Refused,
            _ => Trouble::Network,
        },
        _ => Trouble::Network,
    }
}

fn pod_failure(failure: &PodFailure) -> Option<Trouble> {
    match failure {
        PodFailure::Unschedulable { .. } => Some(Trouble::Unschedulable),
        PodFailure::ImagePull { .. } => Some(Trouble::ImagePull),
        PodFailure::Pod(ended) => pod_ended(ended),
        PodFailure::Container { .. } | PodFailure::Stopped { .. } => None,
    }
}

fn pod_ended(ended: &crate::pod::status::PodEnded) -> Option<Trouble> {
    use crate::pod::status::PodEnded;
    match ended {
        PodEnded::NodeLost { .. } | PodEnded::NodeNotReady { .. } => Some(Trouble::NodeLost),
        PodEnded::Deleted { .. } | PodEnded::BeingDeleted => Some(Trouble::NotFound),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::status::{PodEnded, PodFailure, StepsStopped};

    fn api(code: u16) -> KubeError {
        KubeError::Api {
            action: "create pod x".to_owned(),
            source: kube::Error::Api(Box::new(
                kube::core::Status::failure("refused", "Refused").with_code(code),
            )),
        }
    }

    #[test]
    fn a_caller_tells_unschedulable_from_network_forbidden_and_not_found() {
        let unschedulable = KubeError::Start(StartError::Failed(PodFailure::Unschedulable {
            pod: "x".to_owned(),
            message: "0/1 nodes are available".to_owned(),
        }));
        let agent = kiln_backend::BackendError::Agent(Box::new(unschedulable));
        assert_eq!(trouble(&agent), Some(Trouble::Unschedulable));
        assert_eq!(trouble(&api(403)), Some(Trouble::Forbidden));
        assert_eq!(trouble(&api(404)), Some(Trouble::NotFound));
        assert_eq!(trouble(&api(503)), Some(Trouble::Network));
        assert_eq!(trouble(&api(422)), Some(Trouble::Refused));
        let gone = KubeError::Unusable(Unusable::Gone {
            pod: "x".to_owned(),
        });
        assert_eq!(trouble(&gone), Some(Trouble::NotFound));
        let io = std::io::Error::other("disk full");
        assert_eq!(trouble(&io), None);
    }

    #[test]
    fn a_lost_node_and_a_failed_kaniko_start_keep_their_kind_through_the_executor() {
        let lost = StepsStopped::Pod(PodEnded::NodeNotReady {
            node: "node-2".to_owned(),
            why: "Ready Unknown: Kubelet stopped posting node status.".to_owned(),
        });
        let exec = ExecError::Unusable(Box::new(lost));
        assert_eq!(
            exec.to_string(),
            "node node-2 lost (Ready Unknown: Kubelet stopped posting node status.)"
        );
        assert_eq!(trouble(&exec), Some(Trouble::NodeLost));
        let pull = PodFailure::ImagePull {
            container: "kaniko".to_owned(),
            init: false,
            image: "kaniko:1".to_owned(),
            reason: "ErrImagePull".to_owned(),
            detail: String::new(),
        };
        let build = ImageBuildError::Start {
            platform: "linux/arm64".to_owned(),
            source: KubeError::Start(StartError::Failed(pull)),
        };
        let exec = ExecError::ImageBuild(Box::new(build));
        // The message is the whole chain, once.
        assert_eq!(
            exec.to_string(),
            "Kaniko for linux/arm64: container `kaniko` cannot pull image `kaniko:1` (ErrImagePull)"
        );
        assert!(std::error::Error::source(&exec).is_none());
        assert_eq!(trouble(&exec), Some(Trouble::ImagePull));
    }
}
