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
    /// Only requests of this method (`None`: any).
    method: Option<String>,
    remaining: u32,
    code: u16,
    /// Whether the request is performed before it fails (its answer lost), and how long the
    /// answer then takes.
    performed: Option<Duration>,
}

/// How an armed request failure plays out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// The status answered.
    pub code: u16,
    /// `Some(wait)`: the request is performed first (the object is created, say), and after
    /// `wait` its answer is replaced by the failure: an API server whose request outlived its
    /// timeout, or a load balancer that gave up waiting.
    pub performed: Option<Duration>,
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
            method: None,
            remaining: count,
            code,
            performed: None,
        });
    }

    /// Makes the next `count` `method` requests whose path contains `path_contains` be
    /// performed, and then, `wait` later, answered with `code` instead of their result (a
    /// create that timed out after it was made: the object exists, the client saw a failure).
    pub fn lose_answers(
        &self,
        method: &str,
        path_contains: &str,
        count: u32,
        code: u16,
        wait: Duration,
    ) {
        lock(&self.rules).push(FailRule {
            path_contains: path_contains.to_owned(),
            method: Some(method.to_ascii_uppercase()),
            remaining: count,
            code,
            performed: Some(wait),
        });
    }

    /// Consumes a failure for this request, if one is armed.
    pub fn take_failure(&self, method: &str, path: &str) -> Option<Failure> {
        let mut rules = lock(&self.rules);
        let rule = rules.iter_mut().find(|r| {
            r.remaining > 0
                && path.contains(&r.path_contains)
                && r.method.as_deref().is_none_or(|m| m == method)
        })?;
        rule.remaining -= 1;
        let failure = Failure {
            code: rule.code,
            performed: rule.performed,
        };
        rules.retain(|r| r.remaining > 0);
        Some(failure)
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
