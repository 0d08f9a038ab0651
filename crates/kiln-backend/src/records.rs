//! What a backend reports for the caller to keep across a controller restart: the agents of
//! a build's stages ([`AgentRecords`]), what its image builds did ([`ImageRecords`]), and
//! which builds still live ([`LiveAgents`]).

use crate::lease::AgentName;
use async_trait::async_trait;
use kiln_executor::BuiltImage;
use kiln_types::BuildResult;
use std::collections::BTreeMap;

/// Variables the build's scripts set (`env.X = ...`; `None`: removed), by name.
pub type EnvChanges = BTreeMap<String, Option<String>>;

/// Where the agents of a build's stages are recorded (the server keeps them with the build's
/// record; `kiln run` keeps none). A stage's agents are counted from 1 (`seq`) in the order it
/// asks for them, the same when a resumed build runs its steps again.
#[async_trait]
pub trait AgentRecords: Send + Sync {
    /// The agent `seq` of stage `stage` had when the controller restarted, if it had one.
    fn recorded(&self, stage: &[String], seq: u32) -> Option<RecordedAgent>;

    /// The result of stage `stage` if it had finished before the restart, with the variables
    /// the build's scripts had set when its last agent was released.
    fn finished(&self, stage: &[String]) -> Option<(BuildResult, EnvChanges)>;

    /// Whether the build was resumed after a restart (records from before exist).
    fn resumed(&self) -> bool;

    /// Records that the stage got agent `name` (its steps have not run); returns once stored.
    async fn got(&self, stage: &[String], seq: u32, name: &AgentName);

    /// Records that the stage was done with its agent; returns once stored.
    async fn released(&self, stage: &[String], seq: u32, result: BuildResult, env: EnvChanges);
}

/// A stage's agent as the record kept it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedAgent {
    pub name: AgentName,
    /// The stage was done with it, with this result.
    pub released: Option<BuildResult>,
    /// The variables the build's scripts had set when it was released.
    pub env: EnvChanges,
}

/// One thing an image build did, recorded under its step's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageStep {
    /// The builder pod `pod` was (about to be) created for `platform` (`None`: the node's
    /// own). Recorded before the create request, so no pod exists that the record does not
    /// name.
    Started {
        platform: Option<String>,
        pod: String,
    },
    /// The platform's image was pushed (recorded before its pod is deleted).
    Built(BuiltImage),
    /// kiln pushed the multi-arch index of `destination`.
    Indexed { destination: String, digest: String },
}

/// Where a build's image-build records live.
#[async_trait]
pub trait ImageRecords: Send + Sync {
    /// What was recorded for the step with key `key`, oldest first.
    fn recorded(&self, key: &str) -> Vec<ImageStep>;

    /// Records `step` for `key` durably; returns once it is stored.
    async fn record(&self, key: &str, step: ImageStep) -> Result<(), String>;

    /// The controller is stopping and leaves the build running for the next start to take
    /// over: builder pods are kept, not deleted, when the step is dropped.
    fn leaving(&self) -> bool;
}

/// Which builds are alive, and the agents each has recorded: agents of no live build are
/// orphans a backend may delete.
#[async_trait]
pub trait LiveAgents: Send + Sync {
    /// The live builds; `None` when the caller cannot tell (then nothing is deleted).
    async fn live(&self) -> Option<Vec<LiveBuild>>;

    /// Held while orphans are deleted, so that controllers sharing a store reap one at a
    /// time; `None` when there is nothing to share (one controller).
    async fn reaping(&self) -> Option<Box<dyn Send>> {
        None
    }
}

/// A build that is alive, and the names of its agents (`None`: it has recorded none yet, so
/// any agent of it may be its own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveBuild {
    pub job: String,
    pub build: u64,
    pub agents: Option<Vec<String>>,
}
