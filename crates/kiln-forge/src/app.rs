//! GitHub Apps: a JWT signed with the app's private key (RS256) buys an installation token
//! (`GET /repos/{owner}/{repo}/installation`, then
//! `POST /app/installations/{id}/access_tokens`), which then authenticates the REST calls.

use crate::client::{ForgeClient, ForgeError};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::{rand, signature};

/// A GitHub App's identity: its id and its private key (PEM, as GitHub hands it out).
#[derive(Clone)]
pub struct GitHubApp {
    pub app_id: u64,
    pub private_key_pem: String,
}

impl std::fmt::Debug for GitHubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubApp")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

/// The app's key cannot sign.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AppKeyError {
    #[error("the GitHub App's private key is not PEM (`-----BEGIN RSA PRIVATE KEY-----`)")]
    NotPem,
    #[error("the GitHub App's private key is not an RSA key: {0}")]
    Rejected(String),
    #[error("signing the GitHub App's token failed")]
    Sign,
}

impl GitHubApp {
    /// The app's JWT at `now` (seconds since the epoch): issued a minute back against clock
    /// drift, valid nine minutes (GitHub takes at most ten), signed RS256.
    pub fn jwt(&self, now: u64) -> Result<String, AppKeyError> {
        let key = rsa_key(&self.private_key_pem)?;
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = serde_json::json!({
            "iat": now.saturating_sub(60),
            "exp": now + 540,
            "iss": self.app_id.to_string(),
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let message = format!("{header}.{claims}");
        let mut sig = vec![0; key.public().modulus_len()];
        key.sign(
            &signature::RSA_PKCS1_SHA256,
            &rand::SystemRandom::new(),
            message.as_bytes(),
            &mut sig,
        )
        .map_err(|_| AppKeyError::Sign)?;
        Ok(format!("{message}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

/// PKCS#1 (`RSA PRIVATE KEY`, GitHub's) or PKCS#8 (`PRIVATE KEY`) PEM.
fn rsa_key(pem: &str) -> Result<signature::RsaKeyPair, AppKeyError> {
    let (label, der) = pem_body(pem).ok_or(AppKeyError::NotPem)?;
    let key = match label.as_str() {
        "RSA PRIVATE KEY" => signature::RsaKeyPair::from_der(&der),
        "PRIVATE KEY" => signature::RsaKeyPair::from_pkcs8(&der),
        _ => return Err(AppKeyError::NotPem),
    };
    key.map_err(|e| AppKeyError::Rejected(e.to_string()))
}

fn pem_body(pem: &str) -> Option<(String, Vec<u8>)> {
    let start = pem.find("-----BEGIN ")?;
    let rest = &pem[start + 11..];
    let (label, rest) = rest.split_once("-----")?;
    let end = rest.find(&format!("-----END {label}-----"))?;
    let body: String = rest[..end].chars().filter(|c| !c.is_whitespace()).collect();
    Some((label.to_owned(), STANDARD.decode(body).ok()?))
}

/// An installation token as GitHub hands it out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallationToken {
    pub token: String,
    /// When it expires (seconds since the epoch): its `expires_at`, else an hour after `now`
    /// (what GitHub documents).
    pub expires_at: u64,
}

impl ForgeClient {
    /// The id of `app`'s installation on this client's repository
    /// (`GET /repos/{owner}/{repo}/installation`), asked with the app's JWT.
    pub fn installation_id(&self, jwt: &str) -> Result<u64, ForgeError> {
        let url = format!("{}/installation", self.repo_base());
        let text = self.call_with_bearer("GET", &url, jwt, None)?;
        json_field(&url, &text, "id")?
            .as_u64()
            .ok_or_else(|| bad(&url, "no `id` number"))
    }

    /// A new token of installation `id` (`POST /app/installations/{id}/access_tokens`), asked
    /// with the app's JWT at `now` (seconds since the epoch).
    pub fn new_installation_token(
        &self,
        jwt: &str,
        id: u64,
        now: u64,
    ) -> Result<InstallationToken, ForgeError> {
        let url = format!(
            "{}/app/installations/{id}/access_tokens",
            self.target().api_url
        );
        let text = self.call_with_bearer("POST", &url, jwt, Some("{}".into()))?;
        let token = json_field(&url, &text, "token")?
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| bad(&url, "no `token` string"))?;
        let expires_at = match json_field(&url, &text, "expires_at")? {
            serde_json::Value::String(at) => at
                .parse::<jiff::Timestamp>()
                .ok()
                .and_then(|t| u64::try_from(t.as_second()).ok())
                .ok_or_else(|| bad(&url, &format!("`expires_at` `{at}` is not a time")))?,
            _ => now + 3600,
        };
        Ok(InstallationToken { token, expires_at })
    }
}

/// The app's JWT for a call at `now`, or the error a call reports.
pub(crate) fn signed(
    client: &ForgeClient,
    app: &GitHubApp,
    now: u64,
) -> Result<String, ForgeError> {
    app.jwt(now).map_err(|e| ForgeError::Answer {
        url: client.target().api_url.clone(),
        reason: e.to_string(),
    })
}

pub(crate) fn bad(url: &str, reason: &str) -> ForgeError {
    ForgeError::Answer {
        url: url.to_owned(),
        reason: reason.to_owned(),
    }
}

pub(crate) fn json_field(
    url: &str,
    text: &str,
    key: &str,
) -> Result<serde_json::Value, ForgeError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(url, &format!("not JSON: {e}")))?;
    Ok(value.get(key).cloned().unwrap_or(serde_json::Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_that_is_not_pem_is_refused() {
        let app = GitHubApp {
            app_id: 1,
            private_key_pem: "ssh-rsa AAAA".into(),
        };
        assert_eq!(app.jwt(100).unwrap_err(), AppKeyError::NotPem);
        let app = GitHubApp {
            app_id: 1,
            private_key_pem: "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----"
                .into(),
        };
        assert!(matches!(app.jwt(100), Err(AppKeyError::Rejected(_))));
    }

    #[test]
    fn pem_bodies_are_read() {
        let (label, der) =
            pem_body("x\n-----BEGIN PRIVATE KEY-----\nAAEC\n-----END PRIVATE KEY-----\n").unwrap();
        assert_eq!((label.as_str(), der), ("PRIVATE KEY", vec![0, 1, 2]));
    }
}
