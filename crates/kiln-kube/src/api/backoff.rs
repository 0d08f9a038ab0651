//! Jittered exponential back-off and a per-watch request budget, shared by the retries of API
//! calls and the pod watches. Jitter spreads the retries of many builds that failed at the
//! same moment (an API server restart), so they do not come back in one burst.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;
use tokio::time::Instant;

/// A random fraction in `[0, 1)`: the standard library's randomly seeded hasher over a
/// counter and the clock (jitter needs spread, not secrecy).
fn random_fraction() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    (hasher.finish() >> 11) as f64 / (1_u64 << 53) as f64
}

/// Exponential back-off with "equal jitter": each pause is between half and all of the
/// current step, and the step doubles up to `max`.
#[derive(Clone, Debug)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    step: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Backoff {
        let first = first.max(Duration::from_millis(1));
        Backoff {
            first,
            max: max.max(first),
            step: first,
        }
    }

    /// The next pause (and doubles the step for the one after).
    pub fn next_pause(&mut self) -> Duration {
        let half = self.step / 2;
        let pause = half + half.mul_f64(random_fraction());
        self.step = (self.step * 2).min(self.max);
        pause
    }

    /// Back to the first step (after a success).
    pub fn reset(&mut self) {
        self.step = self.first;
    }
}

/// A token bucket bounding the requests one watch makes: `burst` at once, then one per
/// `refill`. A watch that keeps failing (410 after 410, a server answering errors) slows to
/// the refill rate whatever its back-off says.
#[derive(Clone, Debug)]
pub struct RequestBudget {
    burst: u32,
    refill: Duration,
    tokens: u32,
    last: Instant,
}

impl RequestBudget {
    pub fn new(burst: u32, refill: Duration) -> RequestBudget {
        RequestBudget {
            burst: burst.max(1),
            refill: refill.max(Duration::from_millis(1)),
            tokens: burst.max(1),
            last: Instant::now(),
        }
    }

    fn top_up(&mut self) {
        let elapsed = self.last.elapsed();
        let earned = (elapsed.as_nanos() / self.refill.as_nanos()) as u32;
        if earned > 0 {
            self.tokens = self.tokens.saturating_add(earned).min(self.burst);
            self.last += self.refill * earned;
        }
        if self.tokens == self.burst {
            self.last = Instant::now();
        }
    }

    /// Waits until a request may be made, and takes its token.
    pub async fn take(&mut self) {
        self.top_up();
        if self.tokens == 0 {
            tokio::time::sleep_until(self.last + self.refill).await;
            self.top_up();
        }
        self.tokens = self.tokens.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_with_jitter_up_to_the_maximum() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        let steps = [100, 200, 400, 400, 400];
        for step in steps {
            let pause = backoff.next_pause();
            let step = Duration::from_millis(step);
            assert!(pause >= step / 2 && pause <= step, "{pause:?} for {step:?}");
        }
        backoff.reset();
        assert!(backoff.next_pause() <= Duration::from_millis(100));
    }

    #[test]
    fn jitter_spreads_pauses() {
        let pauses: std::collections::BTreeSet<Duration> = (0..20)
            .map(|_| Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).next_pause())
            .collect();
        assert!(pauses.len() > 10, "{pauses:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_allows_a_burst_then_the_refill_rate() {
        let mut budget = RequestBudget::new(3, Duration::from_secs(2));
        let begun = Instant::now();
        for _ in 0..3 {
            budget.take().await;
        }
        assert_eq!(begun.elapsed(), Duration::ZERO);
        budget.take().await;
        budget.take().await;
        assert_eq!(begun.elapsed(), Duration::from_secs(4));
    }
}
