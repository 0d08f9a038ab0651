//! The forge REST calls kiln makes: post a commit status, read a user's permission.

use crate::changes::PageHeaders;
use crate::{CommitStatus, ForgeTarget};
use kiln_config::ForgeKind;
use std::time::Duration;

/// How long one API call may take.
const TIMEOUT: Duration = Duration::from_secs(20);
/// GitHub refuses longer descriptions.
const MAX_DESCRIPTION: usize = 140;
/// What of an error answer is kept for the message.
const MAX_ERROR_BODY: usize = 512;

/// A failed API call.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    #[error("{method} {url}: {source}")]
    Transport {
        method: &'static str,
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("{method} {url} answered {status}: {body}")]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url}: unexpected answer: {reason}")]
    Answer { url: String, reason: String },
}

impl ForgeError {
    /// Whether trying again later may help (network errors, rate limits, server errors).
    pub fn is_transient(&self) -> bool {
        match self {
            ForgeError::Transport { .. } => true,
            ForgeError::Status { status, .. } => *status == 429 || *status >= 500,
            ForgeError::Answer { .. } => false,
        }
    }

    /// The forge refused the call's credentials (401).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, ForgeError::Status { status: 401, .. })
    }
}

/// What a user may do to the repository, as far as trusting their changes goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Write (push) access or more.
    Write,
    /// Read access, or none.
    ReadOnly,
}

/// One forge connection, with its token.
pub struct ForgeClient {
    target: ForgeTarget,
    token: Option<String>,
    agent: ureq::Agent,
}

