//! Cancels and input answers for a build another controller drives (a shared store): the
//! request is sent to the build's owner through the store (a control row and a signal, see
//! kiln-store's `Coordination::send_control`), the owner's answerer hands it to its actor as
//! if asked there, and writes the outcome back; the sender waits for it and gives the user
//! that outcome, or after [`ANSWER_WITHIN`] a clear error saying the request stays pending.
//! A control sent to an owner that died is found by the controller taking the build over
//! (pending controls are looked up by the build's current owner).

use crate::actor::{answer_stored, cancel_stored};
use crate::command::Command;
use crate::error::ControlError;
use crate::shared::Shared;
use kiln_engine::InputAnswer;
use kiln_store::{Coordination, SentControl, Store, StoreError};
use kiln_types::BuildRef;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// How long a sender waits for the owner's answer.
pub(crate) const ANSWER_WITHIN: Duration = Duration::from_secs(45);
/// How often a sender looks for the answer itself (signals may be dropped).
const SENDER_LOOKS: Duration = Duration::from_secs(1);
/// How often the answerer looks for controls itself: soon while one waits for its build to
/// start here (claimed or taken over, not started yet), else now and then.
const RETRY: Duration = Duration::from_secs(1);
const SAFETY_NET: Duration = Duration::from_secs(10);

/// What is asked of the owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ask", rename_all = "snake_case")]
pub(crate) enum Ask {
    Cancel {
        reason: String,
    },
    Input {
        proceed: bool,
        by: String,
        #[serde(default)]
        values: BTreeMap<String, String>,
    },
}

impl Ask {
    pub(crate) fn input(answer: &InputAnswer) -> Ask {
        match answer {
            InputAnswer::Proceed { values, by } => Ask::Input {
                proceed: true,
                by: by.clone(),
                values: values.clone(),
            },
            InputAnswer::Abort { by } => Ask::Input {
                proceed: false,
                by: by.clone(),
                values: BTreeMap::new(),
            },
        }
    }

    /// The actor's command for it, relayed (never sent on again).
    fn command(self, id: BuildRef, reply: oneshot::Sender<Result<(), ControlError>>) -> Command {
        match self {
            Ask::Cancel { reason } => Command::Cancel {
                id,
                reason,
                reply,
                relayed: true,
            },
            Ask::Input {
                proceed,
                by,
                values,
            } => Command::Answer {
                id,
                answer: if proceed {
                    InputAnswer::Proceed { values, by }
                } else {
                    InputAnswer::Abort { by }
                },
                reply,
                relayed: true,
            },
        }
    }
}

/// What the owner answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
enum Outcome {
    Done,
    NotFound,
    Finished,
    NoPendingInput,
    UnknownInputParameter { name: String, known: String },
    BadInputValue { name: String, why: String },
    Failed { message: String },
}

impl Outcome {
    fn of(result: Result<(), ControlError>) -> Outcome {
        match result {
            Ok(()) => Outcome::Done,
            Err(ControlError::NotFound(_)) => Outcome::NotFound,
            Err(ControlError::Finished(_)) => Outcome::Finished,
            Err(ControlError::NoPendingInput(_)) => Outcome::NoPendingInput,
            Err(ControlError::UnknownInputParameter { name, known, .. }) => {
                Outcome::UnknownInputParameter { name, known }
            }
            Err(ControlError::BadInputValue { name, why, .. }) => {
                Outcome::BadInputValue { name, why }
            }
            Err(other) => Outcome::Failed {
                message: one_line(&other),
            },
        }
    }

    fn result(self, build: &BuildRef) -> Result<(), ControlError> {
        let build = build.to_string();
        match self {
            Outcome::Done => Ok(()),
            Outcome::NotFound => Err(ControlError::NotFound(build)),
            Outcome::Finished => Err(ControlError::Finished(build)),
            Outcome::NoPendingInput => Err(ControlError::NoPendingInput(build)),
            Outcome::UnknownInputParameter { name, known } => {
                Err(ControlError::UnknownInputParameter { build, name, known })
            }
            Outcome::BadInputValue { name, why } => {
                Err(ControlError::BadInputValue { build, name, why })
            }
            Outcome::Failed { message } => Err(ControlError::Owner { build, message }),
        }
    }
}

/// An error with its sources, as one line.
fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn coordination(store: &dyn Store) -> Result<&dyn Coordination, StoreError> {
    store.coordination().ok_or_else(|| {
        StoreError::Backend("this store is not shared by several controllers".into())
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ControlError> + Send + 'static,
) -> Result<T, ControlError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(ControlError::Store(StoreError::Backend(Box::new(e)))),
    }
}

/// Sends `ask` about `build` (neither running nor queued here) to its owner and answers
/// `reply` with the owner's outcome. A build no controller drives (queued unclaimed,
/// finished, unknown) is answered from its stored record, as on one controller.
pub(crate) async fn send(
    shared: Arc<Shared>,
    build: BuildRef,
    ask: Ask,
    reply: oneshot::Sender<Result<(), ControlError>>,
) {
    let _ = reply.send(relay(&shared, build, ask).await);
}

