use std::time::Duration;

/// Tuning of the local process runner; the defaults suit CI steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpawnOptions {
    pub(crate) kill_grace: Duration,
    pub(crate) drain_grace: Duration,
}

impl SpawnOptions {
    /// How long [`ProcessKiller::terminate`](crate::ProcessKiller::terminate) waits between
    /// SIGTERM and SIGKILL (default 5 s).
    pub fn kill_grace(mut self, grace: Duration) -> Self {
        self.kill_grace = grace;
        self
    }

    /// How long the output pipes may stay open after the main process has exited, because a
    /// background process inherited them (default 1 s). When it runs out the process group
    /// is killed, and after one more such period pipes still open are abandoned.
    pub fn drain_grace(mut self, grace: Duration) -> Self {
        self.drain_grace = grace;
        self
    }
}

impl Default for SpawnOptions {
    fn default() -> Self {
        SpawnOptions {
            kill_grace: Duration::from_secs(5),
            drain_grace: Duration::from_secs(1),
        }
    }
}
