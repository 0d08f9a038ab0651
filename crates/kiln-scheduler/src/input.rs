//! `input` steps on the server: the build shows as waiting with its pending input until
//! someone answers through the API (or the build is cancelled).

use crate::recorder::Control;
use async_trait::async_trait;
use kiln_engine::{InputAnswer, InputHandler, InputRequest};
use kiln_store::InputRecord;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

type Waiter = (InputRecord, oneshot::Sender<InputAnswer>);

/// The inputs a build waits for, oldest first (parallel branches may wait at once).
#[derive(Clone, Default)]
pub(crate) struct PendingInputs {
    waiters: Arc<Mutex<VecDeque<Waiter>>>,
}

impl PendingInputs {
    /// Hands `answer` to the oldest waiting input; gives it back when none waits.
    pub(crate) fn answer(&self, answer: InputAnswer) -> Result<(), InputAnswer> {
        let waiter = self.lock().pop_front();
        match waiter {
            Some((_, tx)) => tx.send(answer),
            None => Err(answer),
        }
    }

    fn first(&self) -> Option<InputRecord> {
        self.lock().front().map(|(r, _)| r.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Waiter>> {
        // A poisoned lock only means a thread panicked while holding it; the queue is
        // still consistent (every operation on it is a single push or pop).
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The engine's [`InputHandler`] for one server build.
pub(crate) struct ServerInput {
    pub pending: PendingInputs,
    pub changes: mpsc::UnboundedSender<Control>,
}

#[async_trait]
impl InputHandler for ServerInput {
    async fn request(&self, req: InputRequest) -> InputAnswer {
        let (tx, rx) = oneshot::channel();
        let record = InputRecord {
            id: req.id.clone(),
            message: req.message.clone(),
            ok: req.ok.clone(),
            parameters: req.parameters.clone(),
        };
        self.pending.lock().push_back((record, tx));
        let _ = self.changes.send(Control::Pending(self.pending.first()));
        // Cancellation drops this future: the guard takes the input off the build then.
        let _guard = Withdraw {
            pending: self.pending.clone(),
            changes: self.changes.clone(),
            id: req.id,
        };
        rx.await.unwrap_or(InputAnswer::Abort {
            by: "kiln (the build ended)".to_owned(),
        })
    }
}

/// Removes an input that is no longer waited for and publishes the next one.
struct Withdraw {
    pending: PendingInputs,
    changes: mpsc::UnboundedSender<Control>,
    id: String,
}

impl Drop for Withdraw {
    fn drop(&mut self) {
        {
            let mut q = self.pending.lock();
            if let Some(i) = q.iter().position(|(r, _)| r.id == self.id) {
                q.remove(i);
            }
        }
        let _ = self.changes.send(Control::Pending(self.pending.first()));
    }
}
