//! Which jobs a branch or a pushed repository belongs to.

use kiln_config::{Config, JobConfig, Source};
use kiln_scm::normalize_url;

/// Whether `branch` is the job's branch or matches its pattern (`release/*`: `*` stays
/// within one path segment, `**` crosses them).
pub(crate) fn branch_matches(pattern: &str, branch: &str) -> bool {
    if !pattern.contains(['*', '?', '[']) {
        return pattern == branch;
    }
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .is_ok_and(|g| g.compile_matcher().is_match(branch))
}

/// The jobs a push to `repo_url` (a branch or a tag) should build: the job's repository is
/// the same (URLs compared normalised: scheme, user, `.git` and the host's case do not
/// matter) and the branch is the job's branch or matches its pattern. A tag matches a job
/// whose branch pattern matches the tag's name (e.g. `v*`).
pub(crate) fn jobs_for_push(
    config: &Config,
    repo_url: &str,
    branch: Option<&str>,
    tag: Option<&str>,
) -> Vec<String> {
    let wanted = normalize_url(repo_url);
    config
        .jobs
        .iter()
        // A multibranch job's children are reached through it.
        .filter(|j| j.name.parent().is_none())
        .filter(|j| normalize_url(&source_url(j)) == wanted)
        .filter(|j| match (&j.multibranch, branch, tag) {
            (Some(mb), Some(b), _) => mb.branches.iter().any(|p| branch_matches(p, b)),
            (Some(mb), None, Some(t)) => mb.tags.iter().any(|p| branch_matches(p, t)),
            (None, Some(b), _) => branch_matches(&j.branch, b),
            (None, None, Some(t)) => j.branch_is_pattern() && branch_matches(&j.branch, t),
            (_, None, None) => true,
        })
        .map(|j| j.name.to_string())
        .collect()
}

/// The jobs a change request of `repo_url` into `target` should build: multibranch jobs that
/// discover change requests, and jobs of the target branch.
pub(crate) fn jobs_for_change(config: &Config, repo_url: &str, target: &str) -> Vec<String> {
    let wanted = normalize_url(repo_url);
    config
        .jobs
        .iter()
        .filter(|j| j.name.parent().is_none())
        .filter(|j| normalize_url(&source_url(j)) == wanted)
        .filter(|j| match &j.multibranch {
            Some(mb) => mb.change_requests,
            None => branch_matches(&j.branch, target),
        })
        .map(|j| j.name.to_string())
        .collect()
}

fn source_url(job: &JobConfig) -> String {
    match &job.source {
        Source::Repo(url) => url.clone(),
        Source::Dir(dir) => dir.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::branch_matches;

    #[test]
    fn branches_and_patterns() {
        assert!(branch_matches("main", "main"));
        assert!(!branch_matches("main", "master"));
        assert!(branch_matches("release/*", "release/1.0"));
        assert!(!branch_matches("release/*", "release/1.0/hotfix"));
        assert!(branch_matches("release/**", "release/1.0/hotfix"));
        assert!(!branch_matches("release/*", "main"));
    }
}
