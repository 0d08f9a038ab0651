//! Node loss, seen within seconds rather than when the pod is finally deleted (about five
//! minutes later, when its `unreachable` toleration runs out): a running pod whose Ready
//! condition turned False while none of its containers stopped is what the node lifecycle
//! controller leaves when a node's kubelet stops reporting; kiln then reads the node's Ready
//! condition, and a node that is not Ready is lost.

use crate::pod::status::PodEnded;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use tracing::{info, warn};

/// The node of `pod` when the pod looks cut off from it: Running, not Ready, and no
/// container has stopped (a stopped container explains itself).
pub(crate) fn suspect_node(pod: &Pod) -> Option<&str> {
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() != Some("Running") {
        return None;
    }
    let not_ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "False");
    let all_running = status
        .container_statuses
        .iter()
        .flatten()
        .all(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()));
    (not_ready && all_running)
        .then(|| pod.spec.as_ref()?.node_name.as_deref())
        .flatten()
}

/// Why `node` is lost (its Ready condition is not True), or `None` while it is Ready or
/// cannot be read (kiln's service account may lack `get` on nodes: then a pod that is merely
/// not ready is not failed on a guess).
pub(crate) async fn node_lost(nodes: &Api<Node>, node: &str) -> Option<PodEnded> {
    let found = match nodes.get_opt(node).await {
        Ok(found) => found,
        Err(kube::Error::Api(status)) if status.code == 403 => {
            warn!(
                %node,
                "node loss is not detected: kiln's service account may not get nodes (deploy/clusterrole.yaml grants it); a step whose agent is cut off fails after the reconnect deadline"
            );
            return None;
        }
        Err(error) => {
            warn!(%node, %error, "cannot read the node of a pod that is not ready");
            return None;
        }
    };
    let Some(found) = found else {
        return Some(PodEnded::NodeNotReady {
            node: node.to_owned(),
            why: "the node was removed".to_owned(),
        });
    };
    let conditions = found.status.and_then(|s| s.conditions).unwrap_or_default();
    let ready = conditions.iter().find(|c| c.type_ == "Ready")?;
    if ready.status == "True" {
        return None;
    }
    let why = ready
        .message
        .clone()
        .or_else(|| ready.reason.clone())
        .unwrap_or_default();
    info!(%node, status = %ready.status, %why, "the node of a build pod is lost");
    Some(PodEnded::NodeNotReady {
        node: node.to_owned(),
        why: format!("Ready {}: {why}", ready.status),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(phase: &str, ready: &str, running: bool) -> Pod {
        let state = if running {
            json!({"running": {}})
        } else {
            json!({"terminated": {"exitCode": 1}})
        };
        serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"nodeName": "node-2", "containers": [{"name": "a"}]},
            "status": {"phase": phase,
                "conditions": [{"type": "Ready", "status": ready}],
                "containerStatuses": [{"name": "a", "image": "x", "imageID": "", "ready": ready == "True",
                    "restartCount": 0, "state": state}]}
        }))
        .unwrap()
    }

    #[test]
    fn a_running_pod_not_ready_with_running_containers_suspects_its_node() {
        assert_eq!(suspect_node(&pod("Running", "False", true)), Some("node-2"));
        assert_eq!(suspect_node(&pod("Running", "True", true)), None);
        assert_eq!(suspect_node(&pod("Running", "False", false)), None);
        assert_eq!(suspect_node(&pod("Pending", "False", true)), None);
    }
}
