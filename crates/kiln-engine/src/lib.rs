//! Runs a planned build: walks the plan's stages in order and in parallel, evaluates `when`,
//! runs steps through an [`kiln_executor::Executor`], applies Jenkins' result rules and post
//! conditions, and reports everything as [`BuildEvent`]s.
//!
//! The engine sees the Executor trait only (never a concrete backend) and knows no store;
//! whoever calls it (the CLI's `kiln run`, later the server's scheduler) decides where events go.

mod event;
mod result;
mod spec;

pub use event::BuildEvent;
pub use result::{BuildResult, StageOutcome};
pub use spec::{
    BuildCause, BuildSpec, Credential, CredentialStore, InputAnswer, InputHandler, InputRequest,
    NoCredentials, ScmInfo,
};
