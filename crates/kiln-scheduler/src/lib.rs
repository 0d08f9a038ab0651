//! kiln's build scheduler: the queue (global capacity, per-job concurrency, quiet periods,
//! round-robin across jobs), triggers (API, cron, polling, upstream builds), input answers,
//! cancellation, retention, and the task that runs each build with kiln-engine on the local
//! executor, or on an agent of the execution backend it was given (pods, see
//! `build_agent.rs`), while recording its log and state in the [`kiln_store::Store`].
//!
//! The scheduler is an actor: one task owns the queue and the running builds and selects
//! over commands from [`SchedulerHandle`]s, build tasks finishing and timers. It sees the
//! `Store` trait, the `Executor` trait and the execution-backend seam (`kiln_backend`) only:
//! never sled, HTTP or Kubernetes.

mod actor;
mod agent_records;
mod build_agent;
mod cause;
mod change;
mod claims;
mod clock;
mod command;
mod controller_work;
mod coordinator;
mod credentials;
mod db_files;
mod downstream;
mod error;
mod fencing;
mod follower;
mod forge_status;
mod forge_steps;
mod git;
mod handle;
mod image_records;
mod input;
mod job_properties;
mod job_view;
mod live;
mod locks;
mod matching;
mod milestones;
mod multibranch;
mod outage;
mod pending_log;
mod pipeline_info;
mod poll;
mod prepared;
mod queue;
mod recorder;
mod recovery;
mod remote_control;
mod replay;
mod report_records;
mod request;
mod resume;
mod retention;
mod runner;
mod scheduler;
mod shared;
mod signals;
mod source;
mod store_writer;
mod timers;
mod trigger;
mod view;

pub use clock::{Clock, ManualClock, Sleep, SystemClock};
pub use credentials::ConfigCredentials;
pub use error::{ControlError, JobSourceError, SchedulerError, SourceError, TriggerError};
pub use follower::{LogChunk, LogFollower};
pub use handle::SchedulerHandle;
pub use locks::{
    Acquire, DeclaredResource, HeldLock, LockError, LockTable, LocksView, Queued, ResourceView,
    WaiterView,
};
pub use multibranch::{Comment, CommentOutcome, Gone, RegistryError};
pub use request::{ChangeTrigger, TriggerRequest};
pub use scheduler::Scheduler;
pub use view::{JobSource, JobView, ParamView, SchedulerStats, TriggerView};
