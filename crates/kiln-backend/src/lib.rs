//! kiln's execution-backend seam: where a build and its stages get the agents they run on.
//!
//! An [`ExecutionBackend`] acquires an agent for a build or a stage from its [`AgentSpec`]
//! (plain values), hands it out as a [`Lease`] (an `Executor` plus the agent's recorded
//! [`AgentName`]), releases it with the build's or stage's result, resumes it by that name
//! after a controller restart, and discards recorded agents nobody took over. What a backend
//! must keep across a restart it reports through [`AgentRecords`] and [`ImageRecords`],
//! which the caller stores. kiln has two backends: [`LocalBackend`] (this machine) and
//! kiln-kube's `KubeBackend` (pods). The engine, the scheduler and the CLI know this seam
//! only; the binary's wiring picks the backend.
//!
//! Depends on kiln-types, kiln-diagnostics and kiln-executor only: no runtime, no IO of its
//! own besides what [`LocalBackend`] starts.

mod backend;
mod error;
mod lease;
mod local;
mod records;

pub use backend::{AgentWanted, ExecutionBackend, Note, Notes, Placement};
pub use error::BackendError;
pub use lease::{AgentControl, AgentHandle, AgentName, Lease, Leased};
pub use local::LocalBackend;
pub use records::{
    AgentRecords, EnvChanges, ImageRecords, ImageStep, LiveAgents, LiveBuild, RecordedAgent,
};

/// Re-exported for implementations: the agent as plain values.
pub use kiln_types::AgentSpec;
