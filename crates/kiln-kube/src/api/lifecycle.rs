//! A build pod's life: Secret and Pod created (transient API errors retried over a budget, an
//! object an attempt whose answer was lost created adopted), the Secret then owned by the pod
//! (the cluster's garbage collector deletes it with the pod), watched
//! until every step container runs or a clear failure, watched during the build for eviction,
//! OOM kills and node loss, and deleted at the end.

use crate::api::node::{node_lost, suspect_node};
use crate::api::retry::{Attempt, with_budget};
use crate::api::watch::{PodEvent, PodWatch};
use crate::config::ApiRetry;
use crate::error::KubeError;
use crate::pod::status::{Health, health};
use k8s_openapi::api::core::v1::{Node, Pod, Secret};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use tokio::sync::watch;
use tracing::{info, warn};

/// A pod as [`create`] left it.
pub struct Created {
    /// The pod as created, or as found when adopted (which may have started already: callers
    /// look at it before watching for changes from its resourceVersion).
    pub pod: Pod,
    /// Whether the pod owns its agent Secret (the cluster deletes the Secret with the pod);
    /// when not, whoever deletes the pod deletes the Secret too.
    pub secret_owned: bool,
}

/// Creates the Secret, then the Pod, then makes the pod the Secret's owner. Transient errors
/// are retried per `retry`; an object found to exist after an attempt whose answer was lost
/// is adopted when it is the one sent (same labels, and for the Secret the same token). When
/// the pod cannot be created the Secret is deleted again.
pub async fn create(
    pods: &Api<Pod>,
    secrets: &Api<Secret>,
    pod: &Pod,
    secret: &Secret,
    retry: &ApiRetry,
) -> Result<Created, KubeError> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let secret_name = secret.metadata.name.clone().unwrap_or_default();
    let params = PostParams::default();
    let api_error = |action: String| move |source| KubeError::Api { action, source };
    let made = with_budget(retry, "creating the agent secret", || {
        secrets.create(&params, secret)
    })
    .await
    .map_err(api_error(format!("create secret for pod {name}")))?;
    if let Attempt::AlreadyExists = made {
        let found = secrets
            .get(&secret_name)
            .await
            .map_err(api_error(format!("get secret {secret_name}")))?;
        if found.data != secret.data || found.metadata.labels != secret.metadata.labels {
            return Err(KubeError::NotOurs {
                kind: "secret",
                name: secret_name,
            });
        }
        info!(secret = %secret_name, "adopted the agent secret an earlier attempt created");
    }
    match create_pod(pods, pod, &name, retry).await {
        Ok(created) => {
            let secret_owned = own_secret(secrets, &secret_name, &created).await;
            Ok(Created {
                pod: created,
                secret_owned,
            })
        }
        Err(error) => {
            let _ = secrets.delete(&secret_name, &DeleteParams::default()).await;
            Err(error)
        }
    }
}

/// Makes the pod the owner of its agent Secret, so that the cluster's garbage collector
/// deletes the Secret with the pod, whoever deletes the pod (kiln, an admin, the reaper of
/// another kiln): kiln then makes no delete request of its own for it. A failure is logged
/// and answered `false`: kiln deletes the Secret itself then.
async fn own_secret(secrets: &Api<Secret>, secret: &str, pod: &Pod) -> bool {
    let (Some(name), Some(uid)) = (&pod.metadata.name, &pod.metadata.uid) else {
        return false;
    };
    let patch = serde_json::json!({"metadata": {"ownerReferences": [{
        "apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid,
    }]}});
    match secrets
        .patch(secret, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => true,
        Err(error) => {
            warn!(%secret, pod = %name, %error, "cannot make the pod the owner of its agent secret");
            false
        }
    }
}

/// Whether `secret` names `pod` (by uid) among its owners.
pub fn owned_by(secret: &Secret, pod: &Pod) -> bool {
    let Some(uid) = &pod.metadata.uid else {
        return false;
    };
    secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|owner| owner.kind == "Pod" && owner.uid == *uid)
}

async fn create_pod(
    pods: &Api<Pod>,
    pod: &Pod,
    name: &str,
    retry: &ApiRetry,
) -> Result<Pod, KubeError> {
    let api_error = |action: String| move |source| KubeError::Api { action, source };
    let params = PostParams::default();
    let made = with_budget(retry, "creating the pod", || pods.create(&params, pod))
        .await
        .map_err(api_error(format!("create pod {name}")))?;
    let created = match made {
        Attempt::Done(created) => created,
        Attempt::AlreadyExists => {
            let found = pods
                .get(name)
                .await
                .map_err(api_error(format!("get pod {name}")))?;
            if found.metadata.labels != pod.metadata.labels
                || found.metadata.deletion_timestamp.is_some()
            {
                return Err(KubeError::NotOurs {
                    kind: "pod",
                    name: name.to_owned(),
                });
            }
            info!(pod = %name, "adopted the pod an earlier attempt created");
            found
        }
    };
    Ok(created)
}

/// Follows the running pod and publishes what can no longer run; ends when the pod is gone.
/// A pod that looks cut off from its node has the node's Ready condition read (`nodes`):
/// a lost node fails the pod's steps at once, naming the node.
pub async fn monitor(
    mut watch: PodWatch,
    name: String,
    tx: watch::Sender<Health>,
    nodes: Api<Node>,
) {
    loop {
        let now = match watch.next().await {
            PodEvent::Deleted => Health {
                pod: Some(crate::pod::status::PodEnded::Deleted { pod: name.clone() }),
                ..Health::default()
            },
            PodEvent::Changed(pod) => {
                let mut now = health(&pod);
                if now.pod.is_none()
                    && let Some(node) = suspect_node(&pod)
                {
                    now.pod = node_lost(&nodes, node).await;
                }
                now
            }
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

/// Deletes the pod, and its Secret when `secret` names it (`None`: the pod owns it, and the
/// cluster's garbage collector deletes it once the pod is gone); a missing one is fine. (The
/// client retries deletes of transient errors.)
pub async fn delete(
    pods: &Api<Pod>,
    secrets: &Api<Secret>,
    pod: &str,
    secret: Option<&str>,
    grace_seconds: u32,
) -> Result<(), KubeError> {
    let params = DeleteParams {
        grace_period_seconds: Some(grace_seconds),
        ..DeleteParams::default()
    };
    let pod_result = pods.delete(pod, &params).await;
    let mut results = vec![(format!("delete pod {pod}"), pod_result.map(|_| ()))];
    if let Some(secret) = secret {
        let secret_result = secrets.delete(secret, &DeleteParams::default()).await;
        results.push((format!("delete secret {secret}"), secret_result.map(|_| ())));
    }
    for (what, result) in results {
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
