//! GitLab webhook payloads: `Push Hook`, `Tag Push Hook`, `Merge Request Hook` and `Note Hook`.

use super::event::{self, ChangeRequest, HookAction, HookEvent, PayloadError};
use serde::Deserialize;

#[derive(Deserialize)]
struct Project {
    git_http_url: String,
    #[serde(default)]
    git_ssh_url: Option<String>,
    #[serde(default)]
    web_url: Option<String>,
}

impl Project {
    fn urls(self) -> Vec<String> {
        let mut urls = vec![self.git_http_url];
        urls.extend(self.git_ssh_url);
        urls.extend(self.web_url);
        urls
    }
}

#[derive(Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    #[serde(default)]
    checkout_sha: Option<String>,
    #[serde(default)]
    user_username: Option<String>,
    project: Project,
}

#[derive(Deserialize)]
struct MergeRequest {
    #[serde(default)]
    user: Option<User>,
    project: Project,
    object_attributes: MergeAttributes,
}

#[derive(Deserialize)]
struct User {
    username: String,
}

#[derive(Deserialize)]
struct MergeAttributes {
    iid: u64,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    title: String,
    source_branch: String,
    target_branch: String,
    last_commit: Commit,
    #[serde(default)]
    source_project_id: Option<u64>,
    #[serde(default)]
    target_project_id: Option<u64>,
    #[serde(default)]
    author_id: Option<u64>,
}

#[derive(Deserialize)]
struct Commit {
    id: String,
}

/// Reads a delivery given its `X-Gitlab-Event` header.
pub fn parse(event: &str, body: &[u8]) -> Result<HookAction, PayloadError> {
    let err = |source| PayloadError {
        forge: "GitLab",
        event: event.to_string(),
        source,
    };
    match event {
        "Push Hook" | "Tag Push Hook" => serde_json::from_slice::<Push>(body)
            .map(|p| push(p, event == "Tag Push Hook"))
            .map_err(err),
        "Merge Request Hook" => serde_json::from_slice::<MergeRequest>(body)
            .map(merge_request)
            .map_err(err),
        "Note Hook" => serde_json::from_slice::<Note>(body).map(note).map_err(err),
        other => Ok(HookAction::Ignore(format!(
            "event `{other}` is not built (kiln takes Push Hook, Tag Push Hook, Merge Request Hook and Note Hook)"
        ))),
    }
}

#[derive(Deserialize)]
struct Note {
    user: NoteUser,
    project: Project,
    object_attributes: NoteAttributes,
    #[serde(default)]
    merge_request: Option<NoteRequest>,
}

#[derive(Deserialize)]
struct NoteUser {
    id: u64,
    username: String,
}

#[derive(Deserialize)]
struct NoteAttributes {
    note: String,
    noteable_type: String,
}

#[derive(Deserialize)]
struct NoteRequest {
    iid: u64,
}

fn note(n: Note) -> HookAction {
    let Some(mr) = n
        .merge_request
        .filter(|_| n.object_attributes.noteable_type == "MergeRequest")
    else {
        return HookAction::Ignore("a note on something else than a merge request".into());
    };
    HookEvent::comment(
        n.project.urls(),
        kiln_scheduler::Comment {
            change: format!("MR-{}", mr.iid),
            body: n.object_attributes.note,
            author_key: n.user.id.to_string(),
            description: format!(
                "GitLab note by {} on merge request !{}",
                n.user.username, mr.iid
            ),
            author: n.user.username,
        },
    )
}

fn push(p: Push, tag_push: bool) -> HookAction {
    HookEvent::pushed(event::Push {
        forge: "GitLab",
        repo_urls: p.project.urls(),
        git_ref: p.git_ref,
        commit: p.checkout_sha.filter(|c| !c.is_empty()).unwrap_or(p.after),
        deleted: false,
        by: p.user_username,
        tag_push,
    })
}

