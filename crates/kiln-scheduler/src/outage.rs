//! A store that stopped writing (a full disk), as a build's recorder sees it: the recorder keeps
//! its lines, tries again with a growing delay instead of at every batch, says so once in the
//! server's log, and keeps at most [`MAX_PENDING`] bytes; past that, lines are counted as lost
//! and the build fails saying how much of its log was lost and why.

use kiln_store::StoreError;
use std::time::Duration;
use tokio::time::Instant;

/// The most log bytes a build keeps while the store cannot write.
pub(crate) const MAX_PENDING: usize = 8 * 1024 * 1024;
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(2);

/// Whether the store is failing for this build, and what was lost meanwhile.
#[derive(Debug, Default)]
pub(crate) struct Outage {
    failing: Option<Failing>,
    /// Log bytes dropped over the whole build, and the store's error then.
    lost: Option<(u64, String)>,
}

#[derive(Debug)]
struct Failing {
    retry_at: Instant,
    delay: Duration,
    error: String,
}

impl Outage {
    /// Whether a write may be tried now.
    pub(crate) fn due(&self) -> bool {
        self.failing
            .as_ref()
            .is_none_or(|f| Instant::now() >= f.retry_at)
    }

    /// When the next write may be tried, while failing.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        self.failing.as_ref().map(|f| f.retry_at)
    }

    /// A write failed: the first failure of a run is logged, later ones wait longer.
    pub(crate) fn failed(&mut self, build: &str, err: &StoreError) {
        let error = chain(err);
        match &mut self.failing {
            Some(f) => {
                f.delay = (f.delay * 2).min(LAST_RETRY);
                f.retry_at = Instant::now() + f.delay;
                f.error = error;
            }
            None => {
                tracing::error!(build, error = %error, "the store cannot write; keeping this build's log lines and trying again");
                self.failing = Some(Failing {
                    retry_at: Instant::now() + FIRST_RETRY,
                    delay: FIRST_RETRY,
                    error,
                });
            }
        }
    }

    /// A write succeeded.
    pub(crate) fn succeeded(&mut self, build: &str) {
        if self.failing.take().is_some() {
            tracing::info!(build, "the store writes again");
        }
    }

    /// Whether the store writes (no failure is being waited out): then every line is admitted.
    pub(crate) fn writing(&self) -> bool {
        self.failing.is_none()
    }

    /// Whether a line of `len` bytes may join `pending` bytes not yet written; when the store
    /// fails and the bound is reached, the line is counted as lost instead.
    pub(crate) fn admit(&mut self, pending: usize, len: usize) -> bool {
        let Some(f) = &self.failing else {
            return true;
        };
        if pending + len <= MAX_PENDING {
            return true;
        }
        let lost = self.lost.get_or_insert_with(|| (0, String::new()));
        lost.0 += len as u64;
        lost.1.clone_from(&f.error);
        false
    }

    /// What the build must say at its end when lines were lost.
    pub(crate) fn lost(&self) -> Option<String> {
        self.lost.as_ref().map(|(bytes, error)| {
            format!(
                "{bytes} bytes of this build's log were lost: the store could not write ({error})"
            )
        })
    }
}

fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delay(o: &Outage) -> Option<Duration> {
        o.failing.as_ref().map(|f| f.delay)
    }

    #[test]
    fn failing_writes_back_off_bound_the_pending_lines_and_count_the_lost() {
        let mut o = Outage::default();
        assert!(o.due() && o.admit(MAX_PENDING, 10));
        let err = StoreError::Reopening;
        o.failed("app#1", &err);
        assert_eq!(delay(&o), Some(FIRST_RETRY));
        for _ in 0..10 {
            o.failed("app#1", &err);
        }
        assert_eq!(delay(&o), Some(LAST_RETRY));
        assert!(o.admit(MAX_PENDING - 10, 10));
        assert!(!o.admit(MAX_PENDING - 10, 11));
        o.succeeded("app#1");
        assert!(o.due() && o.admit(MAX_PENDING, 10) && delay(&o).is_none());
        let lost = o.lost().unwrap();
        assert!(
            lost.starts_with("11 bytes of this build's log were lost: the store could not write (the store is not open"),
            "{lost}"
        );
    }
}
