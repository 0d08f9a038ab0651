//! Whether a controller is connected, and since when none has been: an agent whose controller
//! has been gone past a grace period (kiln was killed, its build is over and nobody deleted the
//! pod) exits, so that an orphaned pod stops running its build's processes and ends.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Connected controllers, and when the last one left (or the agent started).
#[derive(Debug)]
pub struct Presence {
    state: Mutex<(usize, Instant)>,
}

impl Default for Presence {
    fn default() -> Self {
        Presence {
            state: Mutex::new((0, Instant::now())),
        }
    }
}

/// Counts one connected controller until dropped.
pub struct Connected<'a>(&'a Presence);

impl Drop for Connected<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.0 = state.0.saturating_sub(1);
        state.1 = Instant::now();
    }
}

impl Presence {
    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, Instant)> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A controller connected (and passed the handshake).
    pub fn connected(&self) -> Connected<'_> {
        self.lock().0 += 1;
        Connected(self)
    }

    /// How long no controller has been connected; `None` while one is.
    fn alone_for(&self) -> Option<Duration> {
        let state = self.lock();
        (state.0 == 0).then(|| state.1.elapsed())
    }

    /// Returns once no controller has been connected for `grace`.
    pub async fn gone_for(&self, grace: Duration) {
        loop {
            let wait = match self.alone_for() {
                Some(alone) if alone >= grace => return,
                Some(alone) => grace - alone,
                None => grace,
            };
            tokio::time::sleep(wait.max(Duration::from_millis(100))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn gone_counts_from_the_last_controller_leaving() {
        let presence = Presence::default();
        let begun = Instant::now();
        {
            let _one = presence.connected();
            tokio::time::sleep(Duration::from_secs(30)).await;
            let waited = tokio::time::timeout(
                Duration::from_secs(60),
                presence.gone_for(Duration::from_secs(10)),
            )
            .await;
            assert!(waited.is_err(), "not gone while connected");
        }
        let left = Instant::now();
        presence.gone_for(Duration::from_secs(10)).await;
        assert!(left.elapsed() >= Duration::from_secs(10));
        assert!(left.elapsed() < Duration::from_secs(11));
        assert!(begun.elapsed() >= Duration::from_secs(100));
    }

    #[tokio::test(start_paused = true)]
    async fn an_agent_nobody_connects_to_is_gone_after_the_grace() {
        let presence = Presence::default();
        let begun = Instant::now();
        presence.gone_for(Duration::from_secs(5)).await;
        assert_eq!(begun.elapsed().as_secs(), 5);
    }
}