fn merge_request(m: MergeRequest) -> HookAction {
    let attrs = m.object_attributes;
    let action = attrs.action.unwrap_or_else(|| "open".into());
    if matches!(action.as_str(), "close" | "merge") {
        return HookEvent::closed_change(
            format!("GitLab merge request !{} {action}d", attrs.iid),
            m.project.urls(),
            attrs.target_branch,
            format!("MR-{}", attrs.iid),
        );
    }
    if !matches!(action.as_str(), "open" | "reopen" | "update") {
        return HookAction::Ignore(format!("merge request action `{action}` is not built"));
    }
    HookAction::Build(HookEvent::change_request(
        format!("GitLab merge request !{}", attrs.iid),
        m.project.urls(),
        ChangeRequest {
            id: attrs.iid.to_string(),
            target: attrs.target_branch,
            source_branch: attrs.source_branch,
            title: attrs.title,
            author: m.user.map(|u| u.username),
            commit: attrs.last_commit.id,
            prefix: "MR",
            fork: attrs.source_project_id != attrs.target_project_id,
            author_key: attrs.author_id.map(|id| id.to_string()),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROJECT: &str = r#""project":{"git_http_url":"https://gitlab.com/o/r.git","git_ssh_url":"git@gitlab.com:o/r.git","web_url":"https://gitlab.com/o/r"}"#;

    fn build(event: &str, body: &str) -> HookEvent {
        match parse(event, body.as_bytes()).unwrap() {
            HookAction::Build(e) => e,
            HookAction::Ignore(why) => panic!("ignored: {why}"),
            HookAction::Gone(_, gone) => panic!("gone: {gone:?}"),
            HookAction::Comment(_, c) => panic!("comment: {c:?}"),
        }
    }

    #[test]
    fn push_hook() {
        let e = build(
            "Push Hook",
            &format!(
                r#"{{"ref":"refs/heads/dev","after":"c1","checkout_sha":"c1","user_username":"bo",{PROJECT}}}"#
            ),
        );
        assert_eq!(
            (e.branch.as_deref(), e.commit.as_deref()),
            (Some("dev"), Some("c1"))
        );
        assert_eq!(e.description, "GitLab push by bo");
    }

    #[test]
    fn tag_push_hook() {
        let e = build(
            "Tag Push Hook",
            &format!(r#"{{"ref":"refs/tags/v2","after":"c2",{PROJECT}}}"#),
        );
        assert_eq!(e.tag.as_deref(), Some("v2"));
    }

    #[test]
    fn merge_request_hook() {
        let body = format!(
            r#"{{"object_attributes":{{"iid":3,"action":"update","source_branch":"f","target_branch":"main","last_commit":{{"id":"c3"}}}},{PROJECT}}}"#
        );
        let e = build("Merge Request Hook", &body);
        assert_eq!(
            (e.branch.as_deref(), e.commit.as_deref()),
            (Some("main"), Some("c3"))
        );
        assert_eq!(e.change["CHANGE_ID"], "3");
    }

    #[test]
    fn a_note_on_a_merge_request_is_a_comment() {
        let body = format!(
            r#"{{"user":{{"id":12,"username":"al"}},"object_attributes":{{"note":"rebuild","noteable_type":"MergeRequest"}},"merge_request":{{"iid":4}},{PROJECT}}}"#
        );
        let HookAction::Comment(_, c) = parse("Note Hook", body.as_bytes()).unwrap() else {
            panic!("not a comment");
        };
        assert_eq!(
            (c.change.as_str(), c.author_key.as_str(), c.body.as_str()),
            ("MR-4", "12", "rebuild")
        );
        let body = format!(
            r#"{{"user":{{"id":12,"username":"al"}},"object_attributes":{{"note":"x","noteable_type":"Issue"}},{PROJECT}}}"#
        );
        assert!(matches!(
            parse("Note Hook", body.as_bytes()).unwrap(),
            HookAction::Ignore(_)
        ));
    }

    #[test]
    fn merged_merge_request_and_deleted_branch_are_gone() {
        let body = format!(
            r#"{{"object_attributes":{{"iid":3,"action":"merge","source_branch":"f","target_branch":"main","last_commit":{{"id":"c3"}}}},{PROJECT}}}"#
        );
        assert!(matches!(
            parse("Merge Request Hook", body.as_bytes()).unwrap(),
            HookAction::Gone(_, kiln_scheduler::Gone::Change(c)) if c == "MR-3"
        ));
        let body = format!(
            r#"{{"ref":"refs/tags/v1","after":"0000000000000000000000000000000000000000",{PROJECT}}}"#
        );
        assert!(matches!(
            parse("Tag Push Hook", body.as_bytes()).unwrap(),
            HookAction::Gone(_, kiln_scheduler::Gone::Tag(t)) if t == "v1"
        ));
    }

    #[test]
    fn malformed_merge_request_names_the_field() {
        let err = parse("Merge Request Hook", format!("{{{PROJECT}}}").as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `object_attributes`"), "{err}");
    }
}
