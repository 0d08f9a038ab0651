//! A commit status as kiln reports it, and its spelling on each forge.

use kiln_config::ForgeKind;
use kiln_types::BuildResult;
use std::collections::BTreeMap;

/// Where a build of the commit stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusState {
    /// Queued, not started.
    Pending,
    Running,
    Success,
    /// Failed or unstable.
    Failure,
    /// Aborted, or never built.
    Error,
    /// Not run (the GitLab plugin's `skipped`; only the forge steps post it).
    Skipped,
}

impl StatusState {
    /// The state a finished build reports.
    pub fn of_result(result: BuildResult) -> StatusState {
        match result {
            BuildResult::Success => StatusState::Success,
            BuildResult::Unstable | BuildResult::Failure => StatusState::Failure,
            BuildResult::Aborted | BuildResult::NotBuilt => StatusState::Error,
        }
    }

    /// The state's name on `kind`'s status API (GitHub has no `running`: it stays `pending`;
    /// nor `skipped`: it is `success`, as GitHub counts a skipped check run; GitLab says
    /// `failed` and `canceled`).
    pub fn api_name(self, kind: ForgeKind) -> &'static str {
        match (kind, self) {
            (_, StatusState::Pending) => "pending",
            (ForgeKind::GitHub, StatusState::Running) => "pending",
            (ForgeKind::GitLab, StatusState::Running) => "running",
            (_, StatusState::Success) => "success",
            (ForgeKind::GitHub, StatusState::Failure) => "failure",
            (ForgeKind::GitLab, StatusState::Failure) => "failed",
            (ForgeKind::GitHub, StatusState::Error) => "error",
            (ForgeKind::GitLab, StatusState::Error) => "canceled",
            (ForgeKind::GitHub, StatusState::Skipped) => "success",
            (ForgeKind::GitLab, StatusState::Skipped) => "skipped",
        }
    }

    /// Reads the names `githubNotify`, `gitlabCommitStatus` and friends take (either forge's
    /// spelling, any case).
    pub fn parse(name: &str) -> Option<StatusState> {
        Some(match name.to_ascii_lowercase().as_str() {
            "pending" => StatusState::Pending,
            "running" => StatusState::Running,
            "success" => StatusState::Success,
            "failure" | "failed" => StatusState::Failure,
            "error" | "canceled" | "cancelled" => StatusState::Error,
            "skipped" => StatusState::Skipped,
            _ => return None,
        })
    }

    /// The description shown beside the context when none is given.
    pub fn default_description(self) -> &'static str {
        match self {
            StatusState::Pending => "Build queued",
            StatusState::Running => "Build running",
            StatusState::Success => "This commit looks good",
            StatusState::Failure => "This commit has failures",
            StatusState::Error => "The build of this commit was aborted or not built",
            StatusState::Skipped => "Skipped",
        }
    }
}

/// One status to post on a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitStatus {
    /// The full commit hash.
    pub sha: String,
    pub state: StatusState,
    /// The status's name on the commit, e.g. `kiln/app`.
    pub context: String,
    pub description: String,
    /// The build's page, when kiln knows its URL.
    pub target_url: Option<String>,
    /// The branch or tag the commit was built for (a request's source branch). GitLab takes
    /// it as `ref`, the pipeline the status joins (the one its merge request shows); without
    /// it GitLab picks a branch holding the commit and refuses a commit on no branch.
    pub git_ref: Option<String>,
}

impl CommitStatus {
    /// The `ref` of a build's statuses: a request's source branch (`CHANGE_BRANCH`), else
    /// the branch or tag it built.
    pub fn ref_of(
        branch: Option<&str>,
        change: Option<&BTreeMap<String, String>>,
    ) -> Option<String> {
        change
            .and_then(|vars| vars.get("CHANGE_BRANCH"))
            .map(String::as_str)
            .or(branch)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_forge_spells_each_state() {
        let all = [
            StatusState::Pending,
            StatusState::Running,
            StatusState::Success,
            StatusState::Failure,
            StatusState::Error,
            StatusState::Skipped,
        ];
        let names = |k| all.map(|s| s.api_name(k)).join(" ");
        assert_eq!(
            names(ForgeKind::GitHub),
            "pending pending success failure error success"
        );
        assert_eq!(
            names(ForgeKind::GitLab),
            "pending running success failed canceled skipped"
        );
        for s in all {
            assert_eq!(StatusState::parse(s.api_name(ForgeKind::GitLab)), Some(s));
        }
        assert_eq!(StatusState::parse("bogus"), None);
    }

    #[test]
    fn a_requests_status_refers_to_its_source_branch() {
        let vars = BTreeMap::from([("CHANGE_BRANCH".to_owned(), "feature".to_owned())]);
        assert_eq!(
            CommitStatus::ref_of(Some("PR-4"), Some(&vars)).as_deref(),
            Some("feature")
        );
        assert_eq!(
            CommitStatus::ref_of(Some("main"), None).as_deref(),
            Some("main")
        );
        assert_eq!(CommitStatus::ref_of(Some(""), None), None);
    }
}
