//! A fake forge: the GitHub and GitLab REST routes kiln calls, on the recording HTTP server.
//! GitHub answers under `/api/v3` (as GitHub Enterprise does), GitLab under `/api/v4`.
//! Tokens are checked (`Bearer TOKEN` / `PRIVATE-TOKEN`), permissions come from the test, and
//! the next N status posts can be made to fail with 503 to exercise retries. The open pull
//! and merge requests set by the test are listed two per page (GitHub: `Link` headers;
//! GitLab: `X-Next-Page`). As a GitHub App's side, it checks the app's JWT against the app's
//! public key (`github_app_pub.pem`, the pair of the test key `github_app_key.pem`) before it
//! hands out an installation token (a new one each time, with the `expires_at` the test
//! sets; the test may revoke those handed out), and records check runs made with a valid one.

use super::http::{HttpServer, Request, Response};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub const TOKEN: &str = "forge-token";
/// The GitHub App the fake forge knows, its private key (a test key made for these tests),
/// and the installation token it hands out.
pub const APP_ID: u64 = 4242;
pub const APP_KEY_PEM: &str = include_str!("github_app_key.pem");
const APP_PUBLIC_KEY_PEM: &str = include_str!("github_app_pub.pem");
const INSTALLATION_ID: u64 = 77;
/// The installation tokens handed out are this and a number.
const INSTALLATION_TOKEN: &str = "ghs_installation-token";

/// A check run as the forge keeps it, with every state it went through.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckRun {
    pub id: u64,
    pub repository: String,
    pub name: String,
    pub head_sha: String,
    pub details_url: Option<String>,
    /// `status` or `status/conclusion` of each create and update, in order.
    pub states: Vec<String>,
    pub title: String,
    pub summary: String,
}

/// A status the forge accepted.
#[derive(Clone, Debug, PartialEq)]
pub struct Posted {
    /// `github` or `gitlab`.
    pub forge: &'static str,
    /// `owner/name` (GitHub) or the decoded project path (GitLab).
    pub repository: String,
    pub sha: String,
    pub state: String,
    /// GitHub's `context`, GitLab's `name`.
    pub context: String,
    pub target_url: Option<String>,
    pub description: String,
    /// GitLab's `ref`, when given.
    pub git_ref: Option<String>,
}

/// An open pull (GitHub) or merge (GitLab) request the forge lists.
#[derive(Clone, Debug)]
pub struct OpenRequest {
    pub id: u64,
    pub target: String,
    pub source_branch: String,
    pub head: String,
    pub title: String,
    /// Login (GitHub) or username (GitLab).
    pub author: String,
    /// GitLab's numeric user id.
    pub author_id: u64,
    pub fork: bool,
}

/// Requests listed per page.
const PAGE: usize = 2;

#[derive(Default)]
struct State {
    open: Mutex<Vec<OpenRequest>>,
    check_runs: Mutex<Vec<CheckRun>>,
    /// JWTs refused (why), for the test to show.
    refused_jwts: Mutex<Vec<String>>,
    statuses: Mutex<Vec<Posted>>,
    /// Login (GitHub) or user id (GitLab) -> GitHub permission name.
    permissions: Mutex<HashMap<String, String>>,
    fail_next: AtomicUsize,
    /// Installation tokens handed out, and whether each is still valid.
    installation_tokens: Mutex<Vec<(String, bool)>>,
    /// The `expires_at` of the installation tokens handed out (none: far ahead).
    token_expires_at: Mutex<Option<String>>,
}

impl State {
    fn valid_installation_token(&self, bearer: Option<&str>) -> bool {
        let tokens = self.installation_tokens.lock().unwrap();
        tokens
            .iter()
            .any(|(t, valid)| *valid && Some(t.as_str()) == bearer)
    }
}

pub struct FakeForge {
    http: HttpServer,
    state: Arc<State>,
}

impl FakeForge {
    pub fn start() -> FakeForge {
        let state = Arc::new(State::default());
        let s = state.clone();
        let http = HttpServer::start(move |r| answer(&s, r));
        FakeForge { http, state }
    }

    /// GitHub's API base (`api_url`).
    pub fn github_api(&self) -> String {
        format!("{}/api/v3", self.http.url())
    }

    /// GitLab's API base (`api_url`).
    pub fn gitlab_api(&self) -> String {
        format!("{}/api/v4", self.http.url())
    }

    pub fn statuses(&self) -> Vec<Posted> {
        self.state.statuses.lock().unwrap().clone()
    }

