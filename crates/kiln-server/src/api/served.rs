//! How a file a build kept (an artifact, a file of an HTML report) is served: with a media
//! type guessed from its name and never sniffed, and under a policy that sandboxes whatever a
//! browser would render (no scripts, an origin of its own, nothing from elsewhere), so that a
//! build's file shows in the browser but cannot act as kiln's page: it cannot read the
//! viewer's session or call the API in their name.

use crate::ApiError;
use axum::body::Body;
use axum::http::header;
use axum::response::Response;
use serde::Deserialize;

/// The policy of every file a build kept: a sandbox without scripts (and so without
/// kiln's origin), nothing from elsewhere; styles, images and fonts from kiln itself.
pub const SANDBOX_CSP: &str =
    "sandbox; default-src 'none'; img-src 'self'; style-src 'self'; font-src 'self'";

/// `?download=1` (or `true`): save the file instead of showing it.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ServeQuery {
    download: Option<String>,
}

impl ServeQuery {
    fn download(&self) -> Result<bool, ApiError> {
        match self.download.as_deref() {
            None | Some("0" | "false") => Ok(false),
            Some("1" | "true") => Ok(true),
            Some(other) => Err(ApiError::BadRequest(format!(
                "`download` must be 1 or 0, not `{other}`"
            ))),
        }
    }
}

/// The response for a kept file named `path` (its last part names the download).
pub fn kept_file(path: &str, bytes: Vec<u8>, query: &ServeQuery) -> Result<Response, ApiError> {
    let disposition = if query.download()? {
        "attachment"
    } else {
        "inline"
    };
    let name = path.rsplit('/').next().unwrap_or(path);
    Response::builder()
        .header(header::CONTENT_TYPE, media_type(path))
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::CONTENT_SECURITY_POLICY, SANDBOX_CSP)
        .header(
            header::CONTENT_DISPOSITION,
            format!("{disposition}; filename*=UTF-8''{}", rfc5987(name)),
        )
        .body(Body::from(bytes))
        .map_err(ApiError::internal)
}

/// The media type of a file by its extension; text in UTF-8; bytes when the name says
/// nothing known.
fn media_type(path: &str) -> String {
    match mime_guess::from_path(path).first() {
        Some(m) if m.type_() == mime_guess::mime::TEXT && m.get_param("charset").is_none() => {
            format!("{m}; charset=utf-8")
        }
        Some(m) => m.to_string(),
        None => "application/octet-stream".to_owned(),
    }
}

/// A file name as an RFC 5987 value (`filename*=UTF-8''...`): bytes outside the safe set
/// percent-encoded, so that no name can break out of the header.
fn rfc5987(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{media_type, rfc5987};

    #[test]
    fn kept_files_get_their_media_type() {
        assert_eq!(media_type("index.HTML"), "text/html; charset=utf-8");
        assert_eq!(media_type("css/site.css"), "text/css; charset=utf-8");
        assert_eq!(media_type("report.txt"), "text/plain; charset=utf-8");
        assert_eq!(media_type("logo.svg"), "image/svg+xml");
        assert_eq!(media_type("doc.pdf"), "application/pdf");
        assert_eq!(media_type("data.bin"), "application/octet-stream");
        assert_eq!(media_type("README"), "application/octet-stream");
    }

    #[test]
    fn download_names_cannot_break_the_header() {
        assert_eq!(rfc5987("a b\";\r\n.txt"), "a%20b%22%3B%0D%0A.txt");
        assert_eq!(rfc5987("app-1.0.tar.gz"), "app-1.0.tar.gz");
    }
}
