//! A build pod's life: Secret and Pod created (with retries for transient API errors), watched
//! until every step container runs or a clear failure, watched during the build for eviction,
//! OOM kills and node loss, and deleted at the end.

use crate::api::watch::{PodEvent, PodWatch};
use crate::error::{KubeError, StartError};
use crate::pod::status::{Health, StartState, health, start_state};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

/// How often a request failing with a transient error (5xx, 429, connection) is tried.
const ATTEMPTS: u32 = 4;

/// Whether an API error is worth retrying.
fn transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code >= 500 || status.code == 429,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Runs `call` until it succeeds, fails for good, or runs out of attempts (back-off 50 ms,
/// doubling).
pub async fn with_retries<T, F, Fut>(what: &str, mut call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut pause = Duration::from_millis(50);
    let mut attempt = 1;
    loop {
        match call().await {
            Err(error) if attempt < ATTEMPTS && transient(&error) => {
                warn!(%error, attempt, "{what} failed; retrying");
                tokio::time::sleep(pause).await;
                pause *= 2;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Creates the Secret, then the Pod; returns the pod's resourceVersion. When the pod cannot
/// be created the Secret is deleted again.
pub async fn create(
    pods: &Api<Pod>,
    secrets: &Api<Secret>,
    pod: &Pod,
    secret: &Secret,
) -> Result<String, KubeError> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let params = PostParams::default();
    with_retries("creating the agent secret", || {
        secrets.create(&params, secret)
    })
    .await
    .map_err(|source| KubeError::Api {
        action: format!("create secret for pod {name}"),
        source,
    })?;
    match with_retries("creating the pod", || pods.create(&params, pod)).await {
        Ok(created) => Ok(created.metadata.resource_version.unwrap_or_default()),
        Err(source) => {
            let secret_name = secret.metadata.name.clone().unwrap_or_default();
            let _ = secrets.delete(&secret_name, &DeleteParams::default()).await;
            Err(KubeError::Api {
                action: format!("create pod {name}"),
                source,
            })
        }
    }
}

/// Watches the pod until every step container runs; fails with the pod's own reason, or when
/// `deadline` passes. Returns the running pod and the watch (to follow it during the build).
pub async fn wait_running(
    mut watch: PodWatch,
    name: &str,
    steps: &[String],
    deadline: Duration,
) -> Result<(Pod, PodWatch), KubeError> {
    let until = Instant::now() + deadline;
    let mut last = "Pending".to_owned();
    loop {
        let event = tokio::time::timeout_at(until, watch.next()).await;
        let pod = match event {
            Err(_) => {
                return Err(StartError::Deadline {
                    pod: name.to_owned(),
                    seconds: deadline.as_secs(),
                    last,
                }
                .into());
            }
            Ok(PodEvent::Deleted) => {
                return Err(StartError::Deleted {
                    pod: name.to_owned(),
                }
                .into());
            }
            Ok(PodEvent::Changed(pod)) => pod,
        };
        match start_state(&pod, steps) {
            StartState::Running => return Ok((*pod, watch)),
            StartState::Failed(reason) => return Err(StartError::Failed(reason).into()),
            StartState::Pending(note) => {
                if note != last {
                    info!(pod = %name, state = %note, "waiting for the pod");
                    last = note;
                }
            }
        }
    }
}

/// Follows the running pod and publishes what can no longer run; ends when the pod is gone.
pub async fn monitor(mut watch: PodWatch, name: String, tx: watch::Sender<Health>) {
    loop {
        let now = match watch.next().await {
            PodEvent::Deleted => Health {
                pod: Some(format!("pod {name} was deleted")),
                ..Health::default()
            },
            PodEvent::Changed(pod) => health(&pod),
        };
        let gone = now.pod.is_some();
        if !now.is_healthy() {
            info!(pod = %name, health = ?now, "build pod trouble");
        }
        tx.send_if_modified(|old| {
            let changed = *old != now;
            *old = now;
            changed
        });
        if gone {
            return;
        }
    }
}

/// Deletes the pod and its Secret; a missing one is fine.
pub async fn delete(
    pods: &Api<Pod>,
    secrets: &Api<Secret>,
    pod: &str,
    secret: &str,
    grace_seconds: u32,
) -> Result<(), KubeError> {
    let params = DeleteParams {
        grace_period_seconds: Some(grace_seconds),
        ..DeleteParams::default()
    };
    let pod_result = with_retries("deleting the pod", || pods.delete(pod, &params)).await;
    let plain = DeleteParams::default();
    let secret_result =
        with_retries("deleting the secret", || secrets.delete(secret, &plain)).await;
    for (what, result) in [
        (format!("delete pod {pod}"), pod_result.map(|_| ())),
        (format!("delete secret {secret}"), secret_result.map(|_| ())),
    ] {
        match result {
            Ok(()) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(source) => {
                return Err(KubeError::Api {
                    action: what,
                    source,
                });
            }
        }
    }
    Ok(())
}
