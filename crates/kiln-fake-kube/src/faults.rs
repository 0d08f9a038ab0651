//! Fault injection state: failing API requests, failing image pulls, and signals to watches.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

use crate::config::normalize_image;

/// What to do to every open watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchFault {
    /// Nothing (the initial value).
    None,
    /// Close the stream without an event, as a dropped connection.
    Drop,
    /// Send an `ERROR` event with a `410 Expired` Status, then close.
    Expire,
}

/// Why an injected pull fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullFault {
    /// The image does not exist (every pull fails).
    Missing,
    /// The registry answers 429 Too Many Requests (for a number of pulls).
    RateLimited,
}

#[derive(Debug, Clone)]
struct FailRule {
    path_contains: String,
    remaining: u32,
    code: u16,
}

/// Shared fault injection switches.
pub struct Faults {
    rules: Mutex<Vec<FailRule>>,
    delays: Mutex<Vec<(String, Duration)>>,
    /// Failing images, with how many more pulls fail (`None`: every pull).
    images: Mutex<HashMap<String, Option<u32>>>,
    watch_tx: watch::Sender<(u64, WatchFault)>,
}

impl Default for Faults {
    fn default() -> Self {
        let (watch_tx, _) = watch::channel((0, WatchFault::None));
        Self {
            rules: Mutex::new(Vec::new()),
            delays: Mutex::new(Vec::new()),
            images: Mutex::new(HashMap::new()),
            watch_tx,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Faults {
    /// Makes the next `count` requests whose path contains `path_contains` fail with `code`.
    pub fn fail_requests(&self, path_contains: &str, count: u32, code: u16) {
        lock(&self.rules).push(FailRule {
            path_contains: path_contains.to_owned(),
            remaining: count,
            code,
        });
    }

    /// Consumes a failure for this path, if one is armed.
    pub fn take_failure(&self, path: &str) -> Option<u16> {
        let mut rules = lock(&self.rules);
        let rule = rules
            .iter_mut()
            .find(|r| r.remaining > 0 && path.contains(&r.path_contains))?;
        rule.remaining -= 1;
        let code = rule.code;
        rules.retain(|r| r.remaining > 0);
        Some(code)
    }

    /// Makes every request whose path contains `path_contains` wait `delay` before it is
    /// served (a slow or overloaded API server), until [`Faults::clear_delays`].
    pub fn delay_requests(&self, path_contains: &str, delay: Duration) {
        lock(&self.delays).push((path_contains.to_owned(), delay));
    }

    /// Undoes every [`Faults::delay_requests`].
    pub fn clear_delays(&self) {
        lock(&self.delays).clear();
    }

    /// How long a request for `path` waits before it is served.
    pub fn delay_for(&self, path: &str) -> Option<Duration> {
        lock(&self.delays)
            .iter()
            .filter(|(part, _)| path.contains(part.as_str()))
            .map(|(_, delay)| *delay)
            .max()
    }

    /// Makes every pull of `image` fail until [`Faults::allow_image`].
    pub fn fail_image(&self, image: &str) {
        lock(&self.images).insert(normalize_image(image), None);
    }

    /// Makes the next `pulls` pulls of `image` fail; later pulls succeed (a registry that
    /// answers 429 for a while).
    pub fn fail_image_times(&self, image: &str, pulls: u32) {
        lock(&self.images).insert(normalize_image(image), Some(pulls));
    }

    /// Undoes [`Faults::fail_image`].
    pub fn allow_image(&self, image: &str) {
        lock(&self.images).remove(&normalize_image(image));
    }

    /// Whether this pull of `image` fails, and how; counts the pull against a limited
    /// failure (a registry answering 429 for a while).
    pub fn take_image_failure(&self, image: &str) -> Option<PullFault> {
        let key = normalize_image(image);
        let mut images = lock(&self.images);
        match images.get_mut(&key) {
            None => None,
            Some(None) => Some(PullFault::Missing),
            Some(Some(0)) => {
                images.remove(&key);
                None
            }
            Some(Some(left)) => {
                *left -= 1;
                Some(PullFault::RateLimited)
            }
        }
    }

    /// Signals every open watch.
    pub fn signal_watches(&self, fault: WatchFault) {
        self.watch_tx.send_modify(|(generation, f)| {
            *generation += 1;
            *f = fault;
        });
    }

    /// A receiver that changes whenever watches are signalled.
    pub fn watch_signals(&self) -> watch::Receiver<(u64, WatchFault)> {
        self.watch_tx.subscribe()
    }
}
