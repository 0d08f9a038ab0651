//! Logs with an append committed but not yet flushed. sled shows a committed transaction to
//! readers at once, before the flush that makes it survive `kill -9`; a log read stops where
//! the log is durable, so nothing a reader was shown (a follower, `kiln logs`) can be lost.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::StoreError;

/// Per build key: how far its log is durable, and how many appends are in flight.
#[derive(Default)]
pub(crate) struct Unflushed(Mutex<HashMap<Vec<u8>, (u64, u32)>>);

impl Unflushed {
    fn lock(&self) -> MutexGuard<'_, HashMap<Vec<u8>, (u64, u32)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An append to `bk`'s log starts. With none in flight the stored length is durable
    /// (every append returns after its flush): `stored` reads it.
    pub(crate) fn begin(
        &self,
        bk: &[u8],
        stored: impl FnOnce() -> Result<u64, StoreError>,
    ) -> Result<(), StoreError> {
        let mut map = self.lock();
        if let Some((_, appends)) = map.get_mut(bk) {
            *appends += 1;
        } else {
            let durable = stored()?;
            map.insert(bk.to_vec(), (durable, 1));
        }
        Ok(())
    }

    /// An append to `bk`'s log ended: `flushed` is where the log is durable after it (none
    /// when it failed). Once no append is in flight and the log is durable as far as it is
    /// stored (`stored` reads that), the whole stored log is readable. A failed flush leaves
    /// committed bytes that are not durable: the mark stays until a later append's flush
    /// covers them, so readers are never shown bytes a restart could take back.
    pub(crate) fn end(
        &self,
        bk: &[u8],
        flushed: Option<u64>,
        stored: impl FnOnce() -> Result<u64, StoreError>,
    ) {
        let mut map = self.lock();
        let Some((durable, appends)) = map.get_mut(bk) else {
            return;
        };
        *appends -= 1;
        if let Some(end) = flushed {
            *durable = (*durable).max(end);
        }
        if *appends == 0 && stored().is_ok_and(|len| len <= *durable) {
            map.remove(bk);
        }
    }

    /// Every log with a mark: its build key and how far it is durable.
    pub(crate) fn marks(&self) -> Vec<(Vec<u8>, u64)> {
        self.lock()
            .iter()
            .map(|(bk, (durable, _))| (bk.clone(), *durable))
            .collect()
    }

    /// Drops every mark: the logs were cut back to their durable length.
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    /// The part of a log of length `stored` (read before calling this) that readers may see.
    pub(crate) fn readable(&self, bk: &[u8], stored: u64) -> u64 {
        match self.lock().get(bk) {
            Some((durable, _)) => stored.min(*durable),
            None => stored,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Unflushed;

    #[test]
    fn readers_see_a_log_as_far_as_its_appends_were_flushed() {
        let u = Unflushed::default();
        assert_eq!(u.readable(b"b", 10), 10);
        u.begin(b"b", || Ok(10)).unwrap();
        // Committed to 25, not flushed yet: readers see 10.
        assert_eq!(u.readable(b"b", 25), 10);
        u.begin(b"b", || panic!("the durable length is known"))
            .unwrap();
        u.end(b"b", Some(25), || Ok(40));
        // The second append (to 40) is still in flight.
        assert_eq!(u.readable(b"b", 40), 25);
        assert_eq!(u.readable(b"other", 7), 7);
        u.end(b"b", Some(40), || Ok(40));
        assert_eq!(u.readable(b"b", 40), 40);
    }

    #[test]
    fn a_failed_append_leaves_the_durable_length() {
        let u = Unflushed::default();
        u.begin(b"b", || Ok(5)).unwrap();
        u.begin(b"b", || Ok(5)).unwrap();
        u.end(b"b", None, || Ok(9));
        assert_eq!(u.readable(b"b", 9), 5);
        u.end(b"b", Some(9), || Ok(9));
        assert_eq!(u.readable(b"b", 9), 9);
    }

    /// Regression: after the only append in flight failed to flush (a full disk), the mark
    /// was dropped and readers were shown committed bytes that a restart took back.
    #[test]
    fn a_failed_flush_keeps_the_mark_until_a_later_flush_covers_it() {
        let u = Unflushed::default();
        u.begin(b"b", || Ok(5)).unwrap();
        u.end(b"b", None, || Ok(9));
        assert_eq!(u.readable(b"b", 9), 5);
        // Still hidden when the stored length cannot be read.
        u.begin(b"b", || panic!("the durable length is known"))
            .unwrap();
        u.end(b"b", None, || {
            Err(crate::StoreError::NoSuchBuild("b".into()))
        });
        assert_eq!(u.readable(b"b", 12), 5);
        u.begin(b"b", || panic!("the durable length is known"))
            .unwrap();
        u.end(b"b", Some(12), || Ok(12));
        assert_eq!(u.readable(b"b", 12), 12);
    }
}
