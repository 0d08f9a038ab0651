//! Runs a planned build: walks the plan's stages in order and in parallel, evaluates `when`,
//! runs steps through an [`kiln_executor::Executor`], applies Jenkins' result rules and post
//! conditions, and reports everything as [`BuildEvent`]s.
//!
//! Before a build, [`prepare`] makes a Jenkinsfile ready to plan and run (validated, scripts
//! checked, libraries loaded, a generated pipeline expanded), the one way for the CLI and the
//! server; [`BuildRun`] is the one entry point that runs a build.
//!
//! The engine sees the Executor trait only (never a concrete backend) and knows no store;
//! whoever calls it (the CLI's `kiln run`, the server's scheduler) decides where events go.
//! Expressions are evaluated by kiln-script only (through `eval`); the build's own output is
//! data sent as events, never `tracing` events.

mod agent;
mod backend_agents;
mod build;
mod coordinator;
mod dispatch;
mod env;
mod error;
mod eval;
mod event;
mod failed_step;
mod job_properties;
mod line_splitter;
mod lint;
mod log;
mod log_copy;
mod log_formatter;
mod log_lines;
mod masker;
mod params;
mod post;
mod prepare;
mod process_key;
mod reports;
mod result;
mod run;
mod runner;
mod scope;
mod shared;
mod site;
mod spec;
mod stage;
mod stage_agent;
mod start;
mod steps;
mod summary;
mod when;
mod wrappers;

pub use agent::{
    AgentError, AgentProvider, AgentRequest, EnvChanges, ProvidedAgent, Provision, ReleaseAgent,
    agent_spec,
};
pub use backend_agents::BackendAgents;
pub use coordinator::{
    BuildId, Coordinator, FinishedJob, JobRequest, LockAttempt, LockGuard, LockRequest,
    MilestoneOutcome, NoCoordinator, Pending, StartedJob, StatusPost,
};
pub use env::{PASSED_ENV, build_tmp_dir, local_base_env};
pub use event::{BuildEvent, LineKind, LogMessage, OutputSource, forward_image_log};
pub use failed_step::FailedStep;
pub use job_properties::{JobParameter, JobProperties, Replaced, computes_job_properties};
pub use lint::check_scripts;
pub use log::timestamp_prefix_len;
pub use log_formatter::{LineStyle, LogFormatter, LogLine, PlainStyle, format_duration};
pub use log_lines::LogLines;
pub use params::{ParamValue, resolve_params};
pub use prepare::{LibraryAccess, LibraryLoader, Loaded, PrepareError, Prepared, prepare};
pub use reports::{
    FailedTest, FailureKind, GateArtifact, GateDirection, HtmlReport, IssueCounts, IssueSeverity,
    Reports,
};
pub use result::{BuildResult, StageOutcome};
pub use run::{BuildRun, scripted_pipeline};
pub use spec::{
    AzureServicePrincipal, BuildCause, BuildScripts, BuildSpec, Credential, CredentialStore,
    InputAnswer, InputHandler, InputKind, InputParameter, InputRequest, MergeBundle, NoCredentials,
    ScmInfo,
};
pub use summary::{BuildSummary, StageSummary, TestSummary};
