//! Every process the kubelet started, so that a container's end and the fake's stop kill them
//! all, as a node's container runtime does (a container's processes live in its cgroup and
//! die with it, wherever they moved: another process group, a new session).
//!
//! The table knows each container's main process group and, with container isolation, its
//! mount namespace: every process of the container is in it (the agent's steps run in
//! process groups of their own, a step's `setsid daemon &` leaves the group too), so killing
//! "the container" is killing every process of that namespace. Without isolation the
//! containers share the host's namespace, and only the main process group is killed.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// Shared set of live process group ids and container mount namespaces.
#[derive(Clone, Default)]
pub struct ProcessTable {
    groups: Arc<Mutex<HashSet<i32>>>,
    namespaces: Arc<Mutex<HashSet<MountNamespace>>>,
}

/// A container's mount namespace, as `/proc/PID/ns/mnt` names it (`mnt:[4026532870]`),
/// held open: a namespace whose processes are all gone would be freed, and its number given
/// to the next container's, whose processes a kill by number would then reach.
#[derive(Clone, Debug)]
pub struct MountNamespace {
    name: String,
    _held: Arc<std::fs::File>,
}

impl PartialEq for MountNamespace {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for MountNamespace {}

impl std::hash::Hash for MountNamespace {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ProcessTable {
    /// Records a started process group.
    pub fn insert(&self, pgid: i32) {
        lock(&self.groups).insert(pgid);
    }

    /// Forgets a process group whose leader was reaped.
    pub fn remove(&self, pgid: i32) {
        lock(&self.groups).remove(&pgid);
    }

    /// Records a container's mount namespace.
    pub fn insert_namespace(&self, namespace: &MountNamespace) {
        lock(&self.namespaces).insert(namespace.clone());
    }

    /// Forgets a container's namespace once its processes are gone.
    pub fn remove_namespace(&self, namespace: &MountNamespace) {
        lock(&self.namespaces).remove(namespace);
    }

    /// Sends `signal` to one process group; a group already gone is not an error.
    pub fn signal(pgid: i32, signal: Signal) {
        if let Err(err) = killpg(Pid::from_raw(pgid), signal) {
            tracing::debug!(pgid, %err, "signal to process group failed");
        }
    }

    /// SIGKILLs every recorded group and every process of a recorded namespace, and waits (up
    /// to ten seconds: dying takes a turn on the CPU, which a loaded machine may be slow to
    /// give) until they are gone.
    pub fn kill_all(&self) {
        let groups: Vec<i32> = lock(&self.groups).drain().collect();
        let namespaces: Vec<MountNamespace> = lock(&self.namespaces).drain().collect();
        for pgid in &groups {
            Self::signal(*pgid, Signal::SIGKILL);
        }
        for namespace in &namespaces {
            kill_namespace(namespace);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for pgid in groups {
            while Instant::now() < deadline && group_alive(pgid) {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// The mount namespace of process `pid`, held open, when it is not the caller's own (the
/// process has entered its container); `None` while it has not, or when it is gone.
pub fn container_namespace(pid: u32) -> Option<MountNamespace> {
    use std::os::unix::fs::MetadataExt as _;
    let own = std::fs::metadata("/proc/self/ns/mnt").ok()?.ino();
    let held = std::fs::File::open(format!("/proc/{pid}/ns/mnt")).ok()?;
    let theirs = held.metadata().ok()?.ino();
    (theirs != own).then(|| MountNamespace {
        name: format!("mnt:[{theirs}]"),
        _held: Arc::new(held),
    })
}

/// Waits until process `pid` is in its container's mount namespace (its `unshare` ran) and
/// returns it; `None` when the process ends first or never gets there within ten seconds.
pub async fn learn_namespace(pid: u32) -> Option<MountNamespace> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if let Some(namespace) = container_namespace(pid) {
            return Some(namespace);
        }
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

/// SIGKILLs every process in `namespace` and waits until each has exited (at most ten
/// seconds: a process may fork while the list is read, and one tearing down its mounts as it
/// exits no longer shows its namespace but is not gone yet).
pub fn kill_namespace(namespace: &MountNamespace) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut killed: HashSet<i32> = HashSet::new();
    loop {
        killed.retain(|pid| !exited(*pid));
        let members = members(namespace);
        if members.is_empty() && killed.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            tracing::warn!(namespace = %namespace.name, left = members.len() + killed.len(), "container processes outlived their kill");
            return;
        }
        for pid in members {
            if let Err(err) = kill(Pid::from_raw(pid), Signal::SIGKILL) {
                tracing::debug!(pid, %err, "kill of a container process failed");
            }
            killed.insert(pid);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The live (not zombie) processes whose mount namespace is `namespace`.
fn members(namespace: &MountNamespace) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
                .is_ok_and(|ns| ns.to_string_lossy() == namespace.name)
                && !exited(*pid)
        })
        .collect()
}

/// Whether process `pid` has exited (a zombie, or reaped).
fn exited(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

/// Whether any non-zombie process is still in the group (checked through the leader).
fn group_alive(pgid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pgid}")).exists() && !exited(pgid)
}
