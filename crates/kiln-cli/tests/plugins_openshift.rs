//! End to end: `openshiftBuild` run by the real `kiln run` against a small OpenShift API
//! started here (the shared HTTP peer answering as the build API documents), checking the
//! requests it received and the build's log and result.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(
    dead_code,
    reason = "the HTTP peer only: the SMTP one is for the notification tests"
)]
mod peers;

use peers::http::{HttpServer, Response};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// An API whose build of `app` is `Running` at the first poll and then ends in `last`.
fn api(last: &'static str) -> HttpServer {
    let polls = Arc::new(AtomicUsize::new(0));
    HttpServer::start(move |r| {
        let base = "/apis/build.openshift.io/v1/namespaces/shop";
        match (r.method.as_str(), r.target.strip_prefix(base).unwrap_or("")) {
            ("POST", "/buildconfigs/app/instantiate") => Response::json(
                201,
                r#"{"kind":"Build","metadata":{"name":"app-7"},"status":{"phase":"New"}}"#,
            ),
            ("GET", "/builds/app-7") => {
                let phase = if polls.fetch_add(1, Ordering::SeqCst) == 0 {
                    "Running"
                } else {
                    last
                };
                Response::json(200, format!(r#"{{"status":{{"phase":"{phase}"}}}}"#))
            }
            ("GET", "/builds/app-7/log") => Response::text(200, "Cloning...\nPush successful\n"),
            _ => Response::text(404, "unknown"),
        }
    })
}

fn run(pipeline: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Jenkinsfile"), pipeline).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["run", "Jenkinsfile"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env_remove("KILN_LOG")
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), log)
}

#[test]
fn openshift_build_starts_follows_and_logs_the_build() {
    let server = api("Complete");
    let (code, log) = run(&format!(
        "node {{
    stage('build') {{
        def name = openshiftBuild(buildConfig: 'app', namespace: 'shop', apiURL: '{}', authToken: 'sekret-token', showBuildLogs: 'true', commitID: 'abc123', verbose: 'false')
        echo \"built ${{name}}\"
    }}
}}
",
        server.url()
    ));
    assert_eq!(code, Some(0), "{log}");
    for line in [
        "[build] [openshiftBuild] `verbose` is not used by kiln\n",
        "[build] [openshiftBuild] Started build \"app-7\"\n",
        "[build] Push successful\n",
        "[build] [openshiftBuild] Build \"app-7\" completed\n",
        "[build] built app-7\n",
    ] {
        assert!(log.contains(line), "missing {line:?} in\n{log}");
    }
    assert!(!log.contains("sekret-token"), "{log}");
    let requests = server.requests();
    let start = &requests[0];
    assert_eq!(start.method, "POST");
    assert_eq!(start.header("authorization"), Some("Bearer sekret-token"));
    let body: serde_json::Value = serde_json::from_str(&start.body).unwrap();
    assert_eq!(body["kind"], "BuildRequest");
    assert_eq!(body["metadata"]["name"], "app");
    assert_eq!(body["revision"]["git"]["commit"], "abc123");
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.target.ends_with("/builds/app-7"))
            .count(),
        2
    );
}

#[test]
fn a_failed_openshift_build_fails_the_step_and_a_missing_api_is_named() {
    let server = api("Failed");
    let (code, log) = run(&format!(
        "pipeline {{ agent any; environment {{ PROJECT_NAME = 'shop' }}; stages {{ stage('build') {{ steps {{
    openshiftBuild buildConfig: 'app', apiURL: '{}', authToken: 't0k'
}} }} }} }}
",
        server.url()
    ));
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("openshiftBuild: build \"app-7\" ended with phase Failed"),
        "{log}"
    );

    let (code, log) = run(
        "node { stage('build') { openshiftBuild(buildConfig: 'micro-example', showBuildLogs: 'true') } }\n",
    );
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("openshiftBuild: no OpenShift API: give `apiURL:` (and `authToken:`)"),
        "{log}"
    );
}

