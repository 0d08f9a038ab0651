//! Build and stage results are shared vocabulary (the store keeps them as the engine reports
//! them), so their types live in kiln-types; the engine re-exports them.

pub use kiln_types::{BuildResult, StageOutcome};
