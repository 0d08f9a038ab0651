//! Messages from handles and helper tasks to the scheduler's actor.

use crate::error::{ControlError, TriggerError};
use crate::source::Resolved;
use kiln_config::Config;
use kiln_engine::InputAnswer;
use kiln_store::NewBuild;
use kiln_types::{BuildRef, JobName};
use std::sync::Arc;
use tokio::sync::oneshot;

/// A trigger whose source was read and whose parameters were checked: ready to be queued.
pub(crate) struct Enqueue {
    pub job: JobName,
    pub new: NewBuild,
    pub resolved: Arc<Resolved>,
    /// Set by polling: remember that this branch was seen at this commit.
    pub polled: Option<(String, String)>,
    /// A quiet period asked for by the trigger (`build job:, quietPeriod:`), instead of
    /// the job's.
    pub quiet_secs: Option<u64>,
    /// What the build is created once for across controllers (a webhook delivery, a
    /// timer's due time): taken in the build's transaction by a shared store.
    pub once: Option<kiln_store::Once>,
}

pub(crate) enum Command {
    Enqueue(
        Box<Enqueue>,
        oneshot::Sender<Result<BuildRef, TriggerError>>,
    ),
    /// Cancels a build; `reason` is the line its log ends with (`Aborted by alice`).
    /// `relayed`: sent here by another controller (see `remote_control.rs`), never sent on.
    Cancel {
        id: BuildRef,
        reason: String,
        reply: oneshot::Sender<Result<(), ControlError>>,
        relayed: bool,
    },
    Answer {
        id: BuildRef,
        answer: InputAnswer,
        reply: oneshot::Sender<Result<(), ControlError>>,
        relayed: bool,
    },
    Reload(Arc<Config>, oneshot::Sender<()>),
    /// Multibranch children were added or removed.
    ChildrenChanged,
    /// Scan a multibranch job's repository.
    Scan(String),
    /// A job's pipeline was read again: its triggers may have changed.
    PipelineRead(String),
    /// A poll found nothing new for these branches: remember their commits.
    Polled(String, Vec<(String, String)>),
    Shutdown(oneshot::Sender<()>),
    /// A build's record was created off the actor's task (see `Actor::enqueue`).
    Created(Box<Created>),
    /// A queued build was claimed for this controller in a shared store (see `claims.rs`).
    Claimed {
        record: Box<kiln_store::BuildRecord>,
        epoch: u64,
    },
    /// A build whose controller's lease ran out was taken over by this one.
    TakenOver {
        record: Box<kiln_store::BuildRecord>,
        epoch: u64,
    },
    /// A build taken over to resume in its pod, at the takeover's epoch.
    Resume(Box<kiln_store::BuildRecord>, u64),
    /// This controller's lease ran out or could not be renewed: it stops driving builds.
    LeaseLost,
    /// A running build set its job's properties (see `job_properties`).
    JobProperties(BuildRef, Box<kiln_engine::JobProperties>),
}

/// What creating a queued build's record gave, for the actor to queue it.
pub(crate) struct Created {
    pub enqueue: Enqueue,
    /// The record, or why none was created (a store error, a [`kiln_store::Once`] taken
    /// before).
    pub record: Result<kiln_store::BuildRecord, TriggerError>,
    /// When the build may start (its quiet period's end).
    pub not_before_ms: u64,
    pub reply: oneshot::Sender<Result<BuildRef, TriggerError>>,
}
