//! A simulated cluster autoscaler with one node group: pods the scheduler cannot place get a
//! `TriggeredScaleUp` event when a new node of the group would take them, and the node joins
//! the cluster after the configured delay; otherwise a `NotTriggerScaleUp` event says why not.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use serde_json::{Value, json};

use crate::catalog;
use crate::config::AutoscalerConfig;
use crate::events::{self, Reporter};
use crate::fake_kube::node_object;
use crate::scheduler::node_reasons;
use crate::store::Store;

/// A node the autoscaler has asked for, with the pods it expects to place there.
struct Upcoming {
    name: String,
    /// The group's size before and after this node.
    sizes: (u32, u32),
    pods: Vec<Value>,
}

#[derive(Default)]
struct State {
    config: Option<AutoscalerConfig>,
    /// Nodes added or on their way.
    added: u32,
    upcoming: Vec<Upcoming>,
    /// Pods already answered (triggered or not), by uid.
    answered: HashSet<String>,
}

/// The autoscaler's shared state.
pub struct Autoscaler {
    store: Store,
    state: Mutex<State>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

impl Autoscaler {
    /// An autoscaler, inactive when `config` is `None`.
    pub fn new(store: Store, config: Option<AutoscalerConfig>) -> Self {
        Self {
            store,
            state: Mutex::new(State {
                config,
                ..State::default()
            }),
        }
    }

    /// Replaces the configuration (`None` turns the autoscaler off); nodes already added stay.
    pub fn configure(&self, config: Option<AutoscalerConfig>) {
        let mut state = lock(&self.state);
        state.config = config;
        state.answered.clear();
    }

    /// Looks at a pod the scheduler could not place: plans a scale-up for it or says why not.
    pub fn consider(&self, pod: &Value) {
        let uid = text(pod, "/metadata/uid").to_owned();
        let (note, scale_up) = {
            let mut state = lock(&self.state);
            let Some(config) = state.config.clone() else {
                return;
            };
            if !state.answered.insert(uid) {
                return;
            }
            plan(&mut state, &config, pod)
        };
        let (warning, reason, message) = note;
        events::record(
            &self.store,
            pod,
            Reporter::Autoscaler,
            warning,
            reason,
            &message,
            None,
        );
        if let Some((name, config)) = scale_up {
            let store = self.store.clone();
            tokio::spawn(async move {
                tokio::time::sleep(config.delay).await;
                add_node(&store, &config.node_group, &name, config.template);
            });
        }
    }

    /// Forgets a pod (bound or deleted), so a later failure is considered afresh.
    pub fn forget(&self, uid: &str) {
        let mut state = lock(&self.state);
        state.answered.remove(uid);
        for node in &mut state.upcoming {
            node.pods.retain(|p| text(p, "/metadata/uid") != uid);
        }
    }

    /// Marks a node as joined: it is no longer upcoming.
    pub fn joined(&self, node: &str) {
        lock(&self.state).upcoming.retain(|u| u.name != node);
    }
}

type Note = (bool, &'static str, String);
type ScaleUp = (String, AutoscalerConfig);

/// Decides for one pod: onto an upcoming node, a new node, or no scale-up.
fn plan(state: &mut State, config: &AutoscalerConfig, pod: &Value) -> (Note, Option<ScaleUp>) {
    let template = node_object(&config.template);
    let max = config.max_nodes;
    let triggered = |from: u32, to: u32| {
        (
            false,
            "TriggeredScaleUp",
            format!(
                "pod triggered scale-up: [{{{} {from}->{to} (max: {max})}}]",
                config.node_group
            ),
        )
    };
    for node in &mut state.upcoming {
        let placed: Vec<Value> = node.pods.iter().map(|p| bound_to(p, &node.name)).collect();
        if node_reasons(&template, pod, &placed).is_empty() {
            node.pods.push(pod.clone());
            return (triggered(node.sizes.0, node.sizes.1), None);
        }
    }
    let alone = node_reasons(&template, pod, &[]);
    if !alone.is_empty() {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for r in &alone {
            *counts.entry(r.message()).or_insert(0) += 1;
        }
        let mut parts: Vec<String> = counts.iter().map(|(m, c)| format!("{c} {m}")).collect();
        parts.sort();
        let message = format!(
            "pod didn't trigger scale-up (it wouldn't fit if a new node is added): {}",
            parts.join(", ")
        );
        return ((false, "NotTriggerScaleUp", message), None);
    }
    if state.added >= max {
        let message = "pod didn't trigger scale-up: 1 max node group size reached".to_owned();
        return ((false, "NotTriggerScaleUp", message), None);
    }
    state.added += 1;
    let name = format!("{}-{}", config.node_group, state.added);
    state.upcoming.push(Upcoming {
        name: name.clone(),
        sizes: (state.added - 1, state.added),
        pods: vec![pod.clone()],
    });
    let note = triggered(state.added - 1, state.added);
    (note, Some((name, config.clone())))
}

fn bound_to(pod: &Value, node: &str) -> Value {
    let mut pod = pod.clone();
    crate::store::ensure_object(&mut pod, "spec").insert("nodeName".to_owned(), json!(node));
    pod
}

fn add_node(store: &Store, group: &str, name: &str, mut template: crate::config::NodeConfig) {
    let Some(nodes) = catalog::resource("nodes") else {
        return;
    };
    name.clone_into(&mut template.name);
    template
        .labels
        .insert("kiln.fake/node-group".to_owned(), group.to_owned());
    tracing::info!(node = %name, "autoscaler added a node");
    let node = node_object(&template);
    if let Err(err) = store.create(nodes, "", node) {
        tracing::warn!(%err, "autoscaled node not created");
    }
}
