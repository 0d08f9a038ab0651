//! `/login` and `/logout`: for servers with tokens, a form that opens a server-side session
//! (the cookie holds the session's random id, HttpOnly and SameSite=Strict, never the token),
//! and a logout that ends it.

use super::layout::page;
use super::session::COOKIE;
use crate::api::extract::{ApiQuery, Body};
use crate::auth::authenticate;
use crate::{ApiError, AppState};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;

pub fn login_routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(form).post(login))
        .route("/logout", post(logout))
}

#[derive(Deserialize, Default)]
pub struct NextQuery {
    next: Option<String>,
}

async fn form(State(state): State<AppState>, ApiQuery(q): ApiQuery<NextQuery>) -> Html<String> {
    let open = state.settings().open();
    Html(login_page(open, &safe_next(q.next.as_deref()), None).into_string())
}

fn login_page(open: bool, next: &str, problem: Option<&str>) -> Markup {
    let body = html! {
        section.login {
            h1 { "Log in" }
            @if open {
                p { "This server has no tokens: every page is open. " a href="/" { "Go to the jobs" } }
            } @else {
                @if let Some(p) = problem { p.error role="alert" { (p) } }
                form #login method="post" action="/login" {
                    input type="hidden" name="next" value=(next);
                    label { "API token" input type="password" name="token" autocomplete="current-password" autofocus; }
                    button type="submit" { "Log in" }
                }
            }
        }
    };
    page("Log in", None, &[], body)
}

async fn login(State(state): State<AppState>, Body(body): Body) -> Result<Response, ApiError> {
    let body = String::from_utf8_lossy(&body);
    let token = form_value(&body, "token")
        .ok_or_else(|| ApiError::BadRequest("the form has no `token` field".into()))?;
    let next = safe_next(form_value(&body, "next").as_deref());
    if authenticate(&state.settings(), &token).is_none() {
        let page = login_page(false, &next, Some("Unknown token."));
        return Ok((StatusCode::UNAUTHORIZED, Html(page.into_string())).into_response());
    }
    let id = state.sessions().open(&token).map_err(ApiError::internal)?;
    let cookie = format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/");
    Ok((
        StatusCode::SEE_OTHER,
        [(header::SET_COOKIE, cookie), (header::LOCATION, next)],
    )
        .into_response())
}

/// Ends the session of the request's cookie and clears the cookie.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(super::session::cookie_value)
    {
        state.sessions().close(id);
    }
    let cookie = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/login".to_string()),
        ],
    )
        .into_response()
}

/// Where to go after logging in: a path on this server, else `/`.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

/// One field of an `application/x-www-form-urlencoded` body, decoded.
fn form_value(body: &str, name: &str) -> Option<String> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_str(body).ok()?;
    fields.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::{form_value, safe_next};

    #[test]
    fn reads_urlencoded_fields() {
        assert_eq!(
            form_value("a=1&token=ab%2Bc+d", "token").as_deref(),
            Some("ab+c d")
        );
        assert_eq!(form_value("token=", "token").as_deref(), Some(""));
        assert_eq!(form_value("x=1", "token"), None);
    }

    #[test]
    fn next_stays_on_this_server() {
        assert_eq!(safe_next(Some("/jobs/a/3")), "/jobs/a/3");
        for bad in [
            None,
            Some("//evil.example"),
            Some("https://x"),
            Some("/\\x"),
        ] {
            assert_eq!(safe_next(bad), "/");
        }
    }
}
