//! Every process group the kubelet started, so that stopping the fake kills them all.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Shared set of live process group ids.
#[derive(Clone, Default)]
pub struct ProcessTable {
    groups: Arc<Mutex<HashSet<i32>>>,
}

impl ProcessTable {
    fn lock(&self) -> MutexGuard<'_, HashSet<i32>> {
        self.groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a started process group.
    pub fn insert(&self, pgid: i32) {
        self.lock().insert(pgid);
    }

    /// Forgets a process group whose leader was reaped.
    pub fn remove(&self, pgid: i32) {
        self.lock().remove(&pgid);
    }

    /// Sends `signal` to one process group; a group already gone is not an error.
    pub fn signal(pgid: i32, signal: Signal) {
        if let Err(err) = killpg(Pid::from_raw(pgid), signal) {
            tracing::debug!(pgid, %err, "signal to process group failed");
        }
    }

    /// SIGKILLs every recorded group and waits (up to ten seconds: dying takes a turn on the
    /// CPU, which a loaded machine may be slow to give) until they are gone.
    pub fn kill_all(&self) {
        let groups: Vec<i32> = self.lock().drain().collect();
        for pgid in &groups {
            Self::signal(*pgid, Signal::SIGKILL);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for pgid in groups {
            while Instant::now() < deadline && group_alive(pgid) {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// Whether any non-zombie process is still in the group (checked through the leader).
fn group_alive(pgid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pgid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}
