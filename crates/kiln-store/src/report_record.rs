//! What a build's report steps recorded besides test counts: failed tests' details, the HTML
//! reports kept in the build's directory, and static analysis issue counts.

use serde::{Deserialize, Serialize};

/// A failed test case of a JUnit report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedTestRecord {
    pub class_name: String,
    pub name: String,
    pub kind: TestFailureKind,
    pub message: Option<String>,
    pub stack_trace: Option<String>,
    #[serde(default)]
    pub stdout: Option<String>,
    #[serde(default)]
    pub stderr: Option<String>,
}

/// A test that failed an assertion or broke with an error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestFailureKind {
    #[default]
    Failure,
    Error,
}

/// An HTML report kept under `DATA_DIR/builds/JOB/N/html/DIR`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HtmlReportRecord {
    pub name: String,
    /// One path segment, safe in a URL.
    pub dir: String,
    /// The report's pages; the first is its index.
    pub files: Vec<String>,
    #[serde(default)]
    pub titles: Vec<String>,
    #[serde(default)]
    pub keep_all: bool,
    #[serde(default)]
    pub always_link_to_last_build: bool,
}

/// What `recordIssues` counted with one tool (or all, aggregated), by severity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuesRecord {
    pub id: String,
    pub name: String,
    pub total: u64,
    pub error: u64,
    pub high: u64,
    pub normal: u64,
    pub low: u64,
}