async fn relay(shared: &Arc<Shared>, build: BuildRef, ask: Ask) -> Result<(), ControlError> {
    let body = serde_json::to_string(&ask)
        .map_err(|e| ControlError::Store(StoreError::Backend(Box::new(e))))?;
    let (store, b) = (shared.store.clone(), build.clone());
    let sent = blocking(move || {
        coordination(store.as_ref())
            .and_then(|c| c.send_control(&b, &body))
            .map_err(ControlError::Store)
    })
    .await?;
    let Some(control) = sent else {
        let (store, now_ms) = (shared.store.clone(), shared.clock.now_ms());
        return blocking(move || match ask {
            Ask::Cancel { reason } => cancel_stored(store.as_ref(), &build, &reason, now_ms),
            Ask::Input { .. } => answer_stored(store.as_ref(), &build),
        })
        .await;
    };
    tracing::info!(build = %build, control, "request sent to the controller driving the build");
    let answered = shared.signals.await_answer(control);
    let deadline = tokio::time::Instant::now() + ANSWER_WITHIN;
    let result = loop {
        let store = shared.store.clone();
        let outcome = blocking(move || {
            coordination(store.as_ref())
                .and_then(|c| c.control_outcome(control))
                .map_err(ControlError::Store)
        })
        .await;
        match outcome {
            Ok(Some(text)) => {
                break match serde_json::from_str::<Outcome>(&text) {
                    Ok(outcome) => outcome.result(&build),
                    Err(e) => Err(ControlError::Owner {
                        build: build.to_string(),
                        message: format!("an answer this controller cannot read ({e})"),
                    }),
                };
            }
            Ok(None) => {}
            Err(e) => break Err(e),
        }
        if tokio::time::Instant::now() >= deadline {
            break Err(ControlError::NoAnswer {
                build: build.to_string(),
                secs: ANSWER_WITHIN.as_secs(),
            });
        }
        tokio::select! {
            () = answered.notified() => {}
            () = tokio::time::sleep(SENDER_LOOKS) => {}
            () = tokio::time::sleep_until(deadline) => {}
        }
    };
    shared.signals.forget_answer(control);
    result
}

/// Answers the controls sent to the builds this controller drives, as they come (woken by
/// their signal, after a takeover, and every [`SAFETY_NET`]), until `stop`.
pub(crate) async fn answerer(
    shared: Arc<Shared>,
    controller: Arc<str>,
    me: mpsc::WeakUnboundedSender<Command>,
    stop: CancellationToken,
) {
    loop {
        let (store, c) = (shared.store.clone(), controller.clone());
        let pending = blocking(move || {
            coordination(store.as_ref())
                .and_then(|s| s.pending_controls(&c))
                .map_err(ControlError::Store)
        })
        .await;
        let mut waiting = false;
        match pending {
            Ok(pending) => {
                for control in pending {
                    let Some(me) = me.upgrade() else { return };
                    waiting |= !answer(&shared, &me, control).await;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read the controls sent here"),
        }
        let wait = if waiting { RETRY } else { SAFETY_NET };
        tokio::select! {
            () = shared.signals.control.notified() => {}
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// Has the actor act on `control` and stores its outcome; false when the build is not
/// driven here yet (claimed or taken over, not started): it stays pending.
async fn answer(
    shared: &Arc<Shared>,
    me: &mpsc::UnboundedSender<Command>,
    control: SentControl,
) -> bool {
    let outcome = match serde_json::from_str::<Ask>(&control.body) {
        Ok(ask) => {
            let (reply, rx) = oneshot::channel();
            if me.send(ask.command(control.build.clone(), reply)).is_err() {
                return true;
            }
            match rx.await {
                Ok(result) => Outcome::of(result),
                Err(_) => return false,
            }
        }
        Err(e) => Outcome::Failed {
            message: format!("a request this controller cannot read ({e})"),
        },
    };
    tracing::info!(build = %control.build, control = control.id, ?outcome, "request from another controller answered");
    let text = match serde_json::to_string(&outcome) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "cannot write a control's outcome");
            return true;
        }
    };
    let (store, id) = (shared.store.clone(), control.id);
    let stored = blocking(move || {
        coordination(store.as_ref())
            .and_then(|c| c.answer_control(id, &text))
            .map_err(ControlError::Store)
    })
    .await;
    if let Err(error) = stored {
        tracing::warn!(%error, control = control.id, "cannot store a control's outcome");
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_types::JobName;

    #[test]
    fn outcomes_come_back_as_the_errors_they_were() {
        let build = BuildRef {
            job: JobName::new("app").unwrap(),
            number: 3,
        };
        let cases = [
            Ok(()),
            Err(ControlError::Finished("app#3".into())),
            Err(ControlError::NoPendingInput("app#3".into())),
            Err(ControlError::UnknownInputParameter {
                build: "app#3".into(),
                name: "x".into(),
                known: "a, b".into(),
            }),
        ];
        for case in cases {
            let want = format!("{case:?}");
            let text = serde_json::to_string(&Outcome::of(case)).unwrap();
            let back: Outcome = serde_json::from_str(&text).unwrap();
            assert_eq!(format!("{:?}", back.result(&build)), want);
        }
        let ask = Ask::input(&InputAnswer::Proceed {
            values: [("v".to_owned(), "1".to_owned())].into(),
            by: "alice".into(),
        });
        let text = serde_json::to_string(&ask).unwrap();
        assert_eq!(serde_json::from_str::<Ask>(&text).unwrap(), ask);
    }
}
