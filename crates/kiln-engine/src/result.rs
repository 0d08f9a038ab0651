//! Build and stage results are stored as they are reported, so their types live with the
//! store; the engine re-exports them.

pub use kiln_store::{BuildResult, StageOutcome};
