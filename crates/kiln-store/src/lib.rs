//! kiln's durable state: jobs, builds (numbered per job), their stages, results, test
//! summaries, artifact metadata and append-only logs, behind the [`Store`] trait.
//!
//! [`SledStore`] is the embedded implementation and the only code in kiln that names sled.
//! Every write that returns `Ok` is durable: it survives `kill -9` of the process.
//! Depends on no other kiln crate but kiln-types (job names, build references, results).

mod build_pages;
mod codec;
mod coordination;
mod error;
mod frames;
mod keys;
mod log_event;
mod log_files;
mod migrate;
mod record;
mod reopen;
mod report_record;
mod sled_log;
mod sled_store;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod trees;
mod unflushed;

pub use build_pages::BuildPages;
pub use coordination::{
    BuildFile, Claim, ClaimLimits, Coordination, Exclusive, Lease, NewBuildListener, Once,
    SentControl, Signal, SignalListener, StoredControl,
};
pub use error::StoreError;
pub use log_event::{LogEvent, LogEventKind};
pub use record::{
    ArtifactRecord, BuildRecord, BuildStatus, CauseRecord, ChangeRecord, FailedStepRecord,
    ImageEvent, ImageRecord, InputAnswerRecord, InputParameterKind, InputParameterRecord,
    InputRecord, JobRecord, LogSlice, NewBuild, Page, PodRecord, ReplayRecord, StageKind,
    StagePodRecord, StageRecord, StageState, TestSummary,
};
pub use report_record::{FailedTestRecord, HtmlReportRecord, IssuesRecord, TestFailureKind};
pub use sled_store::SledStore;
pub use store::Store;