/// An API with deployment config `web` at version 2: a deployment request moves it to 3,
/// whose replication controller is `Running` at the first poll and then `last`.
fn deploy_api(last: &'static str) -> HttpServer {
    let polls = Arc::new(AtomicUsize::new(0));
    HttpServer::start(move |r| {
        let apps = "/apis/apps.openshift.io/v1/namespaces/shop";
        let core = "/api/v1/namespaces/shop";
        match (r.method.as_str(), r.target.as_str()) {
            ("GET", t) if t == format!("{apps}/deploymentconfigs/web") => Response::json(
                200,
                r#"{"kind":"DeploymentConfig","metadata":{"name":"web"},"status":{"latestVersion":2}}"#,
            ),
            ("POST", t) if t == format!("{apps}/deploymentconfigs/web/instantiate") => {
                Response::json(
                    201,
                    r#"{"kind":"DeploymentConfig","metadata":{"name":"web"},"status":{"latestVersion":3}}"#,
                )
            }
            ("GET", t) if t == format!("{core}/replicationcontrollers/web-3") => {
                let phase = if polls.fetch_add(1, Ordering::SeqCst) == 0 {
                    "Running"
                } else {
                    last
                };
                Response::json(
                    200,
                    format!(
                        r#"{{"metadata":{{"name":"web-3","annotations":{{"openshift.io/deployment.phase":"{phase}"}}}}}}"#
                    ),
                )
            }
            _ => Response::text(404, "unknown"),
        }
    })
}

#[test]
fn openshift_deploy_requests_the_latest_deployment_and_follows_it() {
    let server = deploy_api("Complete");
    let (code, log) = run(&format!(
        "node {{
    stage('deploy') {{
        def rc = openshiftDeploy(depCfg: 'web', namespace: 'shop', apiURL: '{}', authToken: 'sekret-token', waitTime: '30', waitUnit: 'sec', verbose: 'true')
        echo \"deployed ${{rc}}\"
    }}
}}
",
        server.url()
    ));
    assert_eq!(code, Some(0), "{log}");
    for line in [
        "[deploy] [openshiftDeploy] `verbose` is not used by kiln\n",
        "[deploy] [openshiftDeploy] Starting a deployment of deployment config \"web\" in namespace \"shop\"\n",
        "[deploy] [openshiftDeploy] Deployment \"web-3\" completed\n",
        "[deploy] deployed web-3\n",
    ] {
        assert!(log.contains(line), "missing {line:?} in\n{log}");
    }
    assert!(!log.contains("sekret-token"), "{log}");
    let requests = server.requests();
    let request = requests
        .iter()
        .find(|r| r.method == "POST")
        .expect("a deployment request");
    assert_eq!(request.header("authorization"), Some("Bearer sekret-token"));
    let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(body["kind"], "DeploymentRequest");
    assert_eq!(body["name"], "web");
    assert_eq!(body["latest"], true);
    assert_eq!(body["force"], true);
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.target.ends_with("/replicationcontrollers/web-3"))
            .count(),
        2
    );
}

#[test]
fn a_failed_openshift_deployment_or_an_unknown_config_fails_the_step() {
    let server = deploy_api("Failed");
    let (code, log) = run(&format!(
        "pipeline {{ agent any; environment {{ PROJECT_NAME = 'shop' }}; stages {{ stage('deploy') {{ steps {{
    openshiftDeploy depCfg: 'web', apiURL: '{}', authToken: 't0k'
}} }} }} }}
",
        server.url()
    ));
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("openshiftDeploy: deployment \"web-3\" ended with phase Failed"),
        "{log}"
    );
    let (code, log) = run(&format!(
        "node {{ openshiftDeploy(depCfg: 'db', namespace: 'shop', apiURL: '{}', authToken: 't0k') }}\n",
        server.url()
    ));
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("openshiftDeploy: the deployment config \"db\" could not be read ("),
        "{log}"
    );
    assert!(log.contains("HTTP 404"), "{log}");
}
