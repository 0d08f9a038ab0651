//! Handler tests: the router driven with `oneshot` (no socket) over a real scheduler and a sled
//! store in a temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use kiln_server::hooks::signature::github_sign;
use kiln_server::{AppState, Settings, router};
use kiln_store::{BuildRecord, BuildStatus, NewBuild, SledStore, Store};
use kiln_testkit::git;
use kiln_types::{BuildRef, BuildResult, JobName};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use tower::ServiceExt as _;

const PIPELINE: &str = "pipeline {\n  agent any\n  parameters { string(name: 'WHO', defaultValue: 'world') }\n  stages { stage('Hi') { steps { echo \"hello ${params.WHO}\" } } }\n}\n";

struct Fixture {
    state: AppState,
    store: Arc<dyn Store>,
    repo_url: String,
    commit: String,
    _dir: tempfile::TempDir,
}

/// A repository with a Jenkinsfile on `main`: its URL and commit.
fn make_repo(dir: &Path) -> (String, String) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("Jenkinsfile"), PIPELINE).unwrap();
    git(dir, &["add", "Jenkinsfile"]);
    git(dir, &["commit", "-q", "-m", "first"]);
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(dir)
        .output()
        .unwrap();
    let commit = String::from_utf8(out.stdout).unwrap().trim().to_string();
    (format!("file://{}", dir.display()), commit)
}

/// Tokens: `reader` (read), `ci` (trigger), `root` (admin).
async fn fixture_with(tokens: bool, body_limit: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (repo_url, commit) = make_repo(&dir.path().join("repo"));
    let local = dir.path().join("local");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(local.join("Jenkinsfile"), PIPELINE).unwrap();
    let token_yaml = if tokens {
        "  tokens:\n    - {name: reader, token: read-token, role: read}\n    - {name: ci, token: ci-token, role: trigger}\n    - {name: root, token: root-token, role: admin}\n"
    } else {
        ""
    };
    let yaml = format!(
        "server:\n  data_dir: {data}\n{token_yaml}jobs:\n  - name: hello\n    dir: {local}\n  - name: signed\n    repo: {repo_url}\n    webhook_secret: hook-secret\n",
        data = dir.path().join("data").display(),
        local = local.display(),
    );
    let config = kiln_config::parse("kiln.yaml", &yaml).unwrap_or_else(|e| panic!("{e}"));
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&data_dir.join("store")).unwrap());
    let mut settings = Settings::from_config(&config, "127.0.0.1:8080".parse().unwrap()).unwrap();
    settings.body_limit = body_limit;
    let scheduler =
        kiln_scheduler::Scheduler::start(Arc::new(config), store.clone(), data_dir.clone())
            .unwrap();
    let state = AppState::new(store.clone(), scheduler, settings, data_dir);
    Fixture {
        state,
        store,
        repo_url,
        commit,
        _dir: dir,
    }
}

