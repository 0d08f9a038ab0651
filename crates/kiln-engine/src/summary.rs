use crate::{BuildResult, FailedStep, Reports, StageOutcome};
use kiln_plan::NodeId;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// What a finished build amounts to: its result, every stage's outcome, tests and artifacts.
#[derive(Clone, Debug, PartialEq)]
pub struct BuildSummary {
    pub result: BuildResult,
    /// Every stage of the plan, in the plan's depth-first order, including skipped ones.
    pub stages: Vec<StageSummary>,
    /// Totals of every `junit` step, when there was one.
    pub tests: Option<TestSummary>,
    /// Archived files, relative to `build_dir/artifacts`.
    pub artifacts: Vec<PathBuf>,
    /// Failed tests' details and HTML reports.
    pub reports: Reports,
    pub duration: Duration,
    /// `currentBuild.displayName` and `currentBuild.description`, when a script set them.
    pub display_name: Option<String>,
    pub description: Option<String>,
    /// The `env` variables the build's scripts set (`env.X = ...`), secrets masked: what a
    /// `build` step calling this build gets as `buildVariables`.
    pub variables: BTreeMap<String, String>,
    /// The schedules and retention counts the pipeline computed as the build ran, for the
    /// server to record for the job; `None` when it computes none (or did not get there).
    pub job_properties: Option<crate::JobProperties>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StageSummary {
    pub node: NodeId,
    pub path: Vec<String>,
    pub outcome: StageOutcome,
    /// Zero for stages that did not run.
    pub duration: Duration,
    /// The step whose error failed the stage (and escaped it), when it ran in this stage.
    pub failed_step: Option<FailedStep>,
}

/// JUnit totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TestSummary {
    pub total: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl TestSummary {
    pub(crate) fn add(&mut self, other: TestSummary) {
        self.total += other.total;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}
