use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing::{debug, warn};

/// The process group of one spawned process, which is its leader (`process_group(0)`).
///
/// Signals go to the whole group so that grandchildren (`sh -c 'a & b'`) go too. Once a
/// signal reports that the group no longer exists, the group is marked gone and never
/// signalled again, so a later kill cannot hit an unrelated group that reuses the id.
#[derive(Debug)]
pub(crate) struct ProcessGroup {
    pgid: Pid,
    gone: AtomicBool,
    terminating: AtomicBool,
}

impl ProcessGroup {
    pub(crate) fn new(pgid: u32) -> Self {
        // A pid that does not fit an i32 cannot come from the kernel; such a group is
        // treated as already gone rather than signalling a nonsense id.
        let (pgid, gone) = match i32::try_from(pgid) {
            Ok(id) if id > 1 => (Pid::from_raw(id), false),
            _ => (Pid::from_raw(0), true),
        };
        ProcessGroup {
            pgid,
            gone: AtomicBool::new(gone),
            terminating: AtomicBool::new(false),
        }
    }

    /// Sends `signal` (or probes with `None`) to the group; true if any member received it.
    pub(crate) fn signal(&self, signal: Option<Signal>) -> bool {
        if self.gone.load(Ordering::Acquire) {
            return false;
        }
        match killpg(self.pgid, signal) {
            Ok(()) => true,
            Err(Errno::ESRCH) => {
                self.gone.store(true, Ordering::Release);
                false
            }
            Err(errno) => {
                warn!(pgid = self.pgid.as_raw(), ?signal, %errno, "cannot signal process group");
                false
            }
        }
    }

    /// True while at least one process of the group exists (zombies included).
    pub(crate) fn alive(&self) -> bool {
        self.signal(None)
    }

    pub(crate) fn kill(&self) {
        self.signal(Some(Signal::SIGKILL));
    }

    /// SIGTERM now and SIGKILL after `grace` if anything is left; only the first call acts.
    pub(crate) fn terminate(self: &Arc<Self>, grace: Duration, runtime: &tokio::runtime::Handle) {
        if self.terminating.swap(true, Ordering::AcqRel) {
            return;
        }
        if !self.signal(Some(Signal::SIGTERM)) {
            return;
        }
        let group = Arc::clone(self);
        runtime.spawn(async move {
            tokio::time::sleep(grace).await;
            if group.alive() {
                debug!(
                    pgid = group.pgid.as_raw(),
                    "process group outlived the grace period; killing it"
                );
                group.kill();
            }
        });
    }
}

/// Kills the group when dropped unless disarmed, so that a pump task torn down by a runtime
/// shutdown or an abort does not leave processes behind.
pub(crate) struct KillGuard {
    group: Option<Arc<ProcessGroup>>,
}

impl KillGuard {
    pub(crate) fn new(group: Arc<ProcessGroup>) -> Self {
        KillGuard { group: Some(group) }
    }

    pub(crate) fn disarm(mut self) {
        self.group = None;
    }
}

impl Drop for KillGuard {
    fn drop(&mut self) {
        if let Some(group) = self.group.take() {
            group.kill();
        }
    }
}
