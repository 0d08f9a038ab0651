//! A one-pass scheduler: fits pods on nodes by summed resource requests, pod count and
//! `nodeSelector`, and reports failures with the default scheduler's message.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::catalog;
use crate::events::{self, Reporter};
use crate::quantity::parse_milli;
use crate::store::Store;
use crate::time::now_rfc3339;
use crate::validation::quantity_text;

/// Why one node cannot take a pod.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodeReason {
    Insufficient(String),
    TooManyPods,
    Selector,
    /// A `NoSchedule`/`NoExecute` taint the pod does not tolerate, as `{key: value}`.
    Taint(String),
}

/// What one scheduling attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The pod was bound to a node.
    Bound,
    /// No node fits; the pod stays Pending with `PodScheduled=False`.
    Unschedulable,
    /// No node can ever fit until something else changes (a missing claim); no new node would
    /// help either.
    Unresolvable,
    /// Nothing to do (already bound, being deleted, or gone).
    Skipped,
}

impl NodeReason {
    /// The reason as the scheduler's message counts it.
    pub fn message(&self) -> String {
        match self {
            Self::Insufficient(res) => format!("Insufficient {res}"),
            Self::TooManyPods => "Too many pods".to_owned(),
            Self::Selector => "node(s) didn't match Pod's node affinity/selector".to_owned(),
            Self::Taint(taint) => format!("node(s) had untolerated taint {taint}"),
        }
    }

    /// Whether evicting other pods could help (resource shortage) or not (selector).
    fn preemption_helps(&self) -> bool {
        !matches!(self, Self::Selector | Self::Taint(_))
    }
}

/// The effective requests of a pod: the larger of its containers' sum and any init container.
pub fn pod_requests(pod: &Value) -> BTreeMap<String, i128> {
    let sum_of = |list: &str, sum: bool| {
        let mut total: BTreeMap<String, i128> = BTreeMap::new();
        for c in pod
            .pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for (res, q) in c
                .pointer("/resources/requests")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let v = parse_milli(&quantity_text(q)).unwrap_or(0);
                let slot = total.entry(res.clone()).or_insert(0);
                *slot = if sum { *slot + v } else { (*slot).max(v) };
            }
        }
        total
    };
    let mut requests = sum_of("containers", true);
    for (res, v) in sum_of("initContainers", false) {
        let slot = requests.entry(res).or_insert(0);
        *slot = (*slot).max(v);
    }
    requests
}

fn holds_resources(pod: &Value) -> bool {
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("");
    phase != "Succeeded" && phase != "Failed"
}

/// Whether one of the pod's tolerations matches the taint.
pub fn tolerates(pod: &Value, taint: &Value) -> bool {
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    pod.pointer("/spec/tolerations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|t| {
            let exists = field(t, "operator") == "Exists";
            let key_ok =
                (field(t, "key").is_empty() && exists) || field(t, "key") == field(taint, "key");
            let value_ok = exists || field(t, "value") == field(taint, "value");
            let effect_ok =
                field(t, "effect").is_empty() || field(t, "effect") == field(taint, "effect");
            key_ok && value_ok && effect_ok
        })
}

fn untolerated_taint(node: &Value, pod: &Value) -> Option<NodeReason> {
    let taint = node
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| {
            matches!(
                t.get("effect").and_then(Value::as_str),
                Some("NoSchedule" | "NoExecute")
            )
        })
        .find(|t| !tolerates(pod, t))?;
    let text = |k: &str| taint.get(k).and_then(Value::as_str).unwrap_or("");
    Some(NodeReason::Taint(format!(
        "{{{}: {}}}",
        text("key"),
        text("value")
    )))
}

/// Why `node` cannot take `pod` next to the `placed` pods (empty when it can).
pub fn node_reasons(node: &Value, pod: &Value, placed: &[Value]) -> Vec<NodeReason> {
    let mut reasons = Vec::new();
    if let Some(taint) = untolerated_taint(node, pod) {
        reasons.push(taint);
        return reasons;
    }
    let name = node
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let labels = node.pointer("/metadata/labels");
    if let Some(selector) = pod.pointer("/spec/nodeSelector").and_then(Value::as_object) {
        let ok = selector
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
        if !ok {
            reasons.push(NodeReason::Selector);
            return reasons;
        }
    }
    let on_node: Vec<&Value> = placed
        .iter()
        .filter(|p| p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(name))
        .filter(|p| holds_resources(p))
        .collect();
    let allocatable = node
        .pointer("/status/allocatable")
        .and_then(Value::as_object);
    let max_pods = allocatable
        .and_then(|a| a.get("pods"))
        .and_then(|q| parse_milli(&quantity_text(q)))
        .unwrap_or(110_000);
    if i128::try_from(on_node.len() + 1).unwrap_or(i128::MAX) * 1000 > max_pods {
        reasons.push(NodeReason::TooManyPods);
    }
    let mut used: BTreeMap<String, i128> = BTreeMap::new();
    for p in &on_node {
        for (res, v) in pod_requests(p) {
            *used.entry(res).or_insert(0) += v;
        }
    }
    for (res, want) in pod_requests(pod) {
        if want == 0 {
            continue;
        }
        let have = allocatable
            .and_then(|a| a.get(&res))
            .and_then(|q| parse_milli(&quantity_text(q)))
            .unwrap_or(0);
        if used.get(&res).copied().unwrap_or(0) + want > have {
            reasons.push(NodeReason::Insufficient(res));
        }
    }
    reasons
}

