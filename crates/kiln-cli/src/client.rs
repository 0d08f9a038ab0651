//! The HTTP client of the server commands: JSON requests with the `KILN_TOKEN` bearer token,
//! the server's `{"error": ...}` answers turned into plain errors.

use crate::cli::ClientArgs;
use anyhow::{Context as _, bail};
use serde_json::Value;
use std::io::Read;
use std::time::Duration;

/// A connection setting for one server.
pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

/// A non-2xx answer, with the server's message.
#[derive(Debug, thiserror::Error)]
#[error("{message} (HTTP {status})")]
pub struct HttpError {
    pub status: u16,
    pub message: String,
}

impl Client {
    pub fn new(args: &ClientArgs) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client {
            base: args.server.trim_end_matches('/').to_string(),
            token: std::env::var("KILN_TOKEN").ok().filter(|t| !t.is_empty()),
            agent,
        }
    }

    /// `/api/v1` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    fn auth(&self) -> Option<String> {
        self.token.as_ref().map(|t| format!("Bearer {t}"))
    }

    pub fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        let mut request = self.agent.get(&self.url(path));
        if let Some(auth) = self.auth() {
            request = request.header("authorization", &auth);
        }
        let response = request.call().map_err(|e| self.unreachable(e))?;
        json_body(response)
    }

    pub fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let mut request = self
            .agent
            .post(&self.url(path))
            .header("content-type", "application/json");
        if let Some(auth) = self.auth() {
            request = request.header("authorization", &auth);
        }
        let response = request
            .send(body.to_string())
            .map_err(|e| self.unreachable(e))?;
        json_body(response)
    }

    /// A GET answered with raw bytes; returns them with the response's headers.
    pub fn get_bytes(&self, path: &str) -> anyhow::Result<(Vec<u8>, ureq::http::HeaderMap)> {
        let mut request = self.agent.get(&self.url(path));
        if let Some(auth) = self.auth() {
            request = request.header("authorization", &auth);
        }
        let mut response = request.call().map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            return Err(error_of(response).into());
        }
        let headers = response.headers().clone();
        let mut bytes = Vec::new();
        response
            .body_mut()
            .as_reader()
            .read_to_end(&mut bytes)
            .context("cannot read the server's answer")?;
        Ok((bytes, headers))
    }

    /// Opens a GET whose body is read as a stream, asking for `accept`; returns the answer's
    /// content type and its body.
    pub fn open_stream(
        &self,
        path: &str,
        accept: &str,
        last_event_id: Option<u64>,
    ) -> anyhow::Result<(String, Box<dyn Read + Send>)> {
        let mut request = self.agent.get(&self.url(path)).header("accept", accept);
        if let Some(auth) = self.auth() {
            request = request.header("authorization", &auth);
        }
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", &id.to_string());
        }
        let response = request.call().map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            return Err(error_of(response).into());
        }
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok((content_type, Box::new(response.into_body().into_reader())))
    }

    fn unreachable(&self, err: ureq::Error) -> anyhow::Error {
        anyhow::Error::new(err).context(format!("cannot reach the kiln server at {}", self.base))
    }
}

/// The JSON of a 2xx answer, or the server's error.
fn json_body(response: ureq::http::Response<ureq::Body>) -> anyhow::Result<Value> {
    if !response.status().is_success() {
        return Err(error_of(response).into());
    }
    let mut response = response;
    let text = response
        .body_mut()
        .read_to_string()
        .context("cannot read the server's answer")?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    match serde_json::from_str(&text) {
        Ok(v) => Ok(v),
        Err(e) => bail!("the server's answer is not JSON: {e}"),
    }
}

fn error_of(mut response: ureq::http::Response<ureq::Body>) -> HttpError {
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| {
            let t = text.trim();
            if t.is_empty() {
                "request failed".to_string()
            } else {
                t.to_string()
            }
        });
    HttpError { status, message }
}

/// `JOB#N` into its parts.
/// A job's name as one URL path segment: a multibranch job's child `app/feature%2Fx` is
/// `app%2Ffeature%252Fx`.
pub fn job_segment(job: &str) -> String {
    job.replace('%', "%25").replace('/', "%2F")
}

pub fn parse_build(id: &str) -> anyhow::Result<(String, u64)> {
    let Some((job, n)) = id.rsplit_once('#') else {
        bail!("invalid build `{id}`: expected JOB#N, e.g. `app#3`");
    };
    let number = n
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .with_context(|| format!("invalid build `{id}`: `{n}` is not a build number"))?;
    if job.is_empty() {
        bail!("invalid build `{id}`: the job name is empty");
    }
    Ok((job.to_string(), number))
}
