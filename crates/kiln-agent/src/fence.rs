//! Which controller may drive each build through this agent. Several kiln controllers share
//! one database; a build's owner holds a claim whose epoch grows with every takeover. The
//! controller says `Fence { build, epoch }` on each connection before it acts for a build;
//! the agent remembers the highest epoch it was told per build and refuses a session whose
//! epoch is lower: an owner paused past its lease (its build taken over meanwhile) cannot
//! start, kill or attach to processes once it goes on. A session that says no fence (one
//! controller alone, `kiln run`) is never refused.

use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::watch;

/// The highest epoch seen per build (builds named `JOB#N`).
#[derive(Debug)]
pub struct Fences {
    seen: Mutex<HashMap<String, u64>>,
    /// Bumped whenever a build gets a higher epoch: connections of a lower one close then.
    raised: watch::Sender<u64>,
}

impl Default for Fences {
    fn default() -> Self {
        Fences {
            seen: Mutex::new(HashMap::new()),
            raised: watch::Sender::new(0),
        }
    }
}

impl Fences {
    /// A session drives `build` at `epoch`: accepted (and remembered) unless a higher epoch
    /// was seen; the error says why not.
    pub fn admit(&self, build: &str, epoch: u64) -> Result<(), String> {
        let mut seen = self.lock();
        let highest = seen.entry(build.to_owned()).or_insert(epoch);
        if *highest > epoch {
            return Err(stale(build, epoch, *highest));
        }
        if *highest < epoch {
            *highest = epoch;
            self.raised.send_modify(|n| *n += 1);
        }
        Ok(())
    }

    /// Resolves once a connection that drives `fence` (build, epoch) may no longer act,
    /// with the reason; never for a connection without one. `raised` is the connection's
    /// own subscription (see [`Fences::subscribe`]), so no raise is missed between calls.
    pub async fn superseded(
        &self,
        fence: Option<&(String, u64)>,
        raised: &mut watch::Receiver<u64>,
    ) -> String {
        let Some((build, epoch)) = fence else {
            return std::future::pending().await;
        };
        loop {
            if let Err(reason) = self.check(build, *epoch) {
                return reason;
            }
            if raised.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// A subscription to raised epochs, for [`Fences::superseded`].
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.raised.subscribe()
    }

    /// Why a session that drives `build` at `epoch` may no longer act, if so.
    pub fn check(&self, build: &str, epoch: u64) -> Result<(), String> {
        match self.lock().get(build) {
            Some(highest) if *highest > epoch => Err(stale(build, epoch, *highest)),
            _ => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn stale(build: &str, epoch: u64, highest: u64) -> String {
    format!(
        "build {build} is driven by another controller now (epoch {highest}; this connection's is {epoch})"
    )
}

#[cfg(test)]
mod tests {
    use super::Fences;

    #[test]
    fn a_lower_epoch_is_refused_per_build_and_an_equal_or_higher_one_admitted() {
        let f = Fences::default();
        assert!(f.admit("app#1", 1).is_ok());
        assert!(f.check("app#1", 1).is_ok());
        assert!(f.admit("app#1", 2).is_ok());
        let err = f.check("app#1", 1).unwrap_err();
        assert_eq!(
            err,
            "build app#1 is driven by another controller now (epoch 2; this connection's is 1)"
        );
        assert!(f.admit("app#1", 1).is_err());
        assert!(f.admit("app#1", 2).is_ok());
        // Another build of the same pod (a pooled pod) has epochs of its own.
        assert!(f.admit("app#2", 1).is_ok());
        assert!(f.check("other#9", 0).is_ok());
    }
}
