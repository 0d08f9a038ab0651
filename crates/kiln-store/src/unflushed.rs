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
    /// when it failed). Once no append is in flight, the whole stored log is readable.
    pub(crate) fn end(&self, bk: &[u8], flushed: Option<u64>) {
        let mut map = self.lock();
        if let Some((durable, appends)) = map.get_mut(bk) {
            *appends -= 1;
            if let Some(end) = flushed {
                *durable = (*durable).max(end);
            }
            if *appends == 0 {
                map.remove(bk);
            }
        }
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
        u.end(b"b", Some(25));
        // The second append (to 40) is still in flight.
        assert_eq!(u.readable(b"b", 40), 25);
        assert_eq!(u.readable(b"other", 7), 7);
        u.end(b"b", Some(40));
        assert_eq!(u.readable(b"b", 40), 40);
    }

    #[test]
    fn a_failed_append_leaves_the_durable_length() {
        let u = Unflushed::default();
        u.begin(b"b", || Ok(5)).unwrap();
        u.begin(b"b", || Ok(5)).unwrap();
        u.end(b"b", None);
        assert_eq!(u.readable(b"b", 9), 5);
        u.end(b"b", Some(9));
        assert_eq!(u.readable(b"b", 9), 9);
    }
}
