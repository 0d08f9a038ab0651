//! Bearer tokens with roles: the middleware that authenticates every API and UI request.

use crate::ui::session;
use crate::{ApiError, AppState, Settings};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use kiln_config::Role;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Who made a request: a token's name, or `anonymous` when the API is open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

/// Finds the token's owner, comparing in constant time (over digests, so lengths do not leak).
pub fn authenticate(settings: &Settings, presented: &str) -> Option<Caller> {
    let presented = Sha256::digest(presented.as_bytes());
    let mut found = None;
    for token in &settings.tokens {
        let expected = Sha256::digest(token.secret.expose().as_bytes());
        if bool::from(expected.ct_eq(&presented)) && found.is_none() {
            found = Some(Caller {
                name: token.name.clone(),
                role: token.role,
            });
        }
    }
    found
}

/// The role a request needs: reading for GET and HEAD, admin under `/api/v1/admin`, trigger for
/// the other writes.
pub fn required_role(method: &Method, path: &str) -> Role {
    if path.starts_with("/api/v1/admin") {
        Role::Admin
    } else if method == Method::GET || method == Method::HEAD {
        Role::Read
    } else {
        Role::Trigger
    }
}

/// The middleware: 401 without a valid token or session (a browser asking for a page is sent
/// to `/login` instead), 403 when the role is too weak; the caller goes into the request's
/// extensions for handlers.
pub async fn require_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let settings = state.settings();
    let needed = required_role(request.method(), request.uri().path());
    let caller = if settings.open() {
        Caller {
            name: "anonymous".into(),
            role: Role::Admin,
        }
    } else {
        match identify(&state, &settings, &request) {
            Some(caller) => caller,
            None if wants_page(&request) => return Ok(to_login(request.uri())),
            None => return Err(ApiError::Unauthorized),
        }
    };
    if caller.role < needed {
        return Err(ApiError::Forbidden(format!(
            "token `{}` has role `{}`; this needs `{}`",
            caller.name,
            caller.role.as_str(),
            needed.as_str()
        )));
    }
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// The caller of `Authorization: Bearer TOKEN`, or of the web UI's session cookie (browsers'
/// EventSource cannot send headers).
fn identify(state: &AppState, settings: &Settings, request: &Request) -> Option<Caller> {
    let headers = request.headers();
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        return authenticate(settings, token.trim());
    }
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    let id = session::cookie_value(cookies)?;
    state.sessions().caller(settings, id)
}

/// A browser's page load: a GET outside the API that accepts HTML.
fn wants_page(request: &Request) -> bool {
    request.method() == Method::GET
        && !request.uri().path().starts_with("/api/")
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
}

/// `303 See Other` to the login page, which comes back to `uri` after logging in.
fn to_login(uri: &axum::http::Uri) -> Response {
    let back = uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    let location = format!("/login?next={}", crate::ui::url_segment(back));
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .body(axum::body::Body::empty())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Token;
    use kiln_config::Secret;

    fn settings() -> Settings {
        Settings {
            tokens: vec![
                Token {
                    name: "ci".into(),
                    secret: Secret::new("s3cret"),
                    role: Role::Trigger,
                },
                Token {
                    name: "root".into(),
                    secret: Secret::new("r00t"),
                    role: Role::Admin,
                },
            ],
            ..Settings::default()
        }
    }

    #[test]
    fn tokens_are_matched_exactly() {
        let s = settings();
        assert_eq!(
            authenticate(&s, "s3cret").map(|c| c.name),
            Some("ci".into())
        );
        assert_eq!(authenticate(&s, "r00t").map(|c| c.role), Some(Role::Admin));
        assert_eq!(authenticate(&s, "s3cre"), None);
        assert_eq!(authenticate(&s, ""), None);
    }

    #[test]
    fn roles_follow_method_and_path() {
        assert_eq!(required_role(&Method::GET, "/api/v1/jobs"), Role::Read);
        assert_eq!(
            required_role(&Method::POST, "/api/v1/jobs/a/builds"),
            Role::Trigger
        );
        assert_eq!(
            required_role(&Method::POST, "/api/v1/admin/reload"),
            Role::Admin
        );
        assert_eq!(required_role(&Method::GET, "/api/v1/admin/x"), Role::Admin);
    }

    #[test]
    fn debug_never_shows_secrets() {
        let text = format!("{:?}", settings());
        assert!(!text.contains("s3cret") && !text.contains("r00t"), "{text}");
    }
}
