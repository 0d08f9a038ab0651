//! `executors.kubernetes.image_pull`: how long a starting pod whose image cannot be pulled
//! (`ErrImagePull`, `ImagePullBackOff`: a registry answering 429, a flaky network) is left to
//! the kubelet's retries before its build fails with the registry's message.

use serde::Deserialize;
use std::time::Duration;

/// The kubelet retries a failed pull with its own back-off (10 s doubling to 5 min); kiln
/// waits through `retries` failed pulls of a container, and no longer than
/// `deadline_seconds` after the pod's first failed pull, whichever comes first (the start
/// deadline bounds both). `retries: 0` fails the start at the first failed pull.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct ImagePull {
    #[serde(default = "default_retries")]
    pub retries: u32,
    #[serde(default = "default_deadline")]
    pub deadline_seconds: u64,
}

fn default_retries() -> u32 {
    4
}
fn default_deadline() -> u64 {
    120
}

impl Default for ImagePull {
    fn default() -> Self {
        ImagePull {
            retries: default_retries(),
            deadline_seconds: default_deadline(),
        }
    }
}

impl ImagePull {
    /// How long after the first failed pull the start fails.
    pub fn deadline(&self) -> Duration {
        Duration::from_secs(self.deadline_seconds)
    }
}
