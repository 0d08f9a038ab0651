//! kiln's durable state: jobs, builds (numbered per job), their stages, results, test
//! summaries, artifact metadata and append-only logs, behind the [`Store`] trait.
//!
//! [`SledStore`] is the embedded implementation and the only code in kiln that names sled.
//! Every write that returns `Ok` is durable: it survives `kill -9` of the process.
//! Depends on no other kiln crate.

mod error;
mod record;
mod result;
mod store;

pub use error::StoreError;
pub use record::{
    ArtifactRecord, BuildRecord, BuildRef, BuildStatus, InputRecord, JobName, JobRecord, LogSlice,
    NewBuild, Page, StageRecord, StageState, TestSummary,
};
pub use result::{BuildResult, StageOutcome};
pub use store::Store;
