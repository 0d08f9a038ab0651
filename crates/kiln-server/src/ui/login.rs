//! `/login`: for servers with tokens, a form that stores a token in an HTTP-only cookie, since
//! a browser's EventSource cannot send an `Authorization` header.

use super::html::page;
use crate::api::extract::Body;
use crate::auth::authenticate;
use crate::{ApiError, AppState};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

pub fn login_routes() -> Router<AppState> {
    Router::new().route("/login", get(form).post(login))
}

async fn form() -> Html<String> {
    Html(page(
        "Log in",
        "<h1>Log in</h1><form method=\"post\" action=\"/login\">\
         <label>API token <input type=\"password\" name=\"token\" autocomplete=\"off\"></label> \
         <button>Log in</button></form>",
    ))
}

async fn login(State(state): State<AppState>, Body(body): Body) -> Result<Response, ApiError> {
    let token = form_value(&String::from_utf8_lossy(&body), "token")
        .ok_or_else(|| ApiError::BadRequest("the form has no `token` field".into()))?;
    if authenticate(&state.settings(), &token).is_none() {
        return Ok((
            StatusCode::UNAUTHORIZED,
            Html(page(
                "Log in",
                "<h1>Log in</h1><p>Unknown token.</p><p><a href=\"/login\">Try again</a></p>",
            )),
        )
            .into_response());
    }
    if token
        .bytes()
        .any(|b| b.is_ascii_control() || b == b';' || b == b' ')
    {
        return Err(ApiError::BadRequest(
            "this token cannot be kept in a cookie".into(),
        ));
    }
    let cookie = format!("kiln_token={token}; HttpOnly; SameSite=Strict; Path=/");
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/".to_string()),
        ],
    )
        .into_response())
}

/// One field of an `application/x-www-form-urlencoded` body, decoded.
fn form_value(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k)? == name).then(|| decode(v)).flatten()
    })
}

fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::form_value;

    #[test]
    fn reads_urlencoded_fields() {
        assert_eq!(
            form_value("a=1&token=ab%2Bc+d", "token").as_deref(),
            Some("ab+c d")
        );
        assert_eq!(form_value("token=", "token").as_deref(), Some(""));
        assert_eq!(form_value("x=1", "token"), None);
        assert_eq!(form_value("token=%zz", "token"), None);
    }
}
