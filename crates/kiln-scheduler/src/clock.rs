//! Wall-clock time, injectable so cron triggers, quiet periods and retention can be tested.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// A boxed future that resolves once a deadline passed (possibly early: callers re-check).
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The scheduler's source of wall-clock time (milliseconds since the Unix epoch).
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> u64;
    /// Resolves when `now_ms() >= deadline_ms`, or earlier; the caller checks again.
    fn sleep_until(&self, deadline_ms: u64) -> Sleep;
}

/// The system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    fn sleep_until(&self, deadline_ms: u64) -> Sleep {
        let wait = deadline_ms.saturating_sub(self.now_ms());
        // Wake at least once a minute so a changed system clock is noticed.
        let wait = Duration::from_millis(wait.min(60_000));
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that only moves when told to: for tests of cron triggers and retention.
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicU64,
    changed: watch::Sender<u64>,
}

impl ManualClock {
    pub fn new(start_ms: u64) -> Self {
        ManualClock {
            now: AtomicU64::new(start_ms),
            changed: watch::channel(start_ms).0,
        }
    }

    /// Sets the time (it may go backwards, as a system clock may) and wakes sleepers.
    pub fn set_ms(&self, now_ms: u64) {
        self.now.store(now_ms, Ordering::SeqCst);
        self.changed.send_replace(now_ms);
    }

    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.set_ms(self.now_ms().saturating_add(by));
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }

    fn sleep_until(&self, deadline_ms: u64) -> Sleep {
        let mut rx = self.changed.subscribe();
        Box::pin(async move {
            // An error means the clock was dropped: then time stands still for ever.
            if rx.wait_for(|now| *now >= deadline_ms).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}
