//! `executors.kubernetes.orphans`: what keeps a build pod from outliving its build when kiln
//! is killed (`kill -9`, a lost node) before it could delete the pod.

use serde::Deserialize;

/// Orphan handling. Each bound works alone: the agent exits when its controller has been
/// gone for `agent_grace_seconds`, the kubelet stops a pod `pod_active_deadline_seconds`
/// after it started (a pipeline's `timeout` option gives a tighter bound), and every
/// `sweep_seconds` kiln deletes build pods that have finished (their agents exited) for
/// `finished_grace_seconds`, with their Secrets. 0 turns a bound off.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct Orphans {
    #[serde(default = "default_agent_grace")]
    pub agent_grace_seconds: u64,
    #[serde(default = "default_active_deadline")]
    pub pod_active_deadline_seconds: u64,
    #[serde(default = "default_sweep")]
    pub sweep_seconds: u64,
    #[serde(default = "default_finished_grace")]
    pub finished_grace_seconds: u64,
}

/// Well past a controller restart and the agents' reconnect deadline.
pub const DEFAULT_AGENT_GRACE_SECONDS: u64 = 900;

fn default_agent_grace() -> u64 {
    DEFAULT_AGENT_GRACE_SECONDS
}
fn default_active_deadline() -> u64 {
    24 * 3600
}
fn default_sweep() -> u64 {
    300
}
fn default_finished_grace() -> u64 {
    60
}

impl Default for Orphans {
    fn default() -> Self {
        Orphans {
            agent_grace_seconds: default_agent_grace(),
            pod_active_deadline_seconds: default_active_deadline(),
            sweep_seconds: default_sweep(),
            finished_grace_seconds: default_finished_grace(),
        }
    }
}