    /// The states posted for `context`, in order.
    pub fn states(&self, context: &str) -> Vec<String> {
        self.statuses()
            .into_iter()
            .filter(|p| p.context == context)
            .map(|p| p.state)
            .collect()
    }

    pub fn set_permission(&self, user: &str, permission: &str) {
        self.state
            .permissions
            .lock()
            .unwrap()
            .insert(user.to_owned(), permission.to_owned());
    }

    pub fn check_runs(&self) -> Vec<CheckRun> {
        self.state.check_runs.lock().unwrap().clone()
    }

    pub fn refused_jwts(&self) -> Vec<String> {
        self.state.refused_jwts.lock().unwrap().clone()
    }

    /// The open requests the forge lists from now on.
    pub fn set_open(&self, open: Vec<OpenRequest>) {
        *self.state.open.lock().unwrap() = open;
    }

    /// The next `n` status posts are answered 503.
    pub fn fail_next(&self, n: usize) {
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    /// The installation tokens handed out from now on expire at `at` (RFC 3339).
    pub fn set_token_expiry(&self, at: &str) {
        *self.state.token_expires_at.lock().unwrap() = Some(at.to_owned());
    }

    /// Every installation token handed out so far is refused from now on (401).
    pub fn revoke_installation_tokens(&self) {
        for (_, valid) in self.state.installation_tokens.lock().unwrap().iter_mut() {
            *valid = false;
        }
    }

    /// How many requests went to `METHOD` and a path ending in `suffix` (query left out).
    pub fn count(&self, method: &str, suffix: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| {
                r.method == method
                    && r.target
                        .split('?')
                        .next()
                        .unwrap_or_default()
                        .ends_with(suffix)
            })
            .count()
    }

    /// Every request received, the refused ones included.
    pub fn requests(&self) -> Vec<Request> {
        self.http.requests()
    }
}

