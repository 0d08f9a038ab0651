//! A job's builds: the paginated list, one build, its tests and artifacts.

use super::dto;
use super::extract::{ApiPath, ApiQuery};
use super::jobs::{find_build, known_job};
use super::served::{self, ServeQuery};
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use kiln_store::Page;
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::{Component, Path, PathBuf};

/// The largest page of builds.
pub const MAX_LIMIT: usize = 100;
const DEFAULT_LIMIT: usize = 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    before: Option<u64>,
    limit: Option<usize>,
}

/// `GET /api/v1/jobs/{job}/builds?before=N&limit=M`: newest first; `next_before` is the
/// `before` of the next page (null on the last page).
pub async fn list(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let job = known_job(&state, &name)?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::BadRequest(format!(
            "`limit` must be between 1 and {MAX_LIMIT}, not {limit}"
        )));
    }
    let page = Page {
        before: q.before,
        limit,
    };
    let store = state.store_arc();
    let job2 = job.clone();
    let records = tokio::task::spawn_blocking(move || store.list_builds(&job2, page))
        .await
        .map_err(ApiError::internal)??;
    let settings = state.settings();
    let view = state.scheduler().job(job.as_str());
    let next_before = match records.last() {
        Some(last) if records.len() == limit && last.id.number > 1 => Some(last.id.number),
        _ => None,
    };
    let builds: Vec<_> = records
        .iter()
        .map(|r| dto::build(r, &settings, view.as_ref()))
        .collect();
    Ok(Json(
        json!({ "builds": builds, "next_before": next_before }),
    ))
}

/// `GET /api/v1/jobs/{job}/builds/{n}`.
pub async fn show(
    State(state): State<AppState>,
    ApiPath((name, number)): ApiPath<(String, u64)>,
) -> Result<Json<Value>, ApiError> {
    let record = find_build(&state, &name, number)?;
    let view = state.scheduler().job(&name);
    let dto = dto::build(&record, &state.settings(), view.as_ref());
    serde_json::to_value(dto)
        .map(Json)
        .map_err(ApiError::internal)
}

/// `GET /api/v1/jobs/{job}/builds/{n}/tests`: the build's test summary (null without `junit`)
/// and its failed tests with their messages and stack traces.
pub async fn tests(
    State(state): State<AppState>,
    ApiPath((name, number)): ApiPath<(String, u64)>,
) -> Result<Json<Value>, ApiError> {
    let record = find_build(&state, &name, number)?;
    Ok(Json(
        json!({ "id": record.id.to_string(), "tests": record.tests, "failed": record.failed_tests }),
    ))
}

/// `GET /api/v1/jobs/{job}/builds/{n}/artifacts`: the archived files with their URLs.
pub async fn artifacts(
    State(state): State<AppState>,
    ApiPath((name, number)): ApiPath<(String, u64)>,
) -> Result<Json<Value>, ApiError> {
    let record = find_build(&state, &name, number)?;
    let base = format!(
        "{}/api/v1/jobs/{name}/builds/{number}/artifacts",
        state.settings().external_url
    );
    let files: Vec<Value> = record
        .artifacts
        .iter()
        .map(|a| json!({ "path": a.path, "size": a.size, "url": format!("{base}/{}", a.path) }))
        .collect();
    Ok(Json(
        json!({ "id": record.id.to_string(), "artifacts": files }),
    ))
}

/// `GET /api/v1/jobs/{job}/builds/{n}/artifacts/{*path}[?download=1]`: one archived file,
/// shown sandboxed or saved (see [`served`]).
pub async fn artifact(
    State(state): State<AppState>,
    ApiPath((name, number, path)): ApiPath<(String, u64, String)>,
    ApiQuery(query): ApiQuery<ServeQuery>,
) -> Result<Response, ApiError> {
    let record = find_build(&state, &name, number)?;
    let relative = safe_relative(&path)?;
    let root = state.build_dir(&name, number).join("artifacts");
    let missing = || ApiError::NotFound(format!("build {} has no artifact `{path}`", record.id));
    let bytes = kept_bytes(&state, &record.id, &root, &relative, "artifacts", &path)
        .await?
        .ok_or_else(missing)?;
    served::kept_file(&path, bytes, &query)
}

/// A file a build kept: from `root` (its build directory, or the shared `files_dir`), else
/// from the copy a store shared by controllers keeps of the set `set` (a build another
/// controller ran, without a shared volume); `None` when neither has it.
pub(super) async fn kept_bytes(
    state: &AppState,
    build: &kiln_types::BuildRef,
    root: &Path,
    relative: &Path,
    set: &str,
    path: &str,
) -> Result<Option<Vec<u8>>, ApiError> {
    if let Some(real_file) = confined_file(root, relative) {
        let bytes = tokio::fs::read(&real_file)
            .await
            .map_err(ApiError::internal)?;
        return Ok(Some(bytes));
    }
    let Some(shared) = state.store().coordination() else {
        return Ok(None);
    };
    Ok(shared.get_file(build, set, path)?)
}

/// `root/relative` when it is a regular file inside `root`: symbolic links must not lead out
/// of it either.
pub(super) fn confined_file(root: &Path, relative: &Path) -> Option<PathBuf> {
    let real_root = root.canonicalize().ok()?;
    let real_file = root.join(relative).canonicalize().ok()?;
    (real_file.starts_with(&real_root) && real_file.is_file()).then_some(real_file)
}

/// A path inside the artifacts directory: relative, no `..`, no empty or `.` parts.
pub(super) fn safe_relative(path: &str) -> Result<PathBuf, ApiError> {
    let bad = || {
        ApiError::BadRequest(format!(
            "artifact path `{path}` must be relative, without `..`"
        ))
    };
    if path.is_empty() || path.contains('\\') || path.contains('\0') {
        return Err(bad());
    }
    let p = Path::new(path);
    if p.components().all(|c| matches!(c, Component::Normal(_))) {
        Ok(p.to_path_buf())
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::safe_relative;

    #[test]
    fn artifact_paths_cannot_escape() {
        assert!(safe_relative("dist/app.tar.gz").is_ok());
        for bad in ["../x", "a/../../x", "/etc/passwd", "", "a\\..\\b"] {
            assert!(safe_relative(bad).is_err(), "{bad}");
        }
    }
}
