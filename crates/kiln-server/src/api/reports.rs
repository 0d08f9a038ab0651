//! A build's HTML reports (`publishHTML`): the list, and their files served from the build
//! directory in a sandbox, as Jenkins' HTML publisher does (report pages cannot run scripts
//! or reach other origins; see [`served`]).

use super::builds::{kept_bytes, safe_relative};
use super::extract::{ApiPath, ApiQuery};
use super::jobs::find_build;
use super::served::{self, ServeQuery};
use crate::{ApiError, AppState};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::Response;
use kiln_store::{BuildRecord, HtmlReportRecord};
use serde_json::{Value, json};

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
/// `keepAll` is kept by the newest build only), or a store shared by controllers keeps.
pub fn kept<'a>(
    state: &'a AppState,
    b: &'a BuildRecord,
) -> impl Iterator<Item = &'a HtmlReportRecord> {
    let root = state.build_dir(b.id.job.as_str(), b.id.number).join("html");
    b.html_reports.iter().filter(move |r| {
        root.join(&r.dir).is_dir()
            || state.store().coordination().is_some_and(|shared| {
                let set = format!("html/{}", r.dir);
                matches!(shared.get_file(&b.id, &set, ""), Ok(Some(_)))
            })
    })
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

/// `GET /api/v1/jobs/{job}/builds/{n}/reports/{dir}/{*path}[?download=1]`: one file of a
/// report, rendered sandboxed (see [`served`]).
pub async fn file(
    State(state): State<AppState>,
    ApiPath((name, number, dir, path)): ApiPath<(String, u64, String, String)>,
    ApiQuery(query): ApiQuery<ServeQuery>,
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
    let set = format!("html/{dir}");
    let bytes = kept_bytes(&state, &record.id, &root, &relative, &set, &path)
        .await?
        .ok_or_else(missing)?;
    served::kept_file(&path, bytes, &query)
}