/// `0/N nodes are available: <histogram>. preemption: 0/N nodes are available: <histogram>.`
/// with each histogram's entries sorted as strings, as the default scheduler writes it.
fn fit_error(per_node: &[Vec<NodeReason>]) -> String {
    let n = per_node.len();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut preempt: BTreeMap<&str, usize> = BTreeMap::new();
    for reasons in per_node {
        for r in reasons {
            *counts.entry(r.message()).or_insert(0) += 1;
        }
        let helps = reasons.iter().all(NodeReason::preemption_helps);
        let key = if helps {
            "No preemption victims found for incoming pod"
        } else {
            "Preemption is not helpful for scheduling"
        };
        *preempt.entry(key).or_insert(0) += 1;
    }
    let histogram = |items: Vec<String>| {
        let mut items = items;
        items.sort();
        items.join(", ")
    };
    let filter = histogram(counts.iter().map(|(m, c)| format!("{c} {m}")).collect());
    let post = histogram(preempt.iter().map(|(m, c)| format!("{c} {m}")).collect());
    format!("0/{n} nodes are available: {filter}. preemption: 0/{n} nodes are available: {post}..")
}

/// The first claim a pod's volumes name that does not exist (the VolumeBinding plugin's
/// PreFilter check).
fn missing_claim(store: &Store, pod: &Value, namespace: &str) -> Option<String> {
    let claims = catalog::resource("persistentvolumeclaims")?;
    pod.pointer("/spec/volumes")
        .and_then(Value::as_array)?
        .iter()
        .filter_map(|v| {
            v.pointer("/persistentVolumeClaim/claimName")
                .and_then(Value::as_str)
        })
        .find(|claim| store.get(claims, namespace, claim).is_err())
        .map(str::to_owned)
}

/// Tries to bind one pending pod; records `PodScheduled` either way.
pub fn schedule(store: &Store, pod: &Value) -> Outcome {
    let (Some(pods), Some(nodes_rt)) = (catalog::resource("pods"), catalog::resource("nodes"))
    else {
        return Outcome::Skipped;
    };
    let namespace = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let (nodes, _) = store.list(nodes_rt, None);
    let (placed, _) = store.list(pods, None);
    let mut per_node = Vec::new();
    let mut chosen = None;
    let missing = missing_claim(store, pod, namespace);
    for node in nodes.iter().filter(|_| missing.is_none()) {
        let reasons = node_reasons(node, pod, &placed);
        if reasons.is_empty() {
            chosen = node
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_owned);
            break;
        }
        per_node.push(reasons);
    }
    let now = now_rfc3339();
    let (condition, event) = match &chosen {
        Some(node) => (
            json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}),
            (
                false,
                "Scheduled",
                format!("Successfully assigned {namespace}/{name} to {node}"),
            ),
        ),
        None => {
            let n = nodes.len();
            let message = if let Some(claim) = &missing {
                format!(
                    "0/{n} nodes are available: persistentvolumeclaim \"{claim}\" not found. preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling.."
                )
            } else if nodes.is_empty() {
                "no nodes available to schedule pods".to_owned()
            } else {
                fit_error(&per_node)
            };
            (
                json!({"type": "PodScheduled", "status": "False", "lastProbeTime": null,
                       "lastTransitionTime": now, "reason": "Unschedulable", "message": message}),
                (true, "FailedScheduling", message),
            )
        }
    };
    let mut changed = false;
    let mut outcome = Outcome::Skipped;
    let result = store.update(pods, namespace, name, |p| {
        if p.pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty())
            || p.pointer("/metadata/deletionTimestamp").is_some()
        {
            return Ok(false);
        }
        outcome = match (&chosen, &missing) {
            (Some(_), _) => Outcome::Bound,
            (None, Some(_)) => Outcome::Unresolvable,
            (None, None) => Outcome::Unschedulable,
        };
        let existing = p
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.get("type").and_then(Value::as_str) == Some("PodScheduled"))
                    .cloned()
            });
        if chosen.is_none()
            && existing.as_ref().and_then(|c| c.get("message")) == condition.get("message")
        {
            return Ok(false);
        }
        if let Some(node) = &chosen {
            crate::store::ensure_object(p, "spec").insert("nodeName".to_owned(), json!(node));
        }
        let status = crate::store::ensure_object(p, "status");
        let conditions = status.entry("conditions").or_insert_with(|| json!([]));
        if let Some(list) = conditions.as_array_mut() {
            list.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
            list.push(condition.clone());
        }
        changed = true;
        Ok(true)
    });
    if let Ok(updated) = result {
        if changed {
            events::record(
                store,
                &updated,
                Reporter::Scheduler,
                event.0,
                event.1,
                &event.2,
                None,
            );
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::{NodeReason, fit_error};

    #[test]
    fn message_matches_default_scheduler() {
        assert_eq!(
            fit_error(&[vec![NodeReason::Insufficient("cpu".into())]]),
            "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.."
        );
        assert_eq!(
            fit_error(&[
                vec![NodeReason::Selector],
                vec![
                    NodeReason::Insufficient("cpu".into()),
                    NodeReason::Insufficient("memory".into())
                ],
                vec![NodeReason::Insufficient("cpu".into())],
            ]),
            "0/3 nodes are available: 1 Insufficient memory, 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.."
        );
    }
}
