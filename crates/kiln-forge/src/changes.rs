//! The open pull/merge requests of a repository, as a multibranch scan lists them: GitHub's
//! `GET /repos/{owner}/{repo}/pulls?state=open`, GitLab's
//! `GET /projects/{id}/merge_requests?state=opened`, page after page.

use crate::client::{ForgeClient, ForgeError};
use kiln_config::ForgeKind;
use serde_json::Value;

/// Requests asked for per page (the most both forges give).
const PER_PAGE: u32 = 100;
/// Pages read at most (10,000 requests); a forge that keeps answering `next` is cut there.
const MAX_PAGES: usize = 100;

/// One open pull or merge request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenChange {
    /// GitHub's number, GitLab's `iid`.
    pub id: u64,
    /// The branch it merges into.
    pub target: String,
    /// Its source branch (in the fork, when it comes from one).
    pub source_branch: String,
    /// The commit at its head.
    pub head: String,
    pub title: String,
    /// The author's login (GitHub) or username (GitLab), for `CHANGE_AUTHOR`.
    pub author: Option<String>,
    /// Whom the forge is asked about for write access: GitHub's login, GitLab's user id.
    pub author_key: Option<String>,
    /// It comes from another repository (a fork).
    pub fork: bool,
}

impl OpenChange {
    /// `PR-42` on GitHub, `MR-42` on GitLab, as Jenkins names a request's branch.
    pub fn branch_name(&self, kind: ForgeKind) -> String {
        match kind {
            ForgeKind::GitHub => format!("PR-{}", self.id),
            ForgeKind::GitLab => format!("MR-{}", self.id),
        }
    }
}

impl ForgeClient {
    /// Every open pull (GitHub) or merge (GitLab) request of the repository, following the
    /// answers' `Link: <...>; rel="next"` (GitLab: also `X-Next-Page`) within the API.
    pub fn open_changes(&self) -> Result<Vec<OpenChange>, ForgeError> {
        let kind = self.target().kind;
        let first = match kind {
            ForgeKind::GitHub => {
                format!("{}/pulls?state=open&per_page={PER_PAGE}", self.repo_base())
            }
            ForgeKind::GitLab => format!(
                "{}/merge_requests?state=opened&per_page={PER_PAGE}",
                self.repo_base()
            ),
        };
        let mut changes = Vec::new();
        let mut next = Some(first);
        let mut seen = Vec::new();
        while let Some(url) = next.take() {
            if seen.len() >= MAX_PAGES || seen.contains(&url) {
                tracing::warn!(url = %url, pages = seen.len(), "the forge keeps paging: the list of open requests is cut");
                break;
            }
            let (text, headers) = self.get_page(&url)?;
            let value: Value = serde_json::from_str(&text).map_err(|e| ForgeError::Answer {
                url: url.clone(),
                reason: format!("not JSON: {e}"),
            })?;
            let Some(items) = value.as_array() else {
                return Err(ForgeError::Answer {
                    url,
                    reason: "not a list of requests".into(),
                });
            };
            for item in items {
                let change = match kind {
                    ForgeKind::GitHub => github(item),
                    ForgeKind::GitLab => gitlab(item),
                };
                changes.push(change.map_err(|reason| ForgeError::Answer {
                    url: url.clone(),
                    reason,
                })?);
            }
            next = next_page(&url, &headers, &self.target().api_url);
            seen.push(url);
        }
        Ok(changes)
    }
}

/// The headers that say where the next page is.
#[derive(Default)]
pub(crate) struct PageHeaders {
    pub link: Option<String>,
    pub next_page: Option<String>,
}

/// The next page's URL: the `Link` header's `rel="next"`, else GitLab's `X-Next-Page` number
/// in the current URL. A URL outside `api_url` is not followed (the token goes with it).
fn next_page(url: &str, headers: &PageHeaders, api_url: &str) -> Option<String> {
    let from_link = headers.link.as_deref().and_then(|link| {
        link.split(',').find_map(|part| {
            let (target, params) = part.trim().split_once(';')?;
            let is_next = params
                .split(';')
                .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            is_next.then(|| target.to_owned())
        })
    });
    let next = from_link.or_else(|| {
        let page = headers.next_page.as_deref()?.trim();
        if page.is_empty() || !page.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut params: Vec<String> = query
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("page="))
            .map(str::to_owned)
            .collect();
        params.push(format!("page={page}"));
        Some(format!("{base}?{}", params.join("&")))
    })?;
    let inside = next
        .strip_prefix(api_url)
        .is_some_and(|rest| rest.starts_with('/'));
    if !inside {
        tracing::warn!(next = %next, api = api_url, "the forge's next page is outside its API: not followed");
        return None;
    }
    Some(next)
}

fn text(item: &Value, path: &[&str]) -> Option<String> {
    let mut v = item;
    for key in path {
        v = v.get(key)?;
    }
    v.as_str().map(str::to_owned)
}

fn required(item: &Value, path: &[&str]) -> Result<String, String> {
    text(item, path).ok_or_else(|| format!("a request without a `{}` string", path.join(".")))
}

