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
    /// For change requests: the build's `BRANCH_NAME`, where it comes from, who wrote it.
    pub request: Option<RequestOrigin>,
}

/// Where a change request comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestOrigin {
    /// `PR-42` (GitHub) or `MR-42` (GitLab), as Jenkins names their builds.
    pub branch_name: String,
    /// From another repository than the target's.
    pub fork: bool,
    /// Whom to ask the forge about for write access: GitHub's login, GitLab's user id.
    pub author_key: Option<String>,
}

/// A pull or merge request, whichever forge sent it.
pub struct ChangeRequest {
    pub id: String,
    pub target: String,
    pub source_branch: String,
    pub title: String,
    pub author: Option<String>,
    /// The head commit of the change, which is what gets built.
    pub commit: String,
    /// `PR` or `MR`.
    pub prefix: &'static str,
    pub fork: bool,
    pub author_key: Option<String>,
}

impl HookEvent {
    /// A change request to build at its head commit, with Jenkins' `CHANGE_*` variables;
    /// jobs are matched by the target branch.
    pub fn change_request(description: String, repo_urls: Vec<String>, cr: ChangeRequest) -> Self {
        let mut change = BTreeMap::new();
        let request = RequestOrigin {
            branch_name: format!("{}-{}", cr.prefix, cr.id),
            fork: cr.fork,
            author_key: cr.author_key,
        };
        change.insert("CHANGE_ID".into(), cr.id);
        change.insert("CHANGE_TARGET".into(), cr.target.clone());
        change.insert("CHANGE_BRANCH".into(), cr.source_branch);
        change.insert("CHANGE_TITLE".into(), cr.title);
        if let Some(author) = cr.author {
            change.insert("CHANGE_AUTHOR".into(), author);
        }
        HookEvent {
            description,
            repo_urls,
            branch: Some(cr.target),
            tag: None,
            commit: Some(cr.commit),
            change,
            request: Some(request),
        }
    }
}

/// What a webhook delivery amounts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookAction {
    /// Build the matching jobs.
    Build(HookEvent),
    /// A branch or tag was deleted, a change request closed: multibranch jobs orphan its
    /// child. `branch`/`tag` of the event name it (for matching jobs).
    Gone(HookEvent, kiln_scheduler::Gone),
    /// A comment on a change request (`issueCommentTrigger`); the event names the repository.
    Comment(HookEvent, kiln_scheduler::Comment),
    /// Nothing to build (a ping, an unknown event); the reason is answered.
    Ignore(String),
}

impl HookEvent {
    /// A deleted branch or tag of the repository at `repo_urls`.
    pub fn deleted_ref(description: String, repo_urls: Vec<String>, git_ref: &str) -> HookAction {
        let (branch, tag) = split_ref(git_ref);
        let gone = match (&branch, &tag) {
            (Some(b), _) => kiln_scheduler::Gone::Branch(b.clone()),
            (None, Some(t)) => kiln_scheduler::Gone::Tag(t.clone()),
            (None, None) => {
                return HookAction::Ignore(format!(
                    "ref `{git_ref}` is neither a branch nor a tag"
                ));
            }
        };
        let event = HookEvent {
            description,
            repo_urls,
            branch,
            tag,
            commit: None,
            change: BTreeMap::new(),
            request: None,
        };
        HookAction::Gone(event, gone)
    }

    /// A comment on the repository's change request.
    pub fn comment(repo_urls: Vec<String>, comment: kiln_scheduler::Comment) -> HookAction {
        let event = HookEvent {
            description: comment.description.clone(),
            repo_urls,
            branch: None,
            tag: None,
            commit: None,
            change: BTreeMap::new(),
            request: None,
        };
        HookAction::Comment(event, comment)
    }

    /// A closed (or merged) change request `PREFIX-ID` into `target`.
    pub fn closed_change(
        description: String,
        repo_urls: Vec<String>,
        target: String,
        branch_name: String,
    ) -> HookAction {
        let event = HookEvent {
            description,
            repo_urls,
            branch: Some(target),
            tag: None,
            commit: None,
            change: BTreeMap::new(),
            request: Some(RequestOrigin {
                branch_name: branch_name.clone(),
                fork: false,
                author_key: None,
            }),
        };
        HookAction::Gone(event, kiln_scheduler::Gone::Change(branch_name))
    }
}

/// A push to a branch or tag, whichever forge sent it.
pub struct Push {
    /// `GitHub` or `GitLab`, for the description.
    pub forge: &'static str,
    pub repo_urls: Vec<String>,
    pub git_ref: String,
    /// The ref's new commit: all zeros when the push deleted it.
    pub commit: String,
    /// The forge says the push deleted the ref.
    pub deleted: bool,
    /// Who pushed.
    pub by: Option<String>,
    /// The forge calls it a tag push.
    pub tag_push: bool,
}

impl HookEvent {
    /// A push: the ref deleted, or a build of the branch or tag at its new commit (another
    /// kind of ref is ignored).
    pub fn pushed(p: Push) -> HookAction {
        if p.deleted || is_deletion(&p.commit) {
            let what = format!("{} deletion of `{}`", p.forge, p.git_ref);
            return HookEvent::deleted_ref(what, p.repo_urls, &p.git_ref);
        }
        let (branch, tag) = split_ref(&p.git_ref);
        if branch.is_none() && tag.is_none() {
            return HookAction::Ignore(format!(
                "ref `{}` is neither a branch nor a tag",
                p.git_ref
            ));
        }
        let by = p.by.map(|u| format!(" by {u}")).unwrap_or_default();
        let what = if p.tag_push { "tag push" } else { "push" };
        HookAction::Build(HookEvent {
            description: format!("{} {what}{by}", p.forge),
            repo_urls: p.repo_urls,
            branch,
            tag,
            commit: Some(p.commit),
            change: BTreeMap::new(),
            request: None,
        })
    }
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
