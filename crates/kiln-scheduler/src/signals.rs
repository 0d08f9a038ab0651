//! What this controller hears from the others through a shared store ([`Signal`]s), handed
//! to whoever waits here: log followers of builds another controller drives, senders of
//! controls waiting for their answer, the claimer and the control answerer. On a store of
//! one controller (sled) nothing is ever signalled, and nothing here is used.

use kiln_store::Signal;
use kiln_types::BuildRef;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{Notify, watch};

#[derive(Default)]
pub(crate) struct Signals {
    /// A counter per followed build, moved on when its log grew.
    logs: Mutex<HashMap<BuildRef, watch::Sender<u64>>>,
    /// The senders of controls waiting for their answer, by control id.
    answers: Mutex<HashMap<u64, Arc<Notify>>>,
    /// Wakes the claimer (a build was queued).
    pub new_build: Arc<Notify>,
    /// Wakes the control answerer (a control was sent to this controller).
    pub control: Arc<Notify>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Signals {
    /// Hands `signal` on; `me` is this controller's id.
    pub(crate) fn deliver(&self, me: &str, signal: &Signal) {
        match signal {
            Signal::NewBuild(_) => self.new_build.notify_one(),
            Signal::LogGrew(build) => {
                let mut logs = lock(&self.logs);
                if let Some(tx) = logs.get(build) {
                    if tx.receiver_count() == 0 {
                        logs.remove(build);
                    } else {
                        tx.send_modify(|n| *n = n.wrapping_add(1));
                    }
                }
            }
            Signal::Control { owner } => {
                if owner == me {
                    self.control.notify_one();
                }
            }
            Signal::ControlAnswered(id) => {
                if let Some(waiter) = lock(&self.answers).get(id) {
                    waiter.notify_one();
                }
            }
        }
    }

    /// A receiver that changes whenever `build`'s log grows on any controller.
    pub(crate) fn follow_log(&self, build: &BuildRef) -> watch::Receiver<u64> {
        let mut logs = lock(&self.logs);
        logs.retain(|_, tx| tx.receiver_count() > 0);
        logs.entry(build.clone())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Woken when control `id` is answered, until [`Signals::forget_answer`].
    pub(crate) fn await_answer(&self, id: u64) -> Arc<Notify> {
        lock(&self.answers)
            .entry(id)
            .or_insert_with(|| Arc::new(Notify::new()))
            .clone()
    }

    pub(crate) fn forget_answer(&self, id: u64) {
        lock(&self.answers).remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_types::JobName;

    fn build(n: u64) -> BuildRef {
        BuildRef {
            job: JobName::new("app").unwrap(),
            number: n,
        }
    }

    #[test]
    fn a_log_signal_reaches_that_builds_followers_only() {
        let signals = Signals::default();
        let mut one = signals.follow_log(&build(1));
        let mut two = signals.follow_log(&build(2));
        signals.deliver("me", &Signal::LogGrew(build(1)));
        assert!(one.has_changed().unwrap());
        assert!(!two.has_changed().unwrap());
        one.borrow_and_update();
        two.borrow_and_update();
        drop(one);
        // Nobody follows build 1 now: its entry goes.
        signals.deliver("me", &Signal::LogGrew(build(1)));
        assert_eq!(lock(&signals.logs).len(), 1);
    }

    #[test]
    fn controls_wake_only_their_owner_and_answers_their_sender() {
        let signals = Signals::default();
        let waiter = signals.await_answer(7);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        signals.deliver("me", &Signal::ControlAnswered(7));
        // A stored permit: the waiter wakes at once.
        runtime.block_on(waiter.notified());
        signals.deliver(
            "me",
            &Signal::Control {
                owner: "other".into(),
            },
        );
        signals.deliver("me", &Signal::Control { owner: "me".into() });
        runtime.block_on(signals.control.notified());
        signals.forget_answer(7);
        assert!(lock(&signals.answers).is_empty());
    }
}
