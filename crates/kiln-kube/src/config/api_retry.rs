//! `executors.kubernetes.api_retry`: how long kiln keeps retrying an API call that failed
//! with a transient error (a 5xx, 429, a timeout or a dropped connection), so that a
//! control-plane upgrade or a load-balancer failover of a few seconds does not fail builds.

use serde::Deserialize;
use std::time::Duration;

/// Retries of transient API errors: jittered exponential back-off from `first_pause_ms`,
/// doubling up to `max_pause_seconds`, until `budget_seconds` have passed since the first
/// attempt.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct ApiRetry {
    #[serde(default = "default_budget")]
    pub budget_seconds: u64,
    #[serde(default = "default_first_pause")]
    pub first_pause_ms: u64,
    #[serde(default = "default_max_pause")]
    pub max_pause_seconds: u64,
}

fn default_budget() -> u64 {
    60
}
fn default_first_pause() -> u64 {
    200
}
fn default_max_pause() -> u64 {
    5
}

impl Default for ApiRetry {
    fn default() -> Self {
        ApiRetry {
            budget_seconds: default_budget(),
            first_pause_ms: default_first_pause(),
            max_pause_seconds: default_max_pause(),
        }
    }
}

impl ApiRetry {
    /// How long retries may go on.
    pub fn budget(&self) -> Duration {
        Duration::from_secs(self.budget_seconds)
    }

    /// The first pause between attempts.
    pub fn first_pause(&self) -> Duration {
        Duration::from_millis(self.first_pause_ms)
    }

    /// The longest pause between attempts.
    pub fn max_pause(&self) -> Duration {
        Duration::from_secs(self.max_pause_seconds)
    }

    /// No retries at all (tests of what a failure looks like).
    pub fn none() -> ApiRetry {
        ApiRetry {
            budget_seconds: 0,
            first_pause_ms: 1,
            max_pause_seconds: 0,
        }
    }
}
