//! GitHub App installation tokens, kept for reuse: each installation's token (valid an hour)
//! serves every call until shortly before it expires, and the installation of each
//! repository is looked up once, so a report costs one API call rather than three. A token
//! the forge refuses (revoked, the app reinstalled) is forgotten by the caller
//! ([`AppTokens::forget`]) and the next call takes a new one.

use crate::app::{GitHubApp, InstallationToken, signed};
use crate::client::{ForgeClient, ForgeError};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// A token is not used in the last five minutes of its life (a call may take a while, and
/// the forge's clock may run ahead).
pub const REFRESH_BEFORE_SECS: u64 = 300;

/// Which app on which forge.
type AppKey = (String, u64);

/// Installation tokens of GitHub Apps, shared by every call of a server.
#[derive(Default)]
pub struct AppTokens {
    /// (forge, app) and repository -> the installation's id.
    installations: Mutex<HashMap<(AppKey, String), u64>>,
    /// (forge, app) and installation id -> its current token.
    tokens: Mutex<HashMap<(AppKey, u64), InstallationToken>>,
}

impl std::fmt::Debug for AppTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppTokens").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AppTokens {
    pub fn new() -> Self {
        AppTokens::default()
    }

    /// A token of `app`'s installation on `client`'s repository at `now` (seconds since the
    /// epoch): the kept one while it has more than [`REFRESH_BEFORE_SECS`] to live, else a
    /// new one (kept in its place). Blocking: run it off async tasks.
    pub fn token(
        &self,
        client: &ForgeClient,
        app: &GitHubApp,
        now: u64,
    ) -> Result<String, ForgeError> {
        let app_key = (client.target().api_url.clone(), app.app_id);
        let repo_key = (app_key.clone(), client.target().repository.clone());
        let known = lock(&self.installations).get(&repo_key).copied();
        if let Some(id) = known
            && let Some(t) = lock(&self.tokens).get(&(app_key.clone(), id))
            && t.expires_at > now.saturating_add(REFRESH_BEFORE_SECS)
        {
            return Ok(t.token.clone());
        }
        let jwt = signed(client, app, now)?;
        let id = match known {
            Some(id) => id,
            None => {
                let id = client.installation_id(&jwt)?;
                lock(&self.installations).insert(repo_key, id);
                id
            }
        };
        let new = client.new_installation_token(&jwt, id, now)?;
        tracing::debug!(
            app_id = app.app_id,
            installation = id,
            expires_at = new.expires_at,
            "new GitHub App installation token"
        );
        let token = new.token.clone();
        lock(&self.tokens).insert((app_key, id), new);
        Ok(token)
    }

    /// The forge refused `token` (401): it is not used again, and the repository's
    /// installation is looked up again (the app may have been reinstalled).
    pub fn forget(&self, client: &ForgeClient, app_id: u64, token: &str) {
        let app_key = (client.target().api_url.clone(), app_id);
        let repo_key = (app_key.clone(), client.target().repository.clone());
        let Some(id) = lock(&self.installations).remove(&repo_key) else {
            return;
        };
        let mut tokens = lock(&self.tokens);
        if tokens
            .get(&(app_key.clone(), id))
            .is_some_and(|t| t.token == token)
        {
            tokens.remove(&(app_key, id));
        }
    }
}
