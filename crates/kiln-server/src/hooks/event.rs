//! What a webhook asks for, whichever forge sent it.

use std::collections::BTreeMap;

/// A push, tag or change request, reduced to what matching and triggering need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookEvent {
    /// What happened, for the build's cause, e.g. `GitHub push by alice`.
    pub description: String,
    /// The repository's URLs as the forge gives them (https clone URL, ssh URL, web URL).
    pub repo_urls: Vec<String>,
    /// The branch pushed, or the target branch of a change request.
    pub branch: Option<String>,
    pub tag: Option<String>,
    /// The commit to build.
    pub commit: Option<String>,
    /// For change requests: `CHANGE_ID`, `CHANGE_TARGET`, `CHANGE_BRANCH`, `CHANGE_TITLE`, ...
    pub change: BTreeMap<String, String>,
}

/// What a webhook delivery amounts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookAction {
    /// Build the matching jobs.
    Build(HookEvent),
    /// Nothing to build (a ping, a closed pull request, a deleted branch); the reason is answered.
    Ignore(String),
}

/// A payload that is not what the event header announced.
#[derive(Debug, thiserror::Error)]
#[error("invalid {forge} `{event}` payload: {source}")]
pub struct PayloadError {
    pub forge: &'static str,
    pub event: String,
    #[source]
    pub source: serde_json::Error,
}

/// `refs/heads/x` -> branch `x`; `refs/tags/v1` -> tag `v1`.
pub fn split_ref(git_ref: &str) -> (Option<String>, Option<String>) {
    if let Some(b) = git_ref.strip_prefix("refs/heads/") {
        (Some(b.to_string()), None)
    } else if let Some(t) = git_ref.strip_prefix("refs/tags/") {
        (None, Some(t.to_string()))
    } else {
        (None, None)
    }
}

/// A push of all zeros as the new commit deletes the ref.
pub fn is_deletion(commit: &str) -> bool {
    !commit.is_empty() && commit.bytes().all(|b| b == b'0')
}