fn number(item: &Value, key: &str) -> Result<u64, String> {
    item.get(key)
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("a request without a `{key}` number"))
}

/// One element of GitHub's list of pulls.
fn github(item: &Value) -> Result<OpenChange, String> {
    let id = number(item, "number")?;
    let head_repo = text(item, &["head", "repo", "full_name"]);
    let base_repo = text(item, &["base", "repo", "full_name"]);
    let fork = match (head_repo, base_repo) {
        (Some(head), Some(base)) => head != base,
        // The fork was deleted: its head repository is null.
        (None, Some(_)) => true,
        (_, None) => false,
    };
    let login = text(item, &["user", "login"]);
    Ok(OpenChange {
        id,
        target: required(item, &["base", "ref"])?,
        source_branch: required(item, &["head", "ref"])?,
        head: required(item, &["head", "sha"])?,
        title: text(item, &["title"]).unwrap_or_default(),
        author: login.clone(),
        author_key: login,
        fork,
    })
}

/// One element of GitLab's list of merge requests.
fn gitlab(item: &Value) -> Result<OpenChange, String> {
    let id = number(item, "iid")?;
    let source = item.get("source_project_id").and_then(Value::as_u64);
    let target = item.get("target_project_id").and_then(Value::as_u64);
    Ok(OpenChange {
        id,
        target: required(item, &["target_branch"])?,
        source_branch: required(item, &["source_branch"])?,
        head: required(item, &["sha"])?,
        title: text(item, &["title"]).unwrap_or_default(),
        author: text(item, &["author", "username"]),
        author_key: item
            .get("author")
            .and_then(|a| a.get("id"))
            .and_then(Value::as_u64)
            .map(|id| id.to_string()),
        fork: source != target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(link: Option<&str>, next: Option<&str>) -> PageHeaders {
        PageHeaders {
            link: link.map(str::to_owned),
            next_page: next.map(str::to_owned),
        }
    }

    #[test]
    fn the_link_headers_next_is_followed() {
        let link = r#"<http://h/api/v3/repos/o/r/pulls?page=3>; rel="next", <http://h/api/v3/repos/o/r/pulls?page=9>; rel="last""#;
        assert_eq!(
            next_page(
                "http://h/api/v3/x",
                &headers(Some(link), None),
                "http://h/api/v3"
            ),
            Some("http://h/api/v3/repos/o/r/pulls?page=3".into())
        );
        let last = r#"<http://h/api/v3/repos/o/r/pulls?page=1>; rel="first""#;
        assert_eq!(
            next_page(
                "http://h/api/v3/x",
                &headers(Some(last), None),
                "http://h/api/v3"
            ),
            None
        );
    }

    #[test]
    fn gitlabs_next_page_number_replaces_the_page() {
        let url = "http://h/api/v4/projects/g%2Fp/merge_requests?state=opened&page=1&per_page=2";
        assert_eq!(
            next_page(url, &headers(None, Some("2")), "http://h/api/v4"),
            Some(
                "http://h/api/v4/projects/g%2Fp/merge_requests?state=opened&per_page=2&page=2"
                    .into()
            )
        );
        assert_eq!(
            next_page(url, &headers(None, Some("")), "http://h/api/v4"),
            None
        );
    }

    #[test]
    fn a_next_page_on_another_host_is_not_followed() {
        let link = r#"<http://evil/api/v3/pulls?page=2>; rel="next""#;
        assert_eq!(
            next_page(
                "http://h/api/v3/x",
                &headers(Some(link), None),
                "http://h/api/v3"
            ),
            None
        );
        let prefix = r#"<http://h/api/v3evil/pulls?page=2>; rel="next""#;
        assert_eq!(
            next_page(
                "http://h/api/v3/x",
                &headers(Some(prefix), None),
                "http://h/api/v3"
            ),
            None
        );
    }

    #[test]
    fn pulls_and_merge_requests_are_read() {
        let pr: Value = serde_json::from_str(
            r#"{"number":7,"title":"t","user":{"login":"al"},
                "head":{"ref":"feat","sha":"c1","repo":{"full_name":"al/app"}},
                "base":{"ref":"main","repo":{"full_name":"acme/app"}}}"#,
        )
        .unwrap();
        let c = github(&pr).unwrap();
        assert_eq!((c.id, c.fork, c.head.as_str()), (7, true, "c1"));
        assert_eq!(c.branch_name(ForgeKind::GitHub), "PR-7");
        let mr: Value = serde_json::from_str(
            r#"{"iid":3,"title":"t","author":{"id":12,"username":"al"},"sha":"c3",
                "source_branch":"f","target_branch":"main",
                "source_project_id":5,"target_project_id":5}"#,
        )
        .unwrap();
        let c = gitlab(&mr).unwrap();
        assert_eq!(
            (c.id, c.fork, c.author_key.as_deref()),
            (3, false, Some("12"))
        );
        let bad: Value = serde_json::from_str(r#"{"iid":3}"#).unwrap();
        assert_eq!(
            gitlab(&bad).unwrap_err(),
            "a request without a `target_branch` string"
        );
    }
}
