use std::fmt;
use std::sync::Arc;

/// How a [`ProcessKiller`] should stop a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KillMode {
    /// Ask politely (SIGTERM to the process group), then force it after a grace period.
    Terminate,
    /// Force it at once (SIGKILL to the process group).
    Kill,
}

/// Stops a running process and everything it started; cheap to clone and share.
///
/// A backend builds one from a function that knows how to reach its processes: the local
/// runner signals a process group, a remote agent would send a message. Both operations are
/// idempotent and harmless once the process has exited.
#[derive(Clone)]
pub struct ProcessKiller {
    action: Arc<dyn Fn(KillMode) + Send + Sync>,
}

impl ProcessKiller {
    pub fn new(action: impl Fn(KillMode) + Send + Sync + 'static) -> Self {
        ProcessKiller {
            action: Arc::new(action),
        }
    }

    /// A killer that does nothing, for processes that cannot be stopped or are already gone.
    pub fn noop() -> Self {
        ProcessKiller::new(|_| {})
    }

    /// SIGTERM to the whole process group, then SIGKILL after the grace period if anything
    /// is still alive. Calls after the first do nothing.
    pub fn terminate(&self) {
        (self.action)(KillMode::Terminate);
    }

    /// SIGKILL to the whole process group at once.
    pub fn kill(&self) {
        (self.action)(KillMode::Kill);
    }
}

impl fmt::Debug for ProcessKiller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessKiller").finish_non_exhaustive()
    }
}