async fn fixture() -> Fixture {
    fixture_with(true, Settings::DEFAULT_BODY_LIMIT).await
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

async fn send(f: &Fixture, request: Request<Body>) -> Answer {
    let response = router(f.state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

fn get(path: &str, token: Option<&str>) -> Request<Body> {
    let mut r = Request::get(path);
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    r.body(Body::empty()).unwrap()
}

fn post(path: &str, token: Option<&str>, body: &str) -> Request<Body> {
    let mut r = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    r.body(Body::from(body.to_string())).unwrap()
}

/// A finished build stored directly, with a log.
fn stored_build(store: &dyn Store, job: &str, cause: &str, log: &str) -> BuildRecord {
    let job = JobName::new(job).unwrap();
    let mut b = store
        .create_build(
            &job,
            NewBuild {
                cause: cause.into(),
                ..NewBuild::default()
            },
        )
        .unwrap();
    b.status = BuildStatus::Finished;
    b.result = Some(BuildResult::Success);
    b.started_at_ms = Some(1_000);
    b.finished_at_ms = Some(3_500);
    store.update_build(&b).unwrap();
    store.append_log(&b.id, log.as_bytes()).unwrap();
    b
}

#[tokio::test]
async fn no_token_is_401_with_a_bearer_challenge() {
    let f = fixture().await;
    let a = send(&f, get("/api/v1/jobs", None)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(
        a.headers[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let a = send(&f, get("/api/v1/jobs", Some("wrong-token"))).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(!a.text().contains("read-token"));
}

#[tokio::test]
async fn a_weaker_role_is_403() {
    let f = fixture().await;
    let a = send(
        &f,
        post("/api/v1/jobs/hello/builds", Some("read-token"), "{}"),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.error().contains("needs `trigger`"), "{}", a.error());
    let a = send(&f, post("/api/v1/admin/reload", Some("ci-token"), "")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = send(&f, post("/api/v1/admin/reload", Some("root-token"), "")).await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let a = send(&f, get("/api/v1/jobs", Some("read-token"))).await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn health_is_open_and_readiness_checks_the_parts() {
    let f = fixture().await;
    assert_eq!(send(&f, get("/healthz", None)).await.status, StatusCode::OK);
    assert_eq!(send(&f, get("/readyz", None)).await.status, StatusCode::OK);
    f.state.scheduler().shutdown().await;
    let a = send(&f, get("/readyz", None)).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        a.error().contains("scheduler is not running"),
        "{}",
        a.error()
    );
}

#[tokio::test]
async fn bad_json_is_400_naming_the_field() {
    let f = fixture().await;
    let a = send(
        &f,
        post(
            "/api/v1/jobs/hello/builds",
            Some("ci-token"),
            r#"{"parms": {}}"#,
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.error().contains("unknown field `parms`"), "{}", a.error());
    let a = send(
        &f,
        post(
            "/api/v1/jobs/hello/builds",
            Some("ci-token"),
            r#"{"params": {"WHO": [1]}}"#,
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.error().contains("parameter `WHO`"), "{}", a.error());
    let a = send(&f, post("/api/v1/jobs/hello/builds", Some("ci-token"), "{")).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        a.error().starts_with("invalid request body: EOF"),
        "{}",
        a.error()
    );
}

#[tokio::test]
async fn unknown_job_is_404() {
    let f = fixture().await;
    let a = send(&f, post("/api/v1/jobs/nope/builds", Some("ci-token"), "{}")).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.error(), "no job named `nope`");
    assert_eq!(
        send(&f, get("/api/v1/jobs/nope/builds", Some("ci-token")))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&f, get("/api/v1/jobs/hello/builds/9", Some("ci-token")))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let f = fixture_with(true, 1024).await;
    let big = format!(r#"{{"params": {{"WHO": "{}"}}}}"#, "x".repeat(2000));
    let a = send(
        &f,
        post("/api/v1/jobs/hello/builds", Some("ci-token"), &big),
    )
    .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(a.error(), "request body is larger than 1024 bytes");
}

#[tokio::test]
async fn trigger_answers_201_with_id_and_url() {
    let f = fixture().await;
    let a = send(
        &f,
        post(
            "/api/v1/jobs/hello/builds",
            Some("ci-token"),
            r#"{"params": {"WHO": "kiln"}}"#,
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let body = a.json();
    assert_eq!(body["id"], "hello#1");
    assert_eq!(body["number"], 1);
    assert_eq!(body["url"], "http://127.0.0.1:8080/jobs/hello/1");
    let b = send(&f, get("/api/v1/jobs/hello/builds/1", Some("read-token")))
        .await
        .json();
    assert_eq!(b["params"]["WHO"], "kiln");
    assert_eq!(b["cause"], "Started by user ci", "{b}");
}

#[tokio::test]
async fn invalid_parameters_are_400() {
    let f = fixture().await;
    let a = send(
        &f,
        post(
            "/api/v1/jobs/hello/builds",
            Some("ci-token"),
            r#"{"params": {"NOPE": "x"}}"#,
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text());
    assert!(a.error().contains("NOPE"), "{}", a.error());
}

#[tokio::test]
async fn builds_are_paginated_newest_first() {
    let f = fixture().await;
    for _ in 0..5 {
        stored_build(f.store.as_ref(), "hello", "test", "");
    }
    let numbers = |v: &Value| -> Vec<u64> {
        v["builds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["number"].as_u64().unwrap())
            .collect()
    };
    // Each page: the query, the build numbers it holds, and the `next_before` it points on to.
    let pages = [
        ("limit=2", vec![5, 4], json!(4)),
        ("limit=2&before=4", vec![3, 2], json!(2)),
        ("limit=2&before=2", vec![1], Value::Null),
    ];
    for (query, expected, next) in pages {
        let uri = format!("/api/v1/jobs/hello/builds?{query}");
        let page = send(&f, get(&uri, Some("read-token"))).await.json();
        assert_eq!(
            (numbers(&page), page["next_before"].clone()),
            (expected, next),
            "{query}"
        );
    }
    let a = send(
        &f,
        get("/api/v1/jobs/hello/builds?limit=101", Some("read-token")),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.error().contains("`limit` must be between 1 and 100"));
    let a = send(
        &f,
        get("/api/v1/jobs/hello/builds?limit=x", Some("read-token")),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.error().contains("limit"), "{}", a.error());
}

#[tokio::test]
async fn log_by_range_has_offsets() {
    let f = fixture().await;
    stored_build(
        f.store.as_ref(),
        "hello",
        "test",
        "line 1\nline 2\nFinished: SUCCESS\n",
    );
    let a = send(
        &f,
        get(
            "/api/v1/jobs/hello/builds/1/log?offset=7&limit=7",
            Some("read-token"),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.text(), "line 2\n");
    assert_eq!(a.headers["x-log-offset"], "7");
    assert_eq!(a.headers["x-log-end"], "32");
    assert_eq!(a.headers["x-build-status"], "finished");
}

#[tokio::test]
async fn log_stream_sends_offsets_as_ids_and_ends_with_the_result() {
    let f = fixture().await;
    stored_build(f.store.as_ref(), "hello", "test", "a\nb\n");
    let a = send(
        &f,
        get("/api/v1/jobs/hello/builds/1/log/stream", Some("read-token")),
    )
    .await;
    assert_eq!(a.headers[header::CONTENT_TYPE], "text/event-stream");
    let text = a.text();
    assert!(
        text.contains("event: log\nid: 4\ndata: \"a\\nb\\n\"\n\n"),
        "{text}"
    );
    assert!(text.contains("event: end\nid: 4\ndata: {"), "{text}");
    assert!(text.contains("\"result\":\"SUCCESS\""), "{text}");
    let mut resume = get("/api/v1/jobs/hello/builds/1/log/stream", Some("read-token"));
    resume
        .headers_mut()
        .insert("last-event-id", "2".parse().unwrap());
    let text = send(&f, resume).await.text();
    assert!(text.contains("id: 4\ndata: \"b\\n\""), "{text}");
}

/// `kiln` follows a log as plain bytes (no JSON escaping of every line break); an
/// EventSource (which accepts `text/event-stream`) still gets events.
#[tokio::test]
async fn log_stream_sends_plain_bytes_to_a_client_that_asks_for_text() {
    let f = fixture().await;
    stored_build(f.store.as_ref(), "hello", "test", "a\nb\u{e9}\n");
    let plain = |path: &str, accept: &str| {
        let mut request = get(path, Some("read-token"));
        request
            .headers_mut()
            .insert(header::ACCEPT, accept.parse().unwrap());
        request
    };
    let a = send(
        &f,
        plain("/api/v1/jobs/hello/builds/1/log/stream", "text/plain"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
    assert_eq!(a.headers["x-log-offset"], "0");
    assert_eq!(a.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(a.text(), "a\nb\u{e9}\n");
    // From an offset inside a character: the bytes as they are stored.
    let a = send(
        &f,
        plain(
            "/api/v1/jobs/hello/builds/1/log/stream?offset=4",
            "text/plain;q=1",
        ),
    )
    .await;
    assert_eq!(
        (
            a.headers["x-log-offset"].to_str().unwrap(),
            a.body.as_slice()
        ),
        ("4", &b"\xa9\n"[..])
    );
    let a = send(
        &f,
        plain(
            "/api/v1/jobs/hello/builds/1/log/stream",
            "text/event-stream, text/plain",
        ),
    )
    .await;
    assert_eq!(a.headers[header::CONTENT_TYPE], "text/event-stream");
}

#[tokio::test]
async fn artifacts_cannot_escape_the_build_directory() {
    let f = fixture().await;
    let b = stored_build(f.store.as_ref(), "hello", "test", "");
    let dir = f
        .state
        .build_dir("hello", b.id.number)
        .join("artifacts/dist");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("app.txt"), "bits").unwrap();
    let a = send(
        &f,
        get(
            "/api/v1/jobs/hello/builds/1/artifacts/dist/app.txt",
            Some("read-token"),
        ),
    )
    .await;
    assert_eq!((a.status, a.text().as_str()), (StatusCode::OK, "bits"));
    let a = send(
        &f,
        get(
            "/api/v1/jobs/hello/builds/1/artifacts/dist/%2e%2e/%2e%2e/%2e%2e/store/db",
            Some("read-token"),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text());
    let a = send(
        &f,
        get(
            "/api/v1/jobs/hello/builds/1/artifacts/dist/none.txt",
            Some("read-token"),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

/// What a browser is told about a kept file: (content type, disposition, policy, nosniff).
fn served_headers(a: &Answer) -> (String, String, String, String) {
    let h = |name: header::HeaderName| {
        a.headers
            .get(&name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    (
        h(header::CONTENT_TYPE),
        h(header::CONTENT_DISPOSITION),
        h(header::CONTENT_SECURITY_POLICY),
        h(header::X_CONTENT_TYPE_OPTIONS),
    )
}

const SANDBOX: &str =
    "sandbox; default-src 'none'; img-src 'self'; style-src 'self'; font-src 'self'";

#[tokio::test]
async fn artifacts_show_sandboxed_with_their_media_type() {
    let f = fixture().await;
    let b = stored_build(f.store.as_ref(), "hello", "test", "");
    let dir = f.state.build_dir("hello", b.id.number).join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let html = "<p>report</p><script>fetch('/api/v1/jobs')</script>";
    let svg = "<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>";
    for (name, body) in [
        ("notes.txt", "plain words"),
        ("page.html", html),
        ("logo.svg", svg),
        ("blob.bin", "\u{0}\u{1}"),
        ("a b\";.txt", "odd name"),
    ] {
        std::fs::write(dir.join(name), body).unwrap();
    }
    let cases = [
        (
            "notes.txt",
            "text/plain; charset=utf-8",
            "inline; filename*=UTF-8''notes.txt",
        ),
        (
            "page.html",
            "text/html; charset=utf-8",
            "inline; filename*=UTF-8''page.html",
        ),
        (
            "logo.svg",
            "image/svg+xml",
            "inline; filename*=UTF-8''logo.svg",
        ),
        (
            "blob.bin",
            "application/octet-stream",
            "inline; filename*=UTF-8''blob.bin",
        ),
        (
            "a%20b%22%3B.txt",
            "text/plain; charset=utf-8",
            "inline; filename*=UTF-8''a%20b%22%3B.txt",
        ),
        (
            "page.html?download=1",
            "text/html; charset=utf-8",
            "attachment; filename*=UTF-8''page.html",
        ),
    ];
    for (path, media_type, disposition) in cases {
        let url = format!("/api/v1/jobs/hello/builds/1/artifacts/{path}");
        let a = send(&f, get(&url, Some("read-token"))).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.text());
        let expected = (
            media_type.to_owned(),
            disposition.to_owned(),
            SANDBOX.to_owned(),
            "nosniff".to_owned(),
        );
        assert_eq!(served_headers(&a), expected, "{path}");
    }
    let a = send(
        &f,
        get(
            "/api/v1/jobs/hello/builds/1/artifacts/page.html",
            Some("read-token"),
        ),
    )
    .await;
    assert_eq!(a.text(), html, "the file's bytes, unchanged");
    let a = send(
        &f,
        get(
            "/api/v1/jobs/hello/builds/1/artifacts/page.html?download=yes",
            Some("read-token"),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        a.error().contains("`download` must be 1 or 0"),
        "{}",
        a.error()
    );
}

#[tokio::test]
async fn html_reports_render_sandboxed() {
    let f = fixture().await;
    let mut b = stored_build(f.store.as_ref(), "hello", "test", "");
    b.html_reports.push(kiln_store::HtmlReportRecord {
        name: "Coverage".into(),
        dir: "Coverage".into(),
        files: vec!["index.html".into()],
        titles: Vec::new(),
        keep_all: true,
        always_link_to_last_build: false,
    });
    f.store.update_build(&b).unwrap();
    let dir = f
        .state
        .build_dir("hello", b.id.number)
        .join("html/Coverage");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>91%</h1>").unwrap();
    std::fs::write(dir.join("style.css"), "h1 {}").unwrap();
    for (file, media_type) in [
        ("index.html", "text/html; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
    ] {
        let url = format!("/api/v1/jobs/hello/builds/1/reports/Coverage/{file}");
        let a = send(&f, get(&url, Some("read-token"))).await;
        assert_eq!(a.status, StatusCode::OK, "{file}: {}", a.text());
        let expected = (
            media_type.to_owned(),
            format!("inline; filename*=UTF-8''{file}"),
            SANDBOX.to_owned(),
            "nosniff".to_owned(),
        );
        assert_eq!(served_headers(&a), expected, "{file}");
    }
}

#[tokio::test]
async fn cancel_of_a_finished_build_is_409() {
    let f = fixture().await;
    stored_build(f.store.as_ref(), "hello", "test", "");
    let a = send(
        &f,
        post("/api/v1/jobs/hello/builds/1/cancel", Some("ci-token"), ""),
    )
    .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text());
}

#[tokio::test]
async fn input_needs_a_known_action() {
    let f = fixture().await;
    stored_build(f.store.as_ref(), "hello", "test", "");
    let a = send(
        &f,
        post(
            "/api/v1/jobs/hello/builds/1/input",
            Some("ci-token"),
            r#"{"action": "maybe"}"#,
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        a.error()
            .contains("unknown variant `maybe`, expected `approve` or `abort`"),
        "{}",
        a.error()
    );
    let a = send(
        &f,
        post(
            "/api/v1/jobs/hello/builds/1/input",
            Some("ci-token"),
            r#"{"action": "approve"}"#,
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text());
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let f = fixture().await;
    let a = send(&f, get("/metrics", Some("read-token"))).await;
    assert_eq!(a.status, StatusCode::OK);
    let text = a.text();
    for series in [
        "kiln_queue_length ",
        "kiln_running_builds ",
        "kiln_builds_total{result=\"SUCCESS\"} ",
        "kiln_build_duration_seconds_count ",
    ] {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }
}

#[tokio::test]
async fn the_failed_step_is_in_the_build_json_and_at_the_top_of_its_page() {
    use kiln_store::{FailedStepRecord, StageKind, StageRecord, StageState};
    use kiln_types::StageOutcome;
    let f = fixture().await;
    let mut b = stored_build(f.store.as_ref(), "hello", "test", "");
    b.result = Some(BuildResult::Failure);
    let stage = |node: u32, path: &[&str], end: u64, failed: Option<(&str, &str)>| StageRecord {
        node,
        path: path.iter().map(|p| p.to_string()).collect(),
        state: StageState::Done(StageOutcome::Ran(BuildResult::Failure)),
        started_at_ms: Some(1_000),
        duration_ms: Some(end - 1_000),
        parent: None,
        kind: StageKind::Steps,
        failed_step: failed.map(|(label, message)| FailedStepRecord {
            step: "sh".into(),
            label: Some(label.into()),
            message: message.into(),
        }),
    };
    b.stages = vec![
        stage(0, &["Checks"], 3_000, None),
        // Two branches failed; the one that ended first is the build's failed step.
        stage(
            1,
            &["Checks", "Lint"],
            2_900,
            Some(("lint <all>", "exit code 1")),
        ),
        stage(
            2,
            &["Checks", "Test"],
            2_000,
            Some(("make check", "script returned exit code 2")),
        ),
    ];
    f.store.update_build(&b).unwrap();
    let a = send(&f, get("/api/v1/jobs/hello/builds/1", Some("read-token"))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let build = a.json();
    assert_eq!(
        build["failed_step"],
        json!({
            "node": 2,
            "stage": ["Checks", "Test"],
            "step": "sh",
            "label": "make check",
            "message": "script returned exit code 2",
        })
    );
    assert_eq!(build["stages"][0]["failed_step"], Value::Null);
    assert_eq!(build["stages"][1]["failed_step"]["label"], "lint <all>");
    let a = send(&f, get("/jobs/hello/1", Some("read-token"))).await;
    let html = a.text();
    assert!(
        html.contains(
            "Failed at stage <a href=\"#stage-2\">Checks / Test</a>, step <code>sh 'make check'</code>: script returned exit code 2"
        ),
        "{html}"
    );
    // A record written before kiln kept the failed step still reads, without one.
    let mut old = stored_build(f.store.as_ref(), "hello", "test", "");
    old.result = Some(BuildResult::Failure);
    old.stages = vec![stage(0, &["Build"], 2_000, None)];
    f.store.update_build(&old).unwrap();
    let a = send(&f, get("/api/v1/jobs/hello/builds/2", Some("read-token"))).await;
    assert_eq!(a.json()["failed_step"], Value::Null);
    let a = send(&f, get("/jobs/hello/2", Some("read-token"))).await;
    assert!(!a.text().contains("failed-step"), "{}", a.text());
}

#[tokio::test]
async fn web_pages_escape_what_they_show() {
    let f = fixture().await;
    stored_build(f.store.as_ref(), "hello", "<script>alert(1)</script>", "");
    let a = send(&f, get("/jobs/hello/1", Some("read-token"))).await;
    assert_eq!(a.status, StatusCode::OK);
    let html = a.text();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("<script id=\"build-data\" type=\"application/json\">"));
    let a = send(&f, get("/", Some("read-token"))).await;
    assert!(
        a.text().contains("<a href=\"/jobs/hello\">hello</a>"),
        "{}",
        a.text()
    );
}

#[tokio::test]
async fn the_ui_accepts_the_login_cookie() {
    let f = fixture().await;
    let login = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("token=read-token"))
        .unwrap();
    let a = send(&f, login).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let cookie = a.headers[header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Strict"));
    let session = cookie.split(';').next().unwrap().to_string();
    assert!(session.starts_with("kiln_session=") && !session.contains("read-token"));
    let page = |session: &str| {
        Request::get("/jobs/hello")
            .header(header::COOKIE, session)
            .header(header::ACCEPT, "text/html")
            .body(Body::empty())
            .unwrap()
    };
    let a = send(&f, page(&session)).await;
    assert_eq!(a.status, StatusCode::OK);
    // A reader gets no Build form.
    assert!(!a.text().contains("build-form"), "{}", a.text());
    // The raw token is not a session.
    let a = send(&f, page("kiln_session=read-token")).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    // Logging out ends the session on the server.
    let logout = Request::post("/logout")
        .header(header::COOKIE, &session)
        .body(Body::empty())
        .unwrap();
    let a = send(&f, logout).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(
        a.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let a = send(&f, page(&session)).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn browsers_without_a_session_go_to_the_login_page() {
    let f = fixture().await;
    let page = Request::get("/jobs/hello?x=1")
        .header(header::ACCEPT, "text/html,application/xhtml+xml")
        .body(Body::empty())
        .unwrap();
    let a = send(&f, page).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(
        a.headers[header::LOCATION],
        "/login?next=/jobs/hello%3Fx%3D1"
    );
    // API clients still get a 401 they can act on.
    let api = Request::get("/api/v1/jobs")
        .header(header::ACCEPT, "text/html")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&f, api).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        send(&f, get("/", None)).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The login form comes back to the page asked for, and only to this server.
    let login = |next: &str| {
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("token=read-token&next={next}")))
            .unwrap()
    };
    let a = send(&f, login("%2Fjobs%2Fhello")).await;
    assert_eq!(a.headers[header::LOCATION], "/jobs/hello");
    let a = send(&f, login("%2F%2Fevil.example")).await;
    assert_eq!(a.headers[header::LOCATION], "/");
    // The embedded assets are open to the login page.
    let a = send(&f, get("/ui/assets/kiln.css", None)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
}

fn github_push(repo_url: &str, branch: &str, commit: &str) -> String {
    json!({
        "ref": format!("refs/heads/{branch}"),
        "after": commit,
        "repository": { "clone_url": repo_url },
        "sender": { "login": "octo" },
    })
    .to_string()
}

fn hook(path: &str, headers: &[(&str, &str)], body: &str) -> Request<Body> {
    let mut r = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.body(Body::from(body.to_string())).unwrap()
}

fn builds_of(store: &dyn Store, job: &str) -> usize {
    let page = kiln_store::Page {
        before: None,
        limit: 100,
    };
    store
        .list_builds(&JobName::new(job).unwrap(), page)
        .unwrap()
        .len()
}

#[tokio::test]
async fn github_push_with_a_good_signature_triggers_the_job() {
    let f = fixture().await;
    let body = github_push(&f.repo_url, "main", &f.commit);
    let sig = github_sign("hook-secret", body.as_bytes());
    let a = send(
        &f,
        hook(
            "/hooks/github",
            &[("x-github-event", "push"), ("x-hub-signature-256", &sig)],
            &body,
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text());
    assert_eq!(a.json()["triggered"][0]["id"], "signed#1");
    let b = f
        .store
        .get_build(&BuildRef {
            job: JobName::new("signed").unwrap(),
            number: 1,
        })
        .unwrap()
        .unwrap();
    assert!(b.cause.contains("GitHub push by octo"), "{}", b.cause);
    assert_eq!(b.commit.as_deref(), Some(f.commit.as_str()));
}

#[tokio::test]
async fn github_push_with_a_bad_signature_is_refused_and_not_run() {
    let f = fixture().await;
    let body = github_push(&f.repo_url, "main", &f.commit);
    let sig = github_sign("wrong-secret", body.as_bytes());
    let a = send(
        &f,
        hook(
            "/hooks/github",
            &[("x-github-event", "push"), ("x-hub-signature-256", &sig)],
            &body,
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
    assert!(!a.text().contains("hook-secret"));
    let a = send(
        &f,
        hook("/hooks/github", &[("x-github-event", "push")], &body),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(builds_of(f.store.as_ref(), "signed"), 0);
}

/// Regression: an unknown repository was a 404 and a known one with a bad signature a 403, so a
/// caller without the secret could probe which repositories kiln builds.
#[tokio::test]
async fn webhook_callers_cannot_tell_unknown_repositories_from_bad_signatures() {
    let f = fixture().await;
    let unknown = github_push("https://example.com/other/repo.git", "main", &f.commit);
    let known = github_push(&f.repo_url, "main", &f.commit);
    let mut answers = Vec::new();
    for body in [&unknown, &known] {
        let sig = github_sign("a-guess", body.as_bytes());
        let a = send(
            &f,
            hook(
                "/hooks/github",
                &[("x-github-event", "push"), ("x-hub-signature-256", &sig)],
                body,
            ),
        )
        .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
        answers.push(a.text());
    }
    assert_eq!(answers[0], answers[1]);
    assert!(
        answers[0].contains("no job accepts this delivery"),
        "{}",
        answers[0]
    );
    assert_eq!(builds_of(f.store.as_ref(), "signed"), 0);
}

#[tokio::test]
async fn malformed_webhook_payload_is_400() {
    let f = fixture().await;
    let a = send(
        &f,
        hook(
            "/hooks/github",
            &[("x-github-event", "push")],
            r#"{"ref": "refs/heads/main"}"#,
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        a.error()
            .starts_with("invalid GitHub `push` payload: missing field `after`"),
        "{}",
        a.error()
    );
    let a = send(&f, hook("/hooks/github", &[], "{}")).await;
    assert_eq!(a.error(), "missing header X-GitHub-Event");
}

#[tokio::test]
async fn gitlab_push_checks_the_token() {
    let f = fixture().await;
    let body = json!({
        "ref": "refs/heads/main",
        "after": f.commit,
        "project": { "git_http_url": f.repo_url },
    })
    .to_string();
    let a = send(
        &f,
        hook(
            "/hooks/gitlab",
            &[("x-gitlab-event", "Push Hook"), ("x-gitlab-token", "nope")],
            &body,
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(builds_of(f.store.as_ref(), "signed"), 0);
    let a = send(
        &f,
        hook(
            "/hooks/gitlab",
            &[
                ("x-gitlab-event", "Push Hook"),
                ("x-gitlab-token", "hook-secret"),
            ],
            &body,
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text());
    assert_eq!(builds_of(f.store.as_ref(), "signed"), 1);
}

#[tokio::test]
async fn without_tokens_the_api_is_open() {
    let f = fixture_with(false, Settings::DEFAULT_BODY_LIMIT).await;
    let a = send(&f, get("/api/v1/jobs", None)).await;
    assert_eq!(a.status, StatusCode::OK);
    let body = a.json();
    let names: Vec<&str> = body["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hello", "signed"]);
}

/// A request with extra headers and a body.
fn with_headers(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Request<Body> {
    let mut r = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.body(Body::from(body.to_string())).unwrap()
}

/// Regression: with no tokens, any web page could trigger a build with a `text/plain` form
/// POST (a "simple" request browsers send cross-origin without asking).
#[tokio::test]
async fn cross_origin_state_changes_are_refused_in_the_open_mode() {
    let f = fixture_with(false, Settings::DEFAULT_BODY_LIMIT).await;
    let refused = [
        &[
            ("content-type", "text/plain"),
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:8080"),
        ][..],
        &[
            ("content-type", "text/plain"),
            ("sec-fetch-site", "cross-site"),
            ("host", "127.0.0.1:8080"),
        ][..],
        &[("origin", "null"), ("host", "localhost:8080")][..],
    ];
    for headers in refused {
        let a = send(
            &f,
            with_headers("POST", "/api/v1/jobs/hello/builds", headers, "{}"),
        )
        .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{headers:?}: {}", a.text());
        assert!(
            a.error().starts_with("cross-origin request refused"),
            "{}",
            a.error()
        );
        let a = send(&f, with_headers("POST", "/hooks/github", headers, "{}")).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{headers:?}: {}", a.text());
    }
    assert_eq!(builds_of(f.store.as_ref(), "hello"), 0);
    // Reading cross-origin is the browser's business (no CORS headers are sent); kiln's own
    // pages, and clients that are not browsers, change state as before.
    let a = send(&f, with_headers("GET", "/api/v1/jobs", refused[0], "")).await;
    assert_eq!(a.status, StatusCode::OK);
    let allowed = [
        &[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
        ][..],
        &[
            ("sec-fetch-site", "same-origin"),
            ("host", "localhost:8080"),
        ][..],
        &[][..],
    ];
    for headers in allowed {
        let a = send(
            &f,
            with_headers("POST", "/api/v1/jobs/hello/builds", headers, "{}"),
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED, "{headers:?}: {}", a.text());
    }
}

/// Regression: any `Host` was answered, so a DNS-rebinding page (a name of the attacker's
/// pointing at 127.0.0.1) could read builds and logs of an open server.
#[tokio::test]
async fn unknown_hosts_are_refused() {
    let f = fixture_with(false, Settings::DEFAULT_BODY_LIMIT).await;
    for host in ["rebind.evil.example", "rebind.evil.example:8080"] {
        let a = send(
            &f,
            with_headers("GET", "/api/v1/jobs", &[("host", host)], ""),
        )
        .await;
        assert_eq!(a.status, StatusCode::MISDIRECTED_REQUEST, "{}", a.text());
        assert_eq!(
            a.error(),
            "kiln does not answer to host `rebind.evil.example`; add it to `server.allowed_hosts` or set `server.external_url`"
        );
    }
    for host in [
        "127.0.0.1:8080",
        "localhost:8080",
        "[::1]:8080",
        "192.168.1.5",
    ] {
        let a = send(
            &f,
            with_headers("GET", "/api/v1/jobs", &[("host", host)], ""),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{host}: {}", a.text());
    }
}
