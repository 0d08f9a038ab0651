//! `input` steps on the server: the build shows as waiting with its pending input until
//! someone answers through the API (or the build is cancelled). Answers are recorded on the
//! build; a build resumed after a controller restart gets them again, in order, without
//! waiting.

use crate::recorder::Control;
use async_trait::async_trait;
use kiln_engine::{InputAnswer, InputHandler, InputRequest};
use kiln_store::{InputAnswerRecord, InputRecord};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

type Waiter = (InputRecord, oneshot::Sender<InputAnswer>);

/// Why an answer was not handed to an input.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    NoneWaiting,
    /// An approval gave a value for `name`, which the input does not ask for.
    UnknownParameter {
        name: String,
        known: Vec<String>,
    },
}

/// The inputs a build waits for, oldest first (parallel branches may wait at once).
#[derive(Clone, Default)]
pub(crate) struct PendingInputs {
    waiters: Arc<Mutex<VecDeque<Waiter>>>,
}

impl PendingInputs {
    /// Hands `answer` to the oldest waiting input. An approval naming a parameter the input
    /// does not ask for is refused (the input keeps waiting), as is an answer when none waits.
    pub(crate) fn answer(&self, answer: InputAnswer) -> Result<(), Refused> {
        let mut waiters = self.lock();
        let Some((record, _)) = waiters.front() else {
            return Err(Refused::NoneWaiting);
        };
        if let InputAnswer::Proceed { values, .. } = &answer {
            let known: Vec<String> = record.parameters.iter().map(|(n, _)| n.clone()).collect();
            if let Some(name) = values.keys().find(|k| !known.contains(k)) {
                return Err(Refused::UnknownParameter {
                    name: name.clone(),
                    known,
                });
            }
        }
        match waiters.pop_front() {
            Some((_, tx)) => tx.send(answer).map_err(|_| Refused::NoneWaiting),
            None => Err(Refused::NoneWaiting),
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
    /// Answers given before a controller restart, not yet given again.
    pub answered: Mutex<VecDeque<InputAnswerRecord>>,
}

impl ServerInput {
    /// The answer given to input `id` before the restart, if it is the next one recorded.
    fn replayed(&self, id: &str) -> Option<InputAnswer> {
        let mut answered = self.answered.lock().unwrap_or_else(|p| p.into_inner());
        if answered.front().is_none_or(|a| a.id != id) {
            return None;
        }
        let a = answered.pop_front()?;
        Some(if a.proceed {
            InputAnswer::Proceed {
                values: a.values,
                by: a.by,
            }
        } else {
            InputAnswer::Abort { by: a.by }
        })
    }
}

/// How an answer is recorded on the build.
fn record_of(id: String, answer: &InputAnswer) -> InputAnswerRecord {
    match answer {
        InputAnswer::Proceed { values, by } => InputAnswerRecord {
            id,
            proceed: true,
            by: by.clone(),
            values: values.clone(),
        },
        InputAnswer::Abort { by } => InputAnswerRecord {
            id,
            proceed: false,
            by: by.clone(),
            values: Default::default(),
        },
    }
}

#[async_trait]
impl InputHandler for ServerInput {
    async fn request(&self, req: InputRequest) -> InputAnswer {
        if let Some(answer) = self.replayed(&req.id) {
            return answer;
        }
        let (tx, rx) = oneshot::channel();
        let record = InputRecord {
            id: req.id.clone(),
            message: req.message.clone(),
            ok: req.ok.clone(),
            parameters: req.parameters.clone(),
            submitter: req.submitter.clone(),
        };
        self.pending.lock().push_back((record, tx));
        let _ = self.changes.send(Control::Pending(self.pending.first()));
        // Cancellation drops this future: the guard takes the input off the build then.
        let _guard = Withdraw {
            pending: self.pending.clone(),
            changes: self.changes.clone(),
            id: req.id.clone(),
        };
        match rx.await {
            Ok(answer) => {
                let _ = self
                    .changes
                    .send(Control::Answered(record_of(req.id, &answer)));
                answer
            }
            Err(_) => InputAnswer::Abort {
                by: "kiln (the build ended)".to_owned(),
            },
        }
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
