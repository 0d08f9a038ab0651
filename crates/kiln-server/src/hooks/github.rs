//! GitHub webhook payloads: `push` (branches and tags), `pull_request` and `ping`.

use super::event::{self, ChangeRequest, HookAction, HookEvent, PayloadError};
use serde::Deserialize;

#[derive(Deserialize)]
struct Repository {
    clone_url: String,
    #[serde(default)]
    ssh_url: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
}

impl Repository {
    fn urls(self) -> Vec<String> {
        let mut urls = vec![self.clone_url];
        urls.extend(self.ssh_url);
        urls.extend(self.html_url);
        urls
    }
}

#[derive(Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    #[serde(default)]
    deleted: bool,
    repository: Repository,
    #[serde(default)]
    sender: Option<User>,
}

#[derive(Deserialize)]
struct User {
    login: String,
}

#[derive(Deserialize)]
struct PullRequestEvent {
    action: String,
    number: u64,
    pull_request: PullRequest,
    repository: Repository,
}

#[derive(Deserialize)]
struct PullRequest {
    #[serde(default)]
    title: String,
    head: Head,
    base: Base,
    #[serde(default)]
    user: Option<User>,
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "ref")]
    git_ref: String,
    sha: String,
    /// Null when the fork was deleted.
    #[serde(default)]
    repo: Option<RepoName>,
}

#[derive(Deserialize)]
struct Base {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    repo: Option<RepoName>,
}

#[derive(Deserialize)]
struct RepoName {
    full_name: String,
}

/// Reads a delivery given its `X-GitHub-Event` header.
pub fn parse(event: &str, body: &[u8]) -> Result<HookAction, PayloadError> {
    let err = |source| PayloadError {
        forge: "GitHub",
        event: event.to_string(),
        source,
    };
    match event {
        "ping" => Ok(HookAction::Ignore("pong".into())),
        "push" => serde_json::from_slice::<Push>(body).map(push).map_err(err),
        "pull_request" => serde_json::from_slice::<PullRequestEvent>(body)
            .map(pull_request)
            .map_err(err),
        "issue_comment" => serde_json::from_slice::<IssueCommentEvent>(body)
            .map(issue_comment)
            .map_err(err),
        other => Ok(HookAction::Ignore(format!(
            "event `{other}` is not built (kiln builds push, pull_request and issue_comment)"
        ))),
    }
}

#[derive(Deserialize)]
struct IssueCommentEvent {
    action: String,
    issue: Issue,
    comment: IssueComment,
    repository: Repository,
}