fn answer(state: &State, r: &Request) -> Response {
    let path = r.target.split('?').next().unwrap_or_default();
    let (forge, rest) = if let Some(rest) = path.strip_prefix("/api/v3/") {
        ("github", rest)
    } else if let Some(rest) = path.strip_prefix("/api/v4/") {
        ("gitlab", rest)
    } else {
        return Response::json(404, r#"{"message":"Not Found"}"#);
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let bearer = r
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "));
    let app_route = matches!(
        (forge, parts.as_slice()),
        (
            "github",
            ["repos", _, _, "installation"] | ["app", "installations", _, "access_tokens"]
        )
    );
    if app_route {
        if let Err(why) = check_jwt(bearer.unwrap_or_default()) {
            state.refused_jwts.lock().unwrap().push(why.clone());
            return Response::json(
                401,
                format!(r#"{{"message":"A JSON web token could not be decoded: {why}"}}"#),
            );
        }
    } else {
        let authorized = match forge {
            "github" => bearer == Some(TOKEN) || state.valid_installation_token(bearer),
            _ => r.header("private-token") == Some(TOKEN),
        };
        if !authorized {
            return Response::json(401, r#"{"message":"Bad credentials"}"#);
        }
    }
    match (forge, r.method.as_str(), parts.as_slice()) {
        ("github", "GET", ["repos", _, _, "installation"]) => Response::json(
            200,
            format!(r#"{{"id":{INSTALLATION_ID},"app_id":{APP_ID}}}"#),
        ),
        ("github", "POST", ["app", "installations", id, "access_tokens"]) => {
            if *id != INSTALLATION_ID.to_string() {
                return Response::json(404, r#"{"message":"Not Found"}"#);
            }
            let mut tokens = state.installation_tokens.lock().unwrap();
            let token = format!("{INSTALLATION_TOKEN}-{}", tokens.len() + 1);
            tokens.push((token.clone(), true));
            let expires = state.token_expires_at.lock().unwrap().clone();
            let expires = expires.unwrap_or_else(|| "2099-01-01T00:00:00Z".to_owned());
            Response::json(
                201,
                format!(r#"{{"token":"{token}","expires_at":"{expires}"}}"#),
            )
        }
        ("github", "POST", ["repos", owner, repo, "check-runs"])
            if state.valid_installation_token(bearer) =>
        {
            check_run(state, r, format!("{owner}/{repo}"), None)
        }
        ("github", "PATCH", ["repos", owner, repo, "check-runs", id])
            if state.valid_installation_token(bearer) =>
        {
            match id.parse() {
                Ok(id) => check_run(state, r, format!("{owner}/{repo}"), Some(id)),
                Err(_) => Response::json(404, r#"{"message":"Not Found"}"#),
            }
        }
        ("github", _, ["repos", _, _, "check-runs", ..]) => Response::json(
            403,
            r#"{"message":"You must authenticate via a GitHub App."}"#,
        ),
        ("github", "POST", ["repos", owner, repo, "statuses", sha]) => {
            status(state, r, forge, format!("{owner}/{repo}"), sha, "context")
        }
        ("gitlab", "POST", ["projects", id, "statuses", sha]) => {
            status(state, r, forge, decode(id), sha, "name")
        }
        ("github", "GET", ["repos", _, _, "collaborators", user, "permission"]) => {
            match state.permissions.lock().unwrap().get(*user) {
                Some(p) => Response::json(200, format!(r#"{{"permission":"{p}"}}"#)),
                None => Response::json(404, r#"{"message":"Not Found"}"#),
            }
        }
        ("gitlab", "GET", ["projects", _, "members", "all", user]) => {
            let level = match state
                .permissions
                .lock()
                .unwrap()
                .get(*user)
                .map(String::as_str)
            {
                Some("admin" | "maintain") => 40,
                Some("write") => 30,
                Some(_) => 20,
                None => return Response::json(404, r#"{"message":"404 Not found"}"#),
            };
            Response::json(200, format!(r#"{{"access_level":{level}}}"#))
        }
        ("github", "GET", ["repos", owner, repo, "pulls"]) => {
            list(state, r, forge, &format!("{owner}/{repo}"))
        }
        ("gitlab", "GET", ["projects", id, "merge_requests"]) => list(state, r, forge, &decode(id)),
        _ => Response::json(404, r#"{"message":"Not Found"}"#),
    }
}

fn query<'a>(r: &'a Request, key: &str) -> Option<&'a str> {
    let (_, q) = r.target.split_once('?')?;
    q.split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// A page of the open requests: GitHub's pulls (`state=open`), GitLab's merge requests
/// (`state=opened`), `PAGE` a page whatever `per_page` says.
fn list(state: &State, r: &Request, forge: &str, repository: &str) -> Response {
    let wanted = if forge == "github" { "open" } else { "opened" };
    if query(r, "state") != Some(wanted) {
        return Response::json(422, r#"{"message":"Validation Failed: state"}"#);
    }
    let page: usize = query(r, "page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let open = state.open.lock().unwrap().clone();
    let items: Vec<Value> = open
        .iter()
        .skip((page.max(1) - 1) * PAGE)
        .take(PAGE)
        .map(|o| {
            let head_repo = if o.fork {
                format!("{}/fork", o.author)
            } else {
                repository.to_owned()
            };
            if forge == "github" {
                serde_json::json!({
                    "number": o.id, "state": "open", "title": o.title,
                    "user": { "login": o.author },
                    "head": { "ref": o.source_branch, "sha": o.head,
                              "repo": { "full_name": head_repo } },
                    "base": { "ref": o.target, "repo": { "full_name": repository } },
                })
            } else {
                serde_json::json!({
                    "iid": o.id, "state": "opened", "title": o.title,
                    "author": { "id": o.author_id, "username": o.author },
                    "sha": o.head, "source_branch": o.source_branch,
                    "target_branch": o.target,
                    "source_project_id": if o.fork { 99 } else { 1 },
                    "target_project_id": 1,
                })
            }
        })
        .collect();
    let mut response = Response::json(200, Value::Array(items).to_string());
    if page * PAGE < open.len() {
        if forge == "github" {
            let host = r.header("host").unwrap_or("127.0.0.1");
            let path = r.target.split('?').next().unwrap_or_default();
            let next = format!(
                "<http://{host}{path}?state=open&per_page={PAGE}&page={}>; rel=\"next\"",
                page + 1
            );
            response = response.header("Link", next);
        } else {
            response = response.header("X-Next-Page", (page + 1).to_string());
        }
    }
    response
}

fn status(
    state: &State,
    r: &Request,
    forge: &'static str,
    repository: String,
    sha: &str,
    context_key: &str,
) -> Response {
    let failing = state
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        return Response::json(503, r#"{"message":"try again"}"#);
    }
    let Ok(body) = serde_json::from_str::<Value>(&r.body) else {
        return Response::json(400, r#"{"message":"Problems parsing JSON"}"#);
    };
    let text = |k: &str| body[k].as_str().map(str::to_owned);
    let valid = match forge {
        "github" => ["pending", "success", "failure", "error"].as_slice(),
        _ => [
            "pending", "running", "success", "failed", "canceled", "skipped",
        ]
        .as_slice(),
    };
    let Some(st) = text("state").filter(|s| valid.contains(&s.as_str())) else {
        return Response::json(422, r#"{"message":"Validation Failed: state"}"#);
    };
    state.statuses.lock().unwrap().push(Posted {
        forge,
        repository,
        sha: sha.to_owned(),
        state: st,
        context: text(context_key).unwrap_or_else(|| "default".into()),
        target_url: text("target_url"),
        description: text("description").unwrap_or_default(),
        git_ref: text("ref"),
    });
    Response::json(201, r#"{"id":1}"#)
}

/// `%2F` and friends back to text.
fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&segment[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Checks a GitHub App's JWT as GitHub does: RS256 signed by the app's key, issued by its id,
/// not expired and living ten minutes at most.
fn check_jwt(jwt: &str) -> Result<(), String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, sig] = parts.as_slice() else {
        return Err("not three parts".into());
    };
    let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).map_err(|e| e.to_string());
    let header: Value = serde_json::from_slice(&decode(header)?).map_err(|e| e.to_string())?;
    if header["alg"] != "RS256" {
        return Err(format!("alg {}", header["alg"]));
    }
    let body: String = APP_PUBLIC_KEY_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let public = STANDARD.decode(body).map_err(|e| e.to_string())?;
    let key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        public,
    );
    let signed = jwt.rsplit_once('.').map(|(m, _)| m).unwrap_or_default();
    key.verify(signed.as_bytes(), &decode(sig)?)
        .map_err(|_| "bad signature".to_owned())?;
    let claims: Value = serde_json::from_slice(&decode(claims)?).map_err(|e| e.to_string())?;
    let iss = match &claims["iss"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if iss != APP_ID.to_string() {
        return Err(format!("iss {iss}"));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (iat, exp) = (claims["iat"].as_u64(), claims["exp"].as_u64());
    let (Some(iat), Some(exp)) = (iat, exp) else {
        return Err("no iat or exp".into());
    };
    if exp <= now || iat > now + 60 || exp.saturating_sub(iat) > 600 {
        return Err(format!("iat {iat} exp {exp} at {now}"));
    }
    Ok(())
}

/// Creates (`id` none) or updates a check run.
fn check_run(state: &State, r: &Request, repository: String, id: Option<u64>) -> Response {
    let Ok(body) = serde_json::from_str::<Value>(&r.body) else {
        return Response::json(400, r#"{"message":"Problems parsing JSON"}"#);
    };
    let text = |k: &str| body[k].as_str().map(str::to_owned);
    let status = text("status").unwrap_or_else(|| "queued".into());
    if !["queued", "in_progress", "completed"].contains(&status.as_str()) {
        return Response::json(422, r#"{"message":"Validation Failed: status"}"#);
    }
    let conclusion = text("conclusion");
    let valid = [
        "success",
        "failure",
        "neutral",
        "cancelled",
        "skipped",
        "timed_out",
        "action_required",
    ];
    if (status == "completed") != conclusion.as_deref().is_some_and(|c| valid.contains(&c)) {
        return Response::json(422, r#"{"message":"Validation Failed: conclusion"}"#);
    }
    let step = match &conclusion {
        Some(c) => format!("{status}/{c}"),
        None => status,
    };
    let mut runs = state.check_runs.lock().unwrap();
    let run = match id {
        None => {
            let (Some(name), Some(head_sha)) = (text("name"), text("head_sha")) else {
                return Response::json(422, r#"{"message":"Validation Failed: name, head_sha"}"#);
            };
            let id = runs.len() as u64 + 1;
            runs.push(CheckRun {
                id,
                repository,
                name,
                head_sha,
                details_url: None,
                states: Vec::new(),
                title: String::new(),
                summary: String::new(),
            });
            runs.last_mut().unwrap()
        }
        Some(id) => match runs
            .iter_mut()
            .find(|c| c.id == id && c.repository == repository)
        {
            Some(run) => run,
            None => return Response::json(404, r#"{"message":"Not Found"}"#),
        },
    };
    run.states.push(step);
    if let Some(url) = text("details_url") {
        run.details_url = Some(url);
    }
    if let Some(t) = body["output"]["title"].as_str() {
        run.title = t.to_owned();
    }
    if let Some(s) = body["output"]["summary"].as_str() {
        run.summary = s.to_owned();
    }
    Response::json(
        if id.is_none() { 201 } else { 200 },
        format!(r#"{{"id":{}}}"#, run.id),
    )
}
