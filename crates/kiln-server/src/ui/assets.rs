//! The UI's stylesheet and scripts, embedded in the binary (`assets/`): plain files, no build
//! step, so `cargo run` serves them on a fresh machine.

use crate::ApiError;
use crate::api::extract::ApiPath;
use axum::http::header;
use axum::response::{IntoResponse, Response};

const FILES: &[(&str, &str, &str)] = &[
    ("kiln.css", "text/css", include_str!("assets/kiln.css")),
    ("kiln.js", "text/javascript", include_str!("assets/kiln.js")),
    ("ansi.js", "text/javascript", include_str!("assets/ansi.js")),
    (
        "graph.js",
        "text/javascript",
        include_str!("assets/graph.js"),
    ),
    (
        "build.js",
        "text/javascript",
        include_str!("assets/build.js"),
    ),
];

/// `GET /ui/assets/{name}`.
pub async fn serve(ApiPath(name): ApiPath<String>) -> Result<Response, ApiError> {
    let (_, kind, text) = FILES
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| ApiError::NotFound(format!("no asset `{name}`")))?;
    let content_type = format!("{kind}; charset=utf-8");
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
        ],
        *text,
    )
        .into_response())
}