impl ForgeClient {
    pub fn new(target: ForgeTarget, token: Option<String>) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .user_agent("kiln")
            .build();
        ForgeClient {
            target,
            token,
            agent: ureq::Agent::new_with_config(config),
        }
    }

    pub fn target(&self) -> &ForgeTarget {
        &self.target
    }

    /// The token the client's calls carry.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// GitHub `POST /repos/{owner}/{repo}/statuses/{sha}`, GitLab
    /// `POST /projects/{id}/statuses/{sha}`.
    pub fn post_status(&self, status: &CommitStatus) -> Result<(), ForgeError> {
        let kind = self.target.kind;
        let description = truncate(&status.description, MAX_DESCRIPTION);
        let mut body = serde_json::json!({
            "state": status.state.api_name(kind),
            "description": description,
        });
        let name = match kind {
            ForgeKind::GitHub => "context",
            ForgeKind::GitLab => "name",
        };
        body[name] = status.context.clone().into();
        if let Some(url) = &status.target_url {
            body["target_url"] = url.clone().into();
        }
        if let (ForgeKind::GitLab, Some(git_ref)) = (kind, &status.git_ref) {
            body["ref"] = git_ref.clone().into();
        }
        let url = format!("{}/statuses/{}", self.repo_base(), encode(&status.sha));
        let request = self.auth(self.agent.post(&url));
        let response = request
            .content_type("application/json")
            .send(body.to_string());
        self.answer("POST", &url, response).map(|_| ())
    }

    /// Whether `user` may push to the repository. GitHub: the login, through
    /// `GET /repos/{owner}/{repo}/collaborators/{user}/permission`; GitLab: the user's numeric
    /// id, through `GET /projects/{id}/members/all/{user_id}` (Developer or above writes).
    pub fn permission(&self, user: &str) -> Result<Permission, ForgeError> {
        let url = match self.target.kind {
            ForgeKind::GitHub => {
                format!(
                    "{}/collaborators/{}/permission",
                    self.repo_base(),
                    encode(user)
                )
            }
            ForgeKind::GitLab => format!("{}/members/all/{}", self.repo_base(), encode(user)),
        };
        let response = self.auth(self.agent.get(&url)).call();
        let text = match self.answer("GET", &url, response) {
            Ok(text) => text,
            Err(ForgeError::Status { status: 404, .. }) => return Ok(Permission::ReadOnly),
            Err(e) => return Err(e),
        };
        let bad = |reason: &str| ForgeError::Answer {
            url: url.clone(),
            reason: reason.to_owned(),
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
        let write = match self.target.kind {
            ForgeKind::GitHub => {
                let p = value["permission"]
                    .as_str()
                    .ok_or_else(|| bad("no `permission` string"))?;
                matches!(p, "admin" | "maintain" | "write")
            }
            ForgeKind::GitLab => {
                value["access_level"]
                    .as_u64()
                    .ok_or_else(|| bad("no `access_level` number"))?
                    >= 30
            }
        };
        Ok(if write {
            Permission::Write
        } else {
            Permission::ReadOnly
        })
    }

    /// `{api}/repos/{owner}/{repo}` or `{api}/projects/{url-encoded path}`.
    pub(crate) fn repo_base(&self) -> String {
        let t = &self.target;
        match t.kind {
            ForgeKind::GitHub => format!("{}/repos/{}", t.api_url, t.repository),
            ForgeKind::GitLab => format!("{}/projects/{}", t.api_url, encode(&t.repository)),
        }
    }

    /// A JSON call authenticated by the client's token.
    pub(crate) fn call_json(
        &self,
        method: &'static str,
        url: &str,
        body: String,
    ) -> Result<String, ForgeError> {
        let request = match method {
            "PATCH" => self.auth(self.agent.patch(url)),
            "PUT" => self.auth(self.agent.put(url)),
            _ => self.auth(self.agent.post(url)),
        };
        let response = request.content_type("application/json").send(body);
        self.answer(method, url, response)
    }

    /// A call authenticated by `bearer` (a GitHub App's JWT) instead of the client's token.
    pub(crate) fn call_with_bearer(
        &self,
        method: &'static str,
        url: &str,
        bearer: &str,
        body: Option<String>,
    ) -> Result<String, ForgeError> {
        let auth = format!("Bearer {bearer}");
        let response = match body {
            None => self
                .agent
                .get(url)
                .header("Accept", "application/vnd.github+json")
                .header("Authorization", &auth)
                .call(),
            Some(body) => self
                .agent
                .post(url)
                .header("Accept", "application/vnd.github+json")
                .header("Authorization", &auth)
                .content_type("application/json")
                .send(body),
        };
        self.answer(method, url, response)
    }

    /// A GET of one page of a list: its body and the headers naming the next page.
    pub(crate) fn get_page(&self, url: &str) -> Result<(String, PageHeaders), ForgeError> {
        let response = self.auth(self.agent.get(url)).call();
        let mut headers = PageHeaders::default();
        if let Ok(r) = &response {
            let header = |name: &str| {
                r.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            headers.link = header("link");
            headers.next_page = header("x-next-page");
        }
        let text = self.answer("GET", url, response)?;
        Ok((text, headers))
    }

    fn auth<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        let request = match self.target.kind {
            ForgeKind::GitHub => request
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28"),
            ForgeKind::GitLab => request,
        };
        match (&self.token, self.target.kind) {
            (Some(t), ForgeKind::GitHub) => request.header("Authorization", &format!("Bearer {t}")),
            (Some(t), ForgeKind::GitLab) => request.header("PRIVATE-TOKEN", t),
            (None, _) => request,
        }
    }

    /// The body of a 2xx answer; any other status is an error with the start of its body.
    fn answer(
        &self,
        method: &'static str,
        url: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<String, ForgeError> {
        let mut response = response.map_err(|source| ForgeError::Transport {
            method,
            url: url.to_owned(),
            source: Box::new(source),
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .unwrap_or_default();
        if (200..300).contains(&status) {
            return Ok(text);
        }
        Err(ForgeError::Status {
            method,
            url: url.to_owned(),
            status,
            body: truncate(&text, MAX_ERROR_BODY),
        })
    }
}

/// Percent-encodes a path segment (GitLab's `group%2Fproject` among others).
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitlab_project_paths_are_one_segment() {
        assert_eq!(encode("group/sub/my.project"), "group%2Fsub%2Fmy.project");
        assert_eq!(encode("abc123"), "abc123");
    }

    #[test]
    fn long_descriptions_are_cut_on_a_character() {
        assert_eq!(truncate("ééé", 3), "é");
        assert_eq!(truncate("abc", 5), "abc");
    }
}
