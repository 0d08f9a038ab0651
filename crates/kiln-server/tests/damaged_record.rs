//! A store that opens but holds one damaged build record (issue 11): reads of that build say
//! which build is damaged, every other build is still served. The record is damaged behind
//! the store's back (kiln-store's `testing` feature).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use kiln_server::{AppState, Settings, router};
use kiln_store::{BuildStatus, NewBuild, SledStore, Store};
use kiln_types::{BuildRef, JobName};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use tower::ServiceExt as _;

/// Builds hello#1, #2 and #3, finished, each with a log line; the store is closed after.
fn store_with_builds(dir: &Path) {
    let store = SledStore::open(dir).unwrap();
    let job = JobName::new("hello").unwrap();
    for n in 1..=3 {
        let mut build = store.create_build(&job, NewBuild::default()).unwrap();
        build.status = BuildStatus::Finished;
        store.update_build(&build).unwrap();
        store
            .append_log(&build.id, format!("log of build {n}\n").as_bytes())
            .unwrap();
    }
}

/// Replaces hello#`number`'s record with bytes that are not a record. Waits for the lock a
/// store dropped just before may still hold.
fn damage(dir: &Path, number: u64) {
    let id = BuildRef {
        job: JobName::new("hello").unwrap(),
        number,
    };
    kiln_store::testing::damage_build_record(dir, &id).unwrap();
}

async fn get(app: &axum::Router, path: &str) -> (StatusCode, Value) {
    let request = Request::get(path).body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    (status, json)
}

#[tokio::test]
async fn a_damaged_build_is_named_and_the_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let (data_dir, store_dir) = (dir.path().join("data"), dir.path().join("data/store"));
    let job_dir = dir.path().join("job");
    std::fs::create_dir_all(&job_dir).unwrap();
    std::fs::write(
        job_dir.join("Jenkinsfile"),
        "pipeline { agent any\n stages { stage('A') { steps { echo 'hi' } } } }\n",
    )
    .unwrap();
    store_with_builds(&store_dir);
    damage(&store_dir, 2);

    let yaml = format!("jobs:\n  - name: hello\n    dir: {}\n", job_dir.display());
    let config = kiln_config::parse("kiln.yaml", &yaml).unwrap_or_else(|e| panic!("{e}"));
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&store_dir).unwrap());
    let settings = Settings::from_config(&config, "127.0.0.1:8080".parse().unwrap()).unwrap();
    let scheduler =
        kiln_scheduler::Scheduler::start(Arc::new(config), store.clone(), data_dir.clone())
            .unwrap();
    let app = router(AppState::new(store, scheduler, settings, data_dir));

    let (status, body) = get(&app, "/api/v1/jobs/hello/builds/2").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("builds/hello#2") && error.contains("damaged"),
        "{body}"
    );
    let (status, body) = get(&app, "/jobs/hello/2").await;
    assert!(status.is_server_error(), "{status} {body}");

    for n in [1, 3] {
        let (status, body) = get(&app, &format!("/api/v1/jobs/hello/builds/{n}")).await;
        assert_eq!(status, StatusCode::OK, "build {n}: {body}");
        assert_eq!(body["number"], n, "{body}");
        let (status, body) = get(&app, &format!("/api/v1/jobs/hello/builds/{n}/log")).await;
        assert_eq!(status, StatusCode::OK, "log {n}: {body}");
        assert!(
            body.to_string().contains(&format!("log of build {n}")),
            "{body}"
        );
    }
    let (status, body) = get(&app, "/api/v1/jobs").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A page of builds holding the damaged one names it rather than failing anonymously.
    let (status, body) = get(&app, "/api/v1/jobs/hello/builds").await;
    if status != StatusCode::OK {
        assert!(
            body.to_string().contains("builds/hello#2"),
            "{status} {body}"
        );
    }
}
