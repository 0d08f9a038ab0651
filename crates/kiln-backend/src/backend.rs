//! The seam itself: [`ExecutionBackend`] and what it is asked.

use crate::error::BackendError;
use crate::lease::{AgentHandle, AgentName, Lease};
use crate::records::LiveAgents;
use async_trait::async_trait;
use kiln_executor::ImageLogLine;
use kiln_types::{AgentSpec, BuildResult};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where builds and stages get their agents: acquired from an [`AgentSpec`], released with
/// a result, resumed by name after a controller restart.
#[async_trait]
pub trait ExecutionBackend: Send + Sync {
    /// Whether this backend gives `agent` an agent of its own (`acquire` answers `Some` unless
    /// it fails); other agents run where the build runs. Decided from the agent's kind and the
    /// backend's settings only, without IO.
    fn serves(&self, agent: &AgentSpec) -> bool;

    /// Starts whatever the backend keeps running (connections, pools) in the background;
    /// `live` says which recorded agents belong to builds still alive, so the others can be
    /// deleted. Called once, by the server, at start.
    fn start(self: Arc<Self>, live: Arc<dyn LiveAgents>) {
        let _ = live;
    }

    /// An agent for `wanted`, or `None` when this backend does not serve its kind (see
    /// [`ExecutionBackend::serves`]). Progress (waiting for a slot, an image build) goes to
    /// `wanted.notes` as it happens.
    async fn acquire(&self, wanted: AgentWanted) -> Result<Option<Lease>, BackendError>;

    /// Ends the use of `lease`: the agent goes back to a pool when `result` is a success and
    /// the backend pools it, else it is deleted. An error says why it may be left behind.
    async fn release(&self, lease: Lease, result: BuildResult) -> Result<(), BackendError>;

    /// The agent `name` a build recorded before the controller restarted, taken over: it runs
    /// the build's steps again, answering those that ran from what it kept. With `replay_of`
    /// (the build's own agent, when a stage's is taken over) the two share the replay. An
    /// agent that cannot be taken over is deleted and the error says why.
    async fn resume(
        &self,
        name: &AgentName,
        build: (&str, u64),
        replay_of: Option<&AgentHandle>,
    ) -> Result<Lease, BackendError>;

    /// Build `build` is driven by this controller at `epoch` (its claim's, when several
    /// controllers share a database; `None`: forget it, the build ended here): its agents,
    /// acquired or resumed from now on, refuse a controller with a lower epoch, so one that
    /// was paused past its lease cannot act after a takeover. The default ignores it.
    fn fence(&self, build: (&str, u64), epoch: Option<u64>) {
        let _ = (build, epoch);
    }

    /// Deletes recorded agents nobody took over (a resumed build that took another path, or
    /// ended); one gone already is fine. Failures are logged, not returned.
    async fn discard(&self, names: &[AgentName]);

    /// Deletes the agents made for build `build` that it did not record (`keep` names those
    /// it did): a controller that stopped after making an agent and before recording it on
    /// the build left it, with no step run in it. Agents made by a live driver of the build
    /// (at the epoch given to [`ExecutionBackend::fence`], or a later one) are kept. Returns
    /// the names deleted; failures are logged, not returned (an agent left behind ends as an
    /// orphan does). The default deletes nothing: its agents are recorded as they are made.
    async fn discard_unrecorded(&self, build: (&str, u64), keep: &[AgentName]) -> Vec<String> {
        let _ = (build, keep);
        Vec::new()
    }
}

/// What an agent is acquired for.
pub struct AgentWanted {
    /// The agent as plain values (a top-level agent's literals, or a stage's, evaluated).
    pub agent: AgentSpec,
    /// `JOB_NAME` and `BUILD_NUMBER` of the build.
    pub job: String,
    pub build: u64,
    /// The build's own agent, or a stage's.
    pub place: Placement,
    /// The build's prepared workspace: where the agent's files (`yamlFile`, a Dockerfile and
    /// its context) are read from, and what [`crate::Leased::upload`] copies.
    pub workspace: PathBuf,
    /// Where progress goes while the agent starts.
    pub notes: Notes,
}

/// Whose agent is acquired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// The build's own agent (its top-level agent); `timeout` is the build's own `timeout`
    /// option (not an activity timeout), which the agent is bounded by.
    Build { timeout: Option<Duration> },
    /// A stage's own agent; `nested` when the build holds an agent already, so it never waits
    /// for a slot (builds holding agents while waiting for more would wait for each other).
    Stage { path: Vec<String>, nested: bool },
}

impl Placement {
    /// The stage's path, for a stage's agent.
    pub fn stage(&self) -> Option<&[String]> {
        match self {
            Placement::Stage { path, .. } => Some(path),
            Placement::Build { .. } => None,
        }
    }
}

/// Something to say in the build's log while an agent starts; the caller renders it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// A plain line (e.g. a setting the backend cannot honour).
    Text(String),
    /// The agent waits for a slot; the text says how many are in use.
    Waiting(String),
    /// A line of an image build the agent needs first.
    Image(ImageLogLine),
}

/// Where [`Note`]s go.
pub type Notes = Arc<dyn Fn(Note) + Send + Sync>;
