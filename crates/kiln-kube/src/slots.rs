//! `PodSlots`: `max_concurrent_pods`, enforced. Every pod kiln creates for builds holds a
//! [`PodSlot`] while it exists: build pods, warm pool pods (idle or lent) and Kaniko pods.
//! Builds wait for a slot in the order they asked (tokio's semaphore is fair); warm pools
//! only take a free slot, never wait for one, and an idle warm pod gives its slot up to a
//! build that would otherwise wait (see `PodSource`).
//!
//! Kaniko pods count too, but never wait: their build already holds a slot, and builds that
//! all hold their pods while waiting for Kaniko slots would wait for each other forever. A
//! Kaniko pod that finds no free slot is *forced* over the limit; the next slot a pod
//! returns is then kept back (not given to a waiting build) until a forced pod ends, so the
//! count comes back under the limit as soon as pods end.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

/// Pods in use against the limit (for messages and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotCounts {
    pub in_use: u32,
    pub limit: u32,
}

impl std::fmt::Display for SlotCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of {} pods in use", self.in_use, self.limit)
    }
}

/// Forced slots alive: `unbacked` ones are above the limit, `backed` ones hold a permit
/// that a pod returned while forced slots were alive (the permit was kept back for them).
#[derive(Default)]
struct Forced {
    unbacked: u32,
    backed: u32,
}

/// The pod slots of one controller (`max_concurrent_pods` of them).
pub struct PodSlots {
    limit: u32,
    semaphore: Arc<Semaphore>,
    forced: Mutex<Forced>,
    counts: watch::Sender<SlotCounts>,
}

impl std::fmt::Debug for PodSlots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodSlots")
            .field("counts", &self.counts())
            .finish()
    }
}

/// One pod's place under the limit, given back when dropped.
pub struct PodSlot {
    slots: Arc<PodSlots>,
    permit: Option<OwnedSemaphorePermit>,
}

impl std::fmt::Debug for PodSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodSlot")
            .field("forced", &self.permit.is_none())
            .finish()
    }
}

impl PodSlots {
    pub fn new(limit: u32) -> Arc<PodSlots> {
        let limit = limit.max(1);
        Arc::new(PodSlots {
            limit,
            semaphore: Arc::new(Semaphore::new(limit as usize)),
            forced: Mutex::new(Forced::default()),
            counts: watch::channel(SlotCounts { in_use: 0, limit }).0,
        })
    }

    /// How many slots are held and the limit.
    pub fn counts(&self) -> SlotCounts {
        let held =
            self.limit as usize - self.semaphore.available_permits().min(self.limit as usize);
        let unbacked = self.forced().unbacked;
        SlotCounts {
            in_use: u32::try_from(held).unwrap_or(u32::MAX) + unbacked,
            limit: self.limit,
        }
    }

    /// Follows the counts (pools wake on it; tests wait on it).
    pub fn subscribe(&self) -> watch::Receiver<SlotCounts> {
        self.counts.subscribe()
    }

    /// A free slot, if there is one and no build is waiting for it.
    pub fn try_take(self: &Arc<Self>) -> Option<PodSlot> {
        let permit = self.semaphore.clone().try_acquire_owned().ok()?;
        self.publish();
        Some(PodSlot {
            slots: self.clone(),
            permit: Some(permit),
        })
    }

    /// A slot, waiting (in turn) until one is free. Dropping the future leaves the line.
    pub async fn take(self: &Arc<Self>) -> PodSlot {
        // The semaphore is never closed, so the acquire cannot fail; a closed one would
        // leave the build waiting, which cancellation still ends.
        let permit = match self.semaphore.clone().acquire_owned().await {
            Ok(permit) => Some(permit),
            Err(_) => std::future::pending().await,
        };
        self.publish();
        PodSlot {
            slots: self.clone(),
            permit,
        }
    }

    /// A slot now: a free one, else one above the limit (Kaniko pods, see the module docs).
    pub fn take_or_force(self: &Arc<Self>) -> PodSlot {
        if let Some(slot) = self.try_take() {
            return slot;
        }
        self.forced().unbacked += 1;
        self.publish();
        PodSlot {
            slots: self.clone(),
            permit: None,
        }
    }

    fn forced(&self) -> MutexGuard<'_, Forced> {
        self.forced.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self) {
        self.counts.send_replace(self.counts());
    }
}

impl Drop for PodSlot {
    fn drop(&mut self) {
        {
            let mut forced = self.slots.forced();
            match self.permit.take() {
                // A forced pod is above the limit: it keeps this permit instead.
                Some(permit) if forced.unbacked > 0 => {
                    forced.unbacked -= 1;
                    forced.backed += 1;
                    permit.forget();
                }
                Some(permit) => drop(permit),
                None if forced.unbacked > 0 => forced.unbacked -= 1,
                None => {
                    forced.backed = forced.backed.saturating_sub(1);
                    self.slots.semaphore.add_permits(1);
                }
            }
        }
        self.slots.publish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_use(slots: &PodSlots) -> u32 {
        slots.counts().in_use
    }

    #[tokio::test]
    async fn slots_are_taken_waited_for_and_given_back() {
        let slots = PodSlots::new(2);
        let a = slots.try_take().unwrap();
        let b = slots.take().await;
        assert_eq!(slots.counts().to_string(), "2 of 2 pods in use");
        assert!(slots.try_take().is_none());
        let waiting = tokio::spawn({
            let slots = slots.clone();
            async move { slots.take().await }
        });
        tokio::task::yield_now().await;
        drop(a);
        let c = waiting.await.unwrap();
        assert_eq!(in_use(&slots), 2);
        drop((b, c));
        assert_eq!(in_use(&slots), 0);
    }

    #[tokio::test]
    async fn forced_slots_go_over_the_limit_and_come_back_under_it() {
        let slots = PodSlots::new(1);
        let build = slots.take().await;
        let kaniko = slots.take_or_force();
        assert_eq!(in_use(&slots), 2);
        // The build's slot is kept back for the forced pod: still one in use, none free.
        drop(build);
        assert_eq!(in_use(&slots), 1);
        assert!(slots.try_take().is_none());
        drop(kaniko);
        assert_eq!(in_use(&slots), 0);
        let again = slots.try_take().unwrap();
        assert!(slots.try_take().is_none());
        drop(again);
        // A forced pod that ends first simply leaves.
        let build = slots.take().await;
        let kaniko = slots.take_or_force();
        drop(kaniko);
        assert_eq!(in_use(&slots), 1);
        drop(build);
        assert_eq!(in_use(&slots), 0);
    }
}
