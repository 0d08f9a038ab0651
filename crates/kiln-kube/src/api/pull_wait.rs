//! Waiting through failed image pulls (`executors.kubernetes.image_pull`): the kubelet pulls
//! again with its own back-off; kiln counts each container's failed pulls (each time it turns
//! `ErrImagePull`) and gives up after `retries` of them, or `deadline_seconds` after the
//! pod's first failed pull, with the registry's message of the last failed pull.

use crate::config::ImagePull;
use crate::pod::status::PodFailure;
use crate::start_log::StartLog;
use k8s_openapi::api::core::v1::Pod;
use std::collections::BTreeMap;
use tokio::time::Instant;

/// One container's failed pulls.
#[derive(Default)]
struct Pulls {
    failed: u32,
    /// Whether its last state seen was `ErrImagePull` (a state seen twice is one pull).
    in_error: bool,
    /// The last `ErrImagePull`, with the registry's message.
    last: Option<PodFailure>,
}

/// The failed pulls of a starting pod's containers.
pub(crate) struct PullWait {
    policy: ImagePull,
    containers: BTreeMap<String, Pulls>,
    /// When the pod's first failed pull was seen (while some pull fails).
    since: Option<Instant>,
}

impl PullWait {
    pub(crate) fn new(policy: ImagePull) -> Self {
        PullWait {
            policy,
            containers: BTreeMap::new(),
            since: None,
        }
    }

    /// When the pull deadline passes, while a pull fails.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.since.map(|since| since + self.policy.deadline())
    }

    /// The failure to end the start with once the deadline has passed.
    pub(crate) fn give_up(&self) -> Option<PodFailure> {
        let since = self.since?;
        let pulls = self
            .containers
            .values()
            .filter(|p| p.last.is_some())
            .max_by_key(|p| p.failed)?;
        pulls
            .last
            .clone()
            .map(|f| counted(f, pulls.failed, since.elapsed().as_secs()))
    }

    /// Looks at the pod's pulls now; the failure to end the start with, when a container
    /// has failed more pulls than `retries` allows or its image can never be pulled.
    pub(crate) fn observe(&mut self, pod: &Pod, log: &StartLog) -> Option<PodFailure> {
        let failures = crate::pod::status::pull_failures(pod);
        if failures.is_empty() {
            self.since = None;
        }
        for (name, pulls) in &mut self.containers {
            pulls.in_error &= failures.iter().any(|f| {
                matches!(f, PodFailure::ImagePull { container, reason, .. }
                    if container == name && reason == "ErrImagePull")
            });
        }
        for failure in failures {
            let PodFailure::ImagePull {
                container,
                image,
                reason,
                detail,
                ..
            } = &failure
            else {
                continue;
            };
            let since = *self.since.get_or_insert_with(Instant::now);
            let pulls = self.containers.entry(container.clone()).or_default();
            match reason.as_str() {
                "ErrImagePull" => {
                    if pulls.in_error {
                        continue;
                    }
                    pulls.in_error = true;
                    pulls.failed += 1;
                    pulls.last = Some(failure.clone());
                    let tries = self.policy.retries.saturating_add(1);
                    if pulls.failed >= tries {
                        return Some(counted(
                            failure.clone(),
                            pulls.failed,
                            since.elapsed().as_secs(),
                        ));
                    }
                    log.line(format!(
                        "kiln: pulling image `{image}` for container `{container}` failed ({} of {tries} tries){detail}; the kubelet pulls again after its back-off",
                        pulls.failed
                    ));
                }
                "ImagePullBackOff" => {}
                // InvalidImageName, ErrImageNeverPull: no retry pulls them.
                _ => return Some(failure),
            }
        }
        None
    }
}

/// `failure` with how many pulls failed over how long, beside its reason.
fn counted(failure: PodFailure, failed: u32, seconds: u64) -> PodFailure {
    match failure {
        PodFailure::ImagePull {
            container,
            init,
            image,
            reason,
            detail,
        } => {
            let pulls = if failed == 1 { "pull" } else { "pulls" };
            PodFailure::ImagePull {
                container,
                init,
                image,
                reason: format!("{reason}, {failed} failed {pulls} in {seconds} s"),
                detail,
            }
        }
        other => other,
    }
}
