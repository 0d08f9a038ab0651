//! kiln's shared vocabulary: the names and results every layer speaks of (a job's name, one
//! build of a job, a build's or stage's result), so that the configuration, the engine and
//! the store agree on them without depending on one another.
//!
//! It also holds the plain-value description of an agent ([`AgentSpec`]) that the engine hands
//! execution backends.
//!
//! Invariants: no IO; depends on serde, thiserror and kiln-diagnostics (for spans) only. The
//! serde formats are the stored ones: changing one breaks reading existing stores.

mod agent;
mod job;
mod result;

pub use agent::{
    Agent, AgentKind, AgentSpec, AgentSpecKind, AgentValue, ContainerTemplate, DockerAgent,
    DockerSpec, DockerfileAgent, DockerfileSpec, KubernetesSpec,
};
pub use job::{BuildRef, InvalidJobName, JobName};
pub use result::{BuildResult, StageOutcome};
