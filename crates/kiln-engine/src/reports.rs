//! What a build's report steps leave besides counts: the failed tests `junit` read and the
//! HTML reports `publishHTML` archived. The caller of the engine stores and serves them.

/// One failed test case, as its JUnit report describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailedTest {
    /// The `classname` attribute (empty when the report has none).
    pub class_name: String,
    pub name: String,
    /// The `message` attribute of its `failure` or `error`.
    pub message: Option<String>,
    /// The text of its `failure` or `error` element.
    pub stack_trace: Option<String>,
    /// Whether the case failed (`failure`) or broke (`error`).
    pub kind: FailureKind,
    /// Its `system-out` and `system-err`, cut to a bound unless `keepLongStdio`.
    pub stdout: Option<String>,
    pub stderr: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailureKind {
    #[default]
    Failure,
    Error,
}

/// An HTML report kept with the build, under `build_dir/html/DIR`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HtmlReport {
    /// `reportName`, as the build page shows it.
    pub name: String,
    /// The directory under `build_dir/html` (the name made safe for a path and a URL).
    pub dir: String,
    /// `reportFiles`: the pages, the first being the index.
    pub files: Vec<String>,
    /// `reportTitles`, one per page (empty: the file names).
    pub titles: Vec<String>,
    /// `keepAll`: false keeps only the newest build's copy of this report.
    pub keep_all: bool,
    /// `alwaysLinkToLastBuild`: the job links the newest build that has it.
    pub always_link_to_last_build: bool,
}

/// How bad an issue is, in the Warnings Next Generation plugin's levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum IssueSeverity {
    Error,
    High,
    Normal,
    Low,
}

/// What `recordIssues` found with one tool (or, aggregated, with all of them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IssueCounts {
    /// The tool's id (`checkstyle`, `java`, ...) or the step's `id`.
    pub id: String,
    /// The name shown (`CheckStyle`).
    pub name: String,
    pub error: u64,
    pub high: u64,
    pub normal: u64,
    pub low: u64,
}

impl IssueCounts {
    pub fn total(&self) -> u64 {
        self.error + self.high + self.normal + self.low
    }

    pub(crate) fn count(&mut self, severity: IssueSeverity) {
        match severity {
            IssueSeverity::Error => self.error += 1,
            IssueSeverity::High => self.high += 1,
            IssueSeverity::Normal => self.normal += 1,
            IssueSeverity::Low => self.low += 1,
        }
    }
}

/// Whether a build made an artifact or used one (DevOptics' gates).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateDirection {
    Produces,
    Consumes,
}

/// An artifact `gateProducesArtifact`/`gateConsumesArtifact` recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateArtifact {
    pub direction: GateDirection,
    /// The id given, or the file's SHA-256 for a file.
    pub id: String,
    /// The type given (`file` for a file without one).
    pub kind: String,
    pub label: Option<String>,
    /// The workspace file, relative to the step's directory.
    pub file: Option<String>,
    /// The file's SHA-256 fingerprint, in lower-case hex.
    pub sha256: Option<String>,
}

/// Everything the report steps recorded, for the build summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reports {
    pub failed_tests: Vec<FailedTest>,
    pub html: Vec<HtmlReport>,
    pub issues: Vec<IssueCounts>,
    pub gate_artifacts: Vec<GateArtifact>,
}

impl FailedTest {
    /// `classname.name`, or the name alone when the report gives no class.
    pub fn full_name(&self) -> String {
        if self.class_name.is_empty() {
            self.name.clone()
        } else {
            format!("{}.{}", self.class_name, self.name)
        }
    }
}
