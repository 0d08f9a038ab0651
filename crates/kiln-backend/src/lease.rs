//! An acquired agent: [`Leased`], and the name it is recorded and resumed by.

use crate::error::BackendError;
use crate::records::ImageRecords;
use async_trait::async_trait;
use kiln_executor::Executor;
use std::any::Any;
use std::path::Path;
use std::sync::Arc;

/// An agent's name, as the build's record keeps it (e.g. a pod's namespace and name): what
/// [`crate::ExecutionBackend::resume`] and [`crate::ExecutionBackend::discard`] find it by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AgentName {
    /// Where the agent lives in its backend (`None`: the backend's default place).
    pub namespace: Option<String>,
    pub name: String,
}

/// An agent a backend gave, until it is released.
pub type Lease = Box<dyn Leased>;

/// What a caller does with an acquired agent.
#[async_trait]
pub trait Leased: Send + Sync {
    /// The executor to run the build's (or stage's) steps with.
    fn executor(&self) -> Arc<dyn Executor>;

    /// The name to record, so a new controller finds the agent (`None`: it cannot be resumed).
    fn name(&self) -> Option<AgentName>;

    /// The pool the agent was taken from, if it was a ready one.
    fn pool(&self) -> Option<&str>;

    /// Copies the prepared workspace `from` into the agent's workspace; how many files.
    async fn upload(&self, from: &Path) -> Result<usize, BackendError>;

    /// Lets image builds in this agent record what they do in `records`.
    fn record_images(&self, records: Arc<dyn ImageRecords>);

    /// A handle other agents of the build refer to (see [`crate::ExecutionBackend::resume`]).
    fn handle(&self) -> AgentHandle;

    /// The backend's own value, for its `release`.
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}

/// What other agents of a build need of one agent.
pub trait AgentControl: Send + Sync {
    /// A resumed build has started work it had not reached before the restart: the agent
    /// stops answering from what it kept.
    fn end_replay(&self);

    /// The backend's own value, for its `resume`.
    fn as_any(&self) -> &dyn Any;
}

/// A shared handle to an agent (see [`Leased::handle`]).
pub type AgentHandle = Arc<dyn AgentControl>;
