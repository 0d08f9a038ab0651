//! The parts of the configuration the HTTP layer reads on every request, swapped whole on reload.

use crate::edge::AllowedHosts;
use kiln_config::{Config, Role, Secret, SecretError};
use std::collections::BTreeMap;
use std::time::Duration;

/// An API token: who it belongs to and what it may do. Debug never shows the secret.
#[derive(Clone, Debug)]
pub struct Token {
    pub name: String,
    pub secret: Secret,
    pub role: Role,
}

/// What the server needs from the configuration, resolved (token values read from their
/// environment variables or files).
#[derive(Clone, Debug)]
pub struct Settings {
    /// API tokens; with none, the API is open (and the server listens on loopback only).
    pub tokens: Vec<Token>,
    /// The base of URLs handed out (`server.external_url`, else `http://LISTEN`), no trailing `/`.
    pub external_url: String,
    /// Webhook secrets by job name; jobs without one accept webhooks only when the API is open.
    pub webhook_secrets: BTreeMap<String, HookSecret>,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// The host names requests may name (`server.allowed_hosts`, `server.external_url`).
    pub allowed_hosts: AllowedHosts,
    /// How long a request body may take to arrive (`server.limits.body_timeout_seconds`).
    pub body_timeout: Duration,
    /// `server.public_badges`: status badges answer without a token.
    pub public_badges: bool,
}

/// A job's webhook secret as read at load time.
#[derive(Clone, Debug)]
pub enum HookSecret {
    Known(Secret),
    /// Configured but unreadable (e.g. its environment variable is not set): every delivery
    /// for the job is refused until a reload reads it.
    Unreadable,
}

/// A secret of the configuration that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the secret of {what}")]
pub struct SettingsError {
    pub what: String,
    #[source]
    pub source: SecretError,
}

impl Default for Settings {
    /// An open API with the configuration's defaults (body limit, body timeout, hosts).
    fn default() -> Self {
        Settings {
            tokens: Vec::new(),
            external_url: String::new(),
            webhook_secrets: BTreeMap::new(),
            body_limit: Settings::DEFAULT_BODY_LIMIT,
            allowed_hosts: AllowedHosts::default(),
            body_timeout: Duration::from_secs(
                kiln_config::ServerLimits::default().body_timeout_seconds,
            ),
            public_badges: false,
        }
    }
}

impl Settings {
    /// The default request body limit: webhook payloads of big pushes stay well under it.
    pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

    /// Reads the configuration's tokens (an unreadable one is an error) and webhook secrets
    /// (an unreadable one refuses that job's webhooks) now; `listen` is the address
    /// actually bound, for URLs when `server.external_url` is not set.
    pub fn from_config(
        config: &Config,
        listen: std::net::SocketAddr,
    ) -> Result<Settings, SettingsError> {
        let mut tokens = Vec::new();
        for t in &config.server.tokens {
            let secret = t.token.resolve().map_err(|source| SettingsError {
                what: format!("token `{}`", t.name),
                source,
            })?;
            tokens.push(Token {
                name: t.name.clone(),
                secret,
                role: t.role,
            });
        }
        let mut webhook_secrets = BTreeMap::new();
        for job in &config.jobs {
            if let Some(source) = &job.webhook_secret {
                let secret = match source.resolve() {
                    Ok(secret) => HookSecret::Known(secret),
                    Err(err) => {
                        tracing::warn!(job = %job.name, error = %err, "cannot read the job's webhook secret: its webhooks are refused");
                        HookSecret::Unreadable
                    }
                };
                webhook_secrets.insert(job.name.to_string(), secret);
            }
        }
        let external_url = match &config.server.external_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{listen}"),
        };
        Ok(Settings {
            tokens,
            external_url,
            webhook_secrets,
            body_limit: Settings::DEFAULT_BODY_LIMIT,
            allowed_hosts: AllowedHosts::new(
                config.server.external_url.as_deref(),
                &config.server.allowed_hosts,
            ),
            body_timeout: Duration::from_secs(config.server.limits.body_timeout_seconds),
            public_badges: config.server.public_badges,
        })
    }

    pub fn open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// A link to a job's page, as handed out in API answers.
    pub fn job_url(&self, job: &str) -> String {
        format!("{}/jobs/{job}", self.external_url)
    }

    /// A link to a build's page, as handed out in API answers.
    pub fn build_url(&self, job: &str, number: u64) -> String {
        format!("{}/jobs/{job}/{number}", self.external_url)
    }
}
