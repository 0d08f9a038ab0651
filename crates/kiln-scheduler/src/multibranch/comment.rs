//! `issueCommentTrigger`: a comment on a pull/merge request rebuilds its child when the
//! child's pipeline declares a pattern the comment matches (whole, any case, across lines, as
//! the GitHub PR Comment Build plugin matches) and its author has write access to the
//! repository (asked through the forge API, as for trust).

use crate::handle::SchedulerHandle;
use crate::request::TriggerRequest;
use kiln_engine::BuildCause;
use kiln_forge::Permission;
use kiln_types::{BuildRef, JobName};

/// A comment on a change request, from a webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// The request's `BRANCH_NAME`: `PR-42`, `MR-7`.
    pub change: String,
    pub body: String,
    /// Who wrote it, for the forge's write-access question: GitHub's login, GitLab's id.
    pub author_key: String,
    /// How the author is shown (a login, a user name).
    pub author: String,
    /// The build's cause, e.g. `GitHub comment by alice`.
    pub description: String,
}

/// What a comment did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommentOutcome {
    Built(BuildRef),
    /// Why nothing was built.
    Skipped(String),
}

pub(crate) async fn on_comment(
    handle: &SchedulerHandle,
    parent: &str,
    comment: &Comment,
) -> CommentOutcome {
    let skipped = |why: String| CommentOutcome::Skipped(why);
    let shared = handle.shared();
    let Some(job) = shared.job(parent).filter(|j| j.multibranch.is_some()) else {
        return skipped(format!("job `{parent}` is not multibranch"));
    };
    let Ok(name) = JobName::child(&job.name, &comment.change) else {
        return skipped(format!("`{}` cannot name a job", comment.change));
    };
    if shared.children.get(&name).is_none() {
        return skipped(format!("`{name}` has no job"));
    }
    let patterns = match shared.pipeline(name.as_str()) {
        Some(Ok(info)) => info.comment.clone(),
        _ => Vec::new(),
    };
    if !patterns.iter().any(|p| matches(p, &comment.body, &name)) {
        return skipped(format!(
            "the comment matches no `issueCommentTrigger` of `{name}`'s pipeline"
        ));
    }
    match crate::change::permission(shared, &job, &comment.author_key).await {
        Ok(Permission::Write) => {}
        Ok(Permission::ReadOnly) => {
            return skipped(format!(
                "`{}` has no write access to the repository",
                comment.author
            ));
        }
        Err(e) => {
            return skipped(format!(
                "the write access of `{}` could not be checked: {e}",
                comment.author
            ));
        }
    }
    let req = TriggerRequest::new(
        name.as_str(),
        BuildCause::Webhook(comment.description.clone()),
    );
    match handle.trigger(req).await {
        Ok(id) => CommentOutcome::Built(id),
        Err(e) => skipped(e.to_string()),
    }
}

/// Whether `body` matches `pattern` whole, in any case, `.` crossing lines.
fn matches(pattern: &str, body: &str, job: &JobName) -> bool {
    match regex::Regex::new(&format!("(?is)^(?:{pattern})$")) {
        Ok(re) => re.is_match(body.trim_end()),
        Err(e) => {
            tracing::warn!(job = %job, pattern, error = %e, "an issueCommentTrigger pattern is not a valid regular expression");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::matches;
    use kiln_types::JobName;

    #[test]
    fn comments_match_whole_in_any_case_across_lines() {
        let job = JobName::new("app/PR-1").unwrap();
        assert!(matches(".*rebuild.*", "Please REBUILD this", &job));
        assert!(matches(".*rebuild.*", "first line\nrebuild\n", &job));
        assert!(
            !matches("rebuild", "please rebuild", &job),
            "the whole comment"
        );
        assert!(
            !matches("(", "(", &job),
            "an invalid pattern matches nothing"
        );
    }
}
