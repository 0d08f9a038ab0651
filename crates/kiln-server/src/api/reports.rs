//! A build's HTML reports (`publishHTML`): the list, and their files served from the build
//! directory under a restrictive Content-Security-Policy, as Jenkins' HTML publisher does
//! (report pages cannot run scripts or reach other origins).

use super::builds::{confined_file, safe_relative};
use super::extract::ApiPath;
use super::jobs::find_build;
use crate::{ApiError, AppState};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::Response;
use kiln_store::{BuildRecord, HtmlReportRecord};
use serde_json::{Value, json};

/// The policy of every report file: no scripts, no plugins, nothing from elsewhere; styles and
/// images from the report itself.
pub const REPORT_CSP: &str =
    "sandbox; default-src 'none'; img-src 'self'; style-src 'self'; font-src 'self'";

/// The URL of a report's index page.
pub fn report_url(base: &str, b: &BuildRecord, r: &HtmlReportRecord) -> String {
    let index = r.files.first().map_or("index.html", String::as_str);
    format!(
        "{base}/api/v1/jobs/{}/builds/{}/reports/{}/{}",
        b.id.job,
        b.id.number,
        r.dir,
        crate::ui::url_segment(index)
    )
}

/// The reports whose files the build directory still has (a report published without
/// `keepAll` is kept by the newest build only).
pub fn kept<'a>(
    state: &AppState,
    b: &'a BuildRecord,
) -> impl Iterator<Item = &'a HtmlReportRecord> {
    let root = state.build_dir(b.id.job.as_str(), b.id.number).join("html");
    b.html_reports
        .iter()
        .filter(move |r| root.join(&r.dir).is_dir())
}

/// `GET /api/v1/jobs/{job}/builds/{n}/reports`.
pub async fn list(
    State(state): State<AppState>,
    ApiPath((name, number)): ApiPath<(String, u64)>,
) -> Result<Json<Value>, ApiError> {
    let record = find_build(&state, &name, number)?;
    let base = state.settings().external_url.clone();
    let reports: Vec<Value> = kept(&state, &record)
        .map(|r| {
            json!({
                "name": r.name,
                "url": report_url(&base, &record, r),
                "files": r.files,
                "titles": r.titles,
                "keep_all": r.keep_all,
            })
        })
        .collect();
    Ok(Json(
        json!({ "id": record.id.to_string(), "reports": reports }),
    ))
}

/// `GET /api/v1/jobs/{job}/builds/{n}/reports/{dir}`: to the report's index page.
pub async fn index(
    State(state): State<AppState>,
    ApiPath((name, number, dir)): ApiPath<(String, u64, String)>,
) -> Result<Response, ApiError> {
    let record = find_build(&state, &name, number)?;
    let report = record
        .html_reports
        .iter()
        .find(|r| r.dir == dir)
        .ok_or_else(|| ApiError::NotFound(format!("build {} has no report `{dir}`", record.id)))?;
    let index = report.files.first().map_or("index.html", String::as_str);
    Response::builder()
        .status(StatusCode::FOUND)
        .header(
            header::LOCATION,
            format!("{dir}/{}", crate::ui::url_segment(index)),
        )
        .body(Body::empty())
        .map_err(ApiError::internal)
}

/// `GET /api/v1/jobs/{job}/builds/{n}/reports/{dir}/{*path}`: one file of a report.
pub async fn file(
    State(state): State<AppState>,
    ApiPath((name, number, dir, path)): ApiPath<(String, u64, String, String)>,
) -> Result<Response, ApiError> {
    let record = find_build(&state, &name, number)?;
    let missing = || {
        ApiError::NotFound(format!(
            "build {} has no file `{path}` in report `{dir}`",
            record.id
        ))
    };
    if !record.html_reports.iter().any(|r| r.dir == dir) {
        return Err(missing());
    }
    let relative = safe_relative(&path)?;
    let root = state.build_dir(&name, number).join("html").join(&dir);
    let file = confined_file(&root, &relative).ok_or_else(missing)?;
    let bytes = tokio::fs::read(&file).await.map_err(ApiError::internal)?;
    Response::builder()
        .header(header::CONTENT_TYPE, content_type(&path))
        .header(header::CONTENT_SECURITY_POLICY, REPORT_CSP)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .body(Body::from(bytes))
        .map_err(ApiError::internal)
}

/// The media type of a report file, by its extension (what reports are made of; anything
/// else is served as bytes).
fn content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" | "log" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::content_type;

    #[test]
    fn report_files_get_their_media_type() {
        assert_eq!(content_type("index.HTML"), "text/html; charset=utf-8");
        assert_eq!(content_type("css/site.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("data.bin"), "application/octet-stream");
        assert_eq!(content_type("README"), "application/octet-stream");
    }
}
