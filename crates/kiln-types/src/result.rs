use serde::{Deserialize, Serialize};

/// A build's or stage's result, ordered from best to worst as in Jenkins
/// (`SUCCESS < UNSTABLE < FAILURE < NOT_BUILT < ABORTED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BuildResult {
    Success,
    Unstable,
    Failure,
    NotBuilt,
    Aborted,
}

impl BuildResult {
    pub fn as_str(self) -> &'static str {
        match self {
            BuildResult::Success => "SUCCESS",
            BuildResult::Unstable => "UNSTABLE",
            BuildResult::Failure => "FAILURE",
            BuildResult::NotBuilt => "NOT_BUILT",
            BuildResult::Aborted => "ABORTED",
        }
    }

    pub fn parse(s: &str) -> Option<BuildResult> {
        Some(match s {
            "SUCCESS" => BuildResult::Success,
            "UNSTABLE" => BuildResult::Unstable,
            "FAILURE" => BuildResult::Failure,
            "NOT_BUILT" => BuildResult::NotBuilt,
            "ABORTED" => BuildResult::Aborted,
            _ => return None,
        })
    }

    /// Jenkins' rule: a result can only get worse.
    pub fn combine(self, other: BuildResult) -> BuildResult {
        self.max(other)
    }
}

impl std::fmt::Display for BuildResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to a stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageOutcome {
    /// It ran and ended with this result.
    Ran(BuildResult),
    /// `when` was false.
    SkippedByWhen,
    /// An earlier stage failed (or was unstable with `skipStagesAfterUnstable`).
    SkippedAfterFailure,
    /// The build was aborted before it started.
    SkippedAborted,
    /// `options { lock(..., skipIfLocked: true) }` found the resources taken.
    SkippedLocked,
}

impl StageOutcome {
    pub fn label(self) -> &'static str {
        match self {
            StageOutcome::Ran(r) => r.as_str(),
            StageOutcome::SkippedByWhen => "SKIPPED (when)",
            StageOutcome::SkippedAfterFailure => "SKIPPED (earlier failure)",
            StageOutcome::SkippedAborted => "SKIPPED (aborted)",
            StageOutcome::SkippedLocked => "SKIPPED (locked)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The stored format of results: Jenkins' words, and a stage outcome tagged in snake case.
    #[test]
    fn results_keep_their_stored_format() {
        let cases = [
            (
                StageOutcome::Ran(BuildResult::NotBuilt),
                r#"{"ran":"NOT_BUILT"}"#,
            ),
            (StageOutcome::SkippedByWhen, r#""skipped_by_when""#),
            (
                StageOutcome::SkippedAfterFailure,
                r#""skipped_after_failure""#,
            ),
            (StageOutcome::SkippedAborted, r#""skipped_aborted""#),
            (StageOutcome::SkippedLocked, r#""skipped_locked""#),
        ];
        for (outcome, text) in cases {
            assert_eq!(serde_json::to_string(&outcome).unwrap(), text);
            assert_eq!(serde_json::from_str::<StageOutcome>(text).unwrap(), outcome);
        }
        for r in [
            BuildResult::Success,
            BuildResult::Unstable,
            BuildResult::Failure,
            BuildResult::NotBuilt,
            BuildResult::Aborted,
        ] {
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
            assert_eq!(BuildResult::parse(r.as_str()), Some(r));
        }
    }

    #[test]
    fn results_only_get_worse() {
        use BuildResult::*;
        assert_eq!(Success.combine(Unstable), Unstable);
        assert_eq!(Failure.combine(Unstable), Failure);
        assert_eq!(Aborted.combine(NotBuilt), Aborted);
        assert_eq!(BuildResult::parse("success"), None);
    }
}
