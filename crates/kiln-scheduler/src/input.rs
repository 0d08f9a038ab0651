//! `input` steps on the server: the build shows as waiting with its pending input until
//! someone answers through the API (or the build is cancelled). Answers are recorded on the
//! build; a build resumed after a controller restart gets them again, in order, without
//! waiting.

use crate::recorder::Control;
use async_trait::async_trait;
use kiln_engine::{InputAnswer, InputHandler, InputKind, InputRequest};
use kiln_store::{InputAnswerRecord, InputParameterKind, InputParameterRecord, InputRecord};
use std::collections::{BTreeMap, VecDeque};
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
    /// An approval gave `name` a value its kind does not take (a choice not offered, a
    /// boolean other than `true` or `false`).
    BadValue {
        name: String,
        why: String,
    },
}

/// Every value names a parameter of the input and fits its kind.
fn check_values(record: &InputRecord, values: &BTreeMap<String, String>) -> Result<(), Refused> {
    for (name, value) in values {
        let Some(p) = record.parameters.iter().find(|p| p.name == *name) else {
            return Err(Refused::UnknownParameter {
                name: name.clone(),
                known: record.parameters.iter().map(|p| p.name.clone()).collect(),
            });
        };
        let why = match p.kind {
            InputParameterKind::Boolean if value != "true" && value != "false" => {
                format!("`{value}` is not `true` or `false`")
            }
            InputParameterKind::Choice if !p.choices.contains(value) => {
                format!("`{value}` is not one of {}", p.choices.join(", "))
            }
            _ => continue,
        };
        return Err(Refused::BadValue {
            name: name.clone(),
            why,
        });
    }
    Ok(())
}

/// How a pending input is recorded on the build: a password's default is left out (the
/// engine keeps it; the record is shown to whoever reads the build).
fn record_of_request(req: &InputRequest) -> InputRecord {
    let parameters = req
        .parameters
        .iter()
        .map(|p| {
            let kind = match p.kind {
                InputKind::String => InputParameterKind::String,
                InputKind::Text => InputParameterKind::Text,
                InputKind::Boolean => InputParameterKind::Boolean,
                InputKind::Choice => InputParameterKind::Choice,
                InputKind::Password => InputParameterKind::Password,
            };
            let default = if kind == InputParameterKind::Password {
                String::new()
            } else {
                p.default.clone()
            };
            InputParameterRecord {
                name: p.name.clone(),
                kind,
                default,
                choices: p.choices.clone(),
                description: p.description.clone(),
            }
        })
        .collect();
    InputRecord {
        id: req.id.clone(),
        message: req.message.clone(),
        ok: req.ok.clone(),
        parameters,
        submitter: req.submitter.clone(),
        submitter_parameter: req.submitter_parameter.clone(),
    }
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
            check_values(record, values)?;
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
        let record = record_of_request(&req);
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
