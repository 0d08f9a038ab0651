//! kiln's shared vocabulary: the names and results every layer speaks of (a job's name, one
//! build of a job, a build's or stage's result), so that the configuration, the engine and
//! the store agree on them without depending on one another.
//!
//! Invariants: no IO; depends on serde and thiserror only, on no kiln crate. The serde
//! formats are the stored ones: changing one breaks reading existing stores.

mod job;
mod result;

pub use job::{BuildRef, InvalidJobName, JobName};
pub use result::{BuildResult, StageOutcome};
