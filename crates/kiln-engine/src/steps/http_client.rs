//! The one HTTP client of the steps that talk to services (`httpRequest`, `slackSend`,
//! SonarQube, Vault): ureq (blocking, rustls) on tokio's blocking pool, with status codes
//! returned rather than turned into errors, a whole-request timeout and a bounded body.

use std::time::Duration;
use ureq::http;

/// The largest response body read (bigger ones are an error, not a truncation).
const MAX_BODY: u64 = 64 * 1024 * 1024;
/// The timeout when a caller gives none.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// One request.
pub(crate) struct HttpCall {
    pub(crate) method: String,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) timeout: Option<Duration>,
    /// Accept any TLS certificate (`ignoreSslErrors`).
    pub(crate) insecure: bool,
}

impl HttpCall {
    pub(crate) fn new(method: &str, url: impl Into<String>) -> Self {
        HttpCall {
            method: method.to_owned(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout: Some(DEFAULT_TIMEOUT),
            insecure: false,
        }
    }

    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// A JSON body, with its content type.
    pub(crate) fn json(self, body: &serde_json::Value) -> Self {
        let mut call = self.header("Content-Type", "application/json; charset=utf-8");
        call.body = Some(body.to_string().into_bytes());
        call
    }
}

/// A response: any status, the headers and the body.
pub(crate) struct HttpReply {
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl HttpReply {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, or an error saying what came instead.
    pub(crate) fn json(&self) -> Result<serde_json::Value, HttpError> {
        serde_json::from_slice(&self.body).map_err(|e| HttpError::NotJson {
            status: self.status,
            reason: e.to_string(),
        })
    }

    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("{0}")]
    Transport(String),
    #[error("the answer (HTTP {status}) is not JSON: {reason}")]
    NotJson { status: u16, reason: String },
}

/// The `Authorization` value of HTTP basic authentication.
pub(crate) fn basic_auth(username: &str, password: &str) -> String {
    use base64::Engine as _;
    let raw = format!("{username}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Sends `call` and reads the whole answer.
pub(crate) async fn send(call: HttpCall) -> Result<HttpReply, HttpError> {
    tokio::task::spawn_blocking(move || send_blocking(call))
        .await
        .map_err(|e| HttpError::Transport(format!("the request task failed: {e}")))?
}

fn send_blocking(call: HttpCall) -> Result<HttpReply, HttpError> {
    let tls = ureq::tls::TlsConfig::builder()
        .disable_verification(call.insecure)
        .build();
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .allow_non_standard_methods(true)
        .timeout_global(call.timeout)
        .tls_config(tls)
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut builder = http::Request::builder()
        .method(call.method.as_str())
        .uri(call.url.as_str());
    for (name, value) in &call.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request = builder
        .body(call.body.unwrap_or_default())
        .map_err(|e| HttpError::Invalid(e.to_string()))?;
    let mut response = agent
        .run(request)
        .map_err(|e| HttpError::Transport(e.to_string()))?;
    let status = response.status();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map_err(|e| HttpError::Transport(format!("reading the answer failed: {e}")))?;
    Ok(HttpReply {
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or_default().to_owned(),
        headers,
        body,
    })
}
