//! The Kubernetes API client: a client with kiln's limits (requests in flight, timeouts),
//! pod watches (re-listing on 410), the pod lifecycle (create with its Secret, wait until
//! running, monitor, delete, with bounded retries) and the orphan reaper.

pub(crate) mod backoff;
pub(crate) mod client;
pub(crate) mod lifecycle;
pub(crate) mod node;
pub(crate) mod pod_events;
pub(crate) mod pull_wait;
pub(crate) mod reaper;
pub(crate) mod retry;
pub(crate) mod start_wait;
pub(crate) mod watch;
