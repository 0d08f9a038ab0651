//! The live logs of the builds running here: each running build's log state (see
//! [`LogState`]), made when the build starts and dropped when it ends. A queued build has
//! none (a thousand queued builds hold no channel each); who waits for a queued build (a
//! follower of its log, an upstream `build` step) subscribes to [`LiveLogs::watch`], which
//! changes when a build here goes live or a queued build ends without running, and then
//! looks again.

use crate::follower::LogState;
use kiln_types::BuildRef;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

pub(crate) struct LiveLogs {
    logs: Mutex<HashMap<BuildRef, watch::Receiver<LogState>>>,
    /// Counts the builds that went live here and the queued builds that ended unrun.
    changed: watch::Sender<u64>,
}

impl Default for LiveLogs {
    fn default() -> Self {
        LiveLogs {
            logs: Mutex::new(HashMap::new()),
            changed: watch::channel(0).0,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LiveLogs {
    /// A build starts here: its log state, published to its followers through the
    /// returned sender.
    pub(crate) fn start(&self, id: BuildRef) -> watch::Sender<LogState> {
        let (tx, rx) = watch::channel(LogState::default());
        lock(&self.logs).insert(id, rx);
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
        tx
    }

    pub(crate) fn get(&self, id: &BuildRef) -> Option<watch::Receiver<LogState>> {
        lock(&self.logs).get(id).cloned()
    }

    pub(crate) fn remove(&self, id: &BuildRef) {
        lock(&self.logs).remove(id);
    }

    /// A queued build ended without running (its stored record says so now): whoever waits
    /// for it reads the store again.
    pub(crate) fn queued_ended(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A watch of what goes live from now on: subscribed before the first look, so that a
    /// build starting between the look and the wait is not missed.
    pub(crate) fn watch(self: &Arc<Self>) -> LiveWatch {
        LiveWatch {
            logs: self.clone(),
            changed: self.changed.subscribe(),
        }
    }
}

/// Waits for builds here to go live (or queued ones to end unrun).
pub(crate) struct LiveWatch {
    logs: Arc<LiveLogs>,
    changed: watch::Receiver<u64>,
}

impl LiveWatch {
    /// The build's live log state, if it runs here now.
    pub(crate) fn get(&self, id: &BuildRef) -> Option<watch::Receiver<LogState>> {
        self.logs.get(id)
    }

    /// Waits until a build went live or a queued build ended since the last wait (or the
    /// subscription); never returns when nothing can change any more.
    pub(crate) async fn changed(&mut self) {
        if self.changed.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LiveLogs;
    use kiln_types::{BuildRef, JobName};
    use std::sync::Arc;
    use std::time::Duration;

    fn id(n: u64) -> BuildRef {
        BuildRef {
            job: JobName::new("j").unwrap(),
            number: n,
        }
    }

    /// A waiter subscribed before a build starts is woken when it does, and finds its log.
    #[tokio::test]
    async fn a_watch_wakes_when_a_build_goes_live_or_a_queued_one_ends() {
        let logs = Arc::new(LiveLogs::default());
        let mut watch = logs.watch();
        assert!(watch.get(&id(1)).is_none());
        let _tx = logs.start(id(1));
        tokio::time::timeout(Duration::from_secs(5), watch.changed())
            .await
            .unwrap();
        assert!(watch.get(&id(1)).is_some());
        // Nothing changed since: the next wait waits.
        let quiet = tokio::time::timeout(Duration::from_millis(50), watch.changed()).await;
        assert!(quiet.is_err());
        logs.queued_ended();
        tokio::time::timeout(Duration::from_secs(5), watch.changed())
            .await
            .unwrap();
        logs.remove(&id(1));
        assert!(watch.get(&id(1)).is_none());
    }
}
