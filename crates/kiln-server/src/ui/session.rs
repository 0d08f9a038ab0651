//! Browser sessions: the web UI's cookie holds a random session id, never the token. The
//! server keeps, per session, a digest of the token that opened it, so a token removed by a
//! configuration reload ends its sessions too.

use crate::{Caller, Settings};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const COOKIE: &str = "kiln_session";

/// How long a session lasts without being used.
const IDLE: Duration = Duration::from_secs(12 * 60 * 60);

/// At most this many sessions are kept; the least recently used goes first.
const MAX_SESSIONS: usize = 10_000;

/// The live sessions, keyed by their random id.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

struct Session {
    token_digest: [u8; 32],
    last_used: Instant,
}

/// A session id could not be made (the system's random source failed).
#[derive(Debug, thiserror::Error)]
#[error("cannot make a session id: {0}")]
pub struct SessionError(String);

impl Sessions {
    /// Opens a session for `token` (already authenticated) and returns its id.
    pub fn open(&self, token: &str) -> Result<String, SessionError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| SessionError(e.to_string()))?;
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let session = Session {
            token_digest: Sha256::digest(token.as_bytes()).into(),
            last_used: Instant::now(),
        };
        let mut map = self.lock();
        map.retain(|_, s| s.last_used.elapsed() < IDLE);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(id.clone(), session);
        Ok(id)
    }

    /// Who the session `id` belongs to, if it is open and its token is still configured.
    pub fn caller(&self, settings: &Settings, id: &str) -> Option<Caller> {
        let mut map = self.lock();
        let session = map.get_mut(id)?;
        if session.last_used.elapsed() >= IDLE {
            map.remove(id);
            return None;
        }
        session.last_used = Instant::now();
        let mut found = None;
        for token in &settings.tokens {
            let digest = Sha256::digest(token.secret.expose().as_bytes());
            if bool::from(digest.ct_eq(&session.token_digest)) && found.is_none() {
                found = Some(Caller {
                    name: token.name.clone(),
                    role: token.role,
                });
            }
        }
        found
    }

    /// Ends the session `id` (logging out).
    pub fn close(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The value of the session cookie in a `Cookie` header.
pub fn cookie_value(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Token;
    use kiln_config::{Role, Secret};

    fn settings(secret: &str) -> Settings {
        Settings {
            tokens: vec![Token {
                name: "alice".into(),
                secret: Secret::new(secret),
                role: Role::Trigger,
            }],
            ..Settings::default()
        }
    }

    #[test]
    fn a_session_names_its_token_until_closed() {
        let sessions = Sessions::default();
        let id = sessions.open("t0ken").unwrap();
        assert_eq!(id.len(), 64);
        assert!(!id.contains("t0ken"));
        let caller = sessions.caller(&settings("t0ken"), &id).unwrap();
        assert_eq!(
            (caller.name.as_str(), caller.role),
            ("alice", Role::Trigger)
        );
        assert_eq!(sessions.caller(&settings("t0ken"), "nope"), None);
        sessions.close(&id);
        assert_eq!(sessions.caller(&settings("t0ken"), &id), None);
    }

    #[test]
    fn a_removed_token_ends_its_sessions() {
        let sessions = Sessions::default();
        let id = sessions.open("old").unwrap();
        assert_eq!(sessions.caller(&settings("new"), &id), None);
    }

    #[test]
    fn ids_differ() {
        let sessions = Sessions::default();
        assert_ne!(sessions.open("a").unwrap(), sessions.open("a").unwrap());
    }

    #[test]
    fn reads_the_cookie() {
        assert_eq!(cookie_value("a=1; kiln_session=abc; b=2"), Some("abc"));
        assert_eq!(cookie_value("kiln_token=abc"), None);
    }
}