#[derive(Deserialize)]
struct Issue {
    number: u64,
    /// Present when the issue is a pull request.
    #[serde(default)]
    pull_request: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct IssueComment {
    body: String,
    user: User,
}

fn issue_comment(e: IssueCommentEvent) -> HookAction {
    if e.action != "created" {
        return HookAction::Ignore(format!("comment action `{}` is not built", e.action));
    }
    if e.issue.pull_request.is_none() {
        return HookAction::Ignore("a comment on an issue, not a pull request".into());
    }
    let login = e.comment.user.login;
    HookEvent::comment(
        e.repository.urls(),
        kiln_scheduler::Comment {
            change: format!("PR-{}", e.issue.number),
            body: e.comment.body,
            author_key: login.clone(),
            description: format!(
                "GitHub comment by {login} on pull request #{}",
                e.issue.number
            ),
            author: login,
        },
    )
}

fn push(p: Push) -> HookAction {
    HookEvent::pushed(event::Push {
        forge: "GitHub",
        repo_urls: p.repository.urls(),
        tag_push: p.git_ref.starts_with("refs/tags/"),
        git_ref: p.git_ref,
        commit: p.after,
        deleted: p.deleted,
        by: p.sender.map(|s| s.login),
    })
}

fn pull_request(e: PullRequestEvent) -> HookAction {
    if e.action == "closed" {
        return HookEvent::closed_change(
            format!("GitHub pull request #{} closed", e.number),
            e.repository.urls(),
            e.pull_request.base.git_ref,
            format!("PR-{}", e.number),
        );
    }
    if !matches!(e.action.as_str(), "opened" | "synchronize" | "reopened") {
        return HookAction::Ignore(format!("pull request action `{}` is not built", e.action));
    }
    let pr = e.pull_request;
    let fork = match (&pr.head.repo, &pr.base.repo) {
        (Some(head), Some(base)) => head.full_name != base.full_name,
        (None, Some(_)) => true,
        // A payload without repositories: the same repository, as in GitHub's examples of
        // the field's absence.
        (_, None) => false,
    };
    let login = pr.user.map(|u| u.login);
    HookAction::Build(HookEvent::change_request(
        format!("GitHub pull request #{}", e.number),
        e.repository.urls(),
        ChangeRequest {
            id: e.number.to_string(),
            target: pr.base.git_ref,
            source_branch: pr.head.git_ref,
            title: pr.title,
            author: login.clone(),
            commit: pr.head.sha,
            prefix: "PR",
            fork,
            author_key: login,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPO: &str = r#""repository":{"clone_url":"https://github.com/o/r.git","ssh_url":"git@github.com:o/r.git","html_url":"https://github.com/o/r"}"#;

    fn build(event: &str, body: &str) -> HookEvent {
        match parse(event, body.as_bytes()).unwrap() {
            HookAction::Build(e) => e,
            HookAction::Ignore(why) => panic!("ignored: {why}"),
            HookAction::Gone(_, gone) => panic!("gone: {gone:?}"),
            HookAction::Comment(_, c) => panic!("comment: {c:?}"),
        }
    }

    #[test]
    fn push_to_a_branch() {
        let e = build(
            "push",
            &format!(
                r#"{{"ref":"refs/heads/main","after":"abc","sender":{{"login":"al"}},{REPO}}}"#
            ),
        );
        assert_eq!(e.branch.as_deref(), Some("main"));
        assert_eq!(e.commit.as_deref(), Some("abc"));
        assert_eq!(e.description, "GitHub push by al");
        assert_eq!(e.repo_urls.len(), 3);
    }

    #[test]
    fn push_of_a_tag() {
        let e = build(
            "push",
            &format!(r#"{{"ref":"refs/tags/v1.0","after":"abc",{REPO}}}"#),
        );
        assert_eq!((e.branch, e.tag.as_deref()), (None, Some("v1.0")));
    }

    #[test]
    fn deleted_branch_is_gone() {
        let body =
            format!(r#"{{"ref":"refs/heads/x","after":"0000000000","deleted":true,{REPO}}}"#);
        assert!(matches!(
            parse("push", body.as_bytes()).unwrap(),
            HookAction::Gone(_, kiln_scheduler::Gone::Branch(b)) if b == "x"
        ));
    }

    #[test]
    fn pull_request_builds_the_head_against_the_base() {
        let body = format!(
            r#"{{"action":"opened","number":7,"pull_request":{{"title":"t","head":{{"ref":"feat","sha":"h1"}},"base":{{"ref":"main"}}}},{REPO}}}"#
        );
        let e = build("pull_request", &body);
        assert_eq!(e.branch.as_deref(), Some("main"));
        assert_eq!(e.commit.as_deref(), Some("h1"));
        assert_eq!(e.change["CHANGE_ID"], "7");
        assert_eq!(e.change["CHANGE_BRANCH"], "feat");
    }

    #[test]
    fn closed_pull_request_is_gone() {
        let body = format!(
            r#"{{"action":"closed","number":7,"pull_request":{{"head":{{"ref":"f","sha":"h"}},"base":{{"ref":"main"}}}},{REPO}}}"#
        );
        assert!(matches!(
            parse("pull_request", body.as_bytes()).unwrap(),
            HookAction::Gone(_, kiln_scheduler::Gone::Change(c)) if c == "PR-7"
        ));
        let body = format!(
            r#"{{"action":"labeled","number":7,"pull_request":{{"head":{{"ref":"f","sha":"h"}},"base":{{"ref":"main"}}}},{REPO}}}"#
        );
        assert!(matches!(
            parse("pull_request", body.as_bytes()).unwrap(),
            HookAction::Ignore(_)
        ));
    }

    #[test]
    fn malformed_payload_names_what_is_missing() {
        let err = parse("push", br#"{"after":"abc"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid GitHub `push` payload: missing field `ref`"),
            "{err}"
        );
        let err = parse("push", b"not json").unwrap_err().to_string();
        assert!(err.contains("expected"), "{err}");
    }
}
