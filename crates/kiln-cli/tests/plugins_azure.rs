//! End to end: the Azure plugins' `azureServicePrincipal` binding and `azureWebAppPublish`
//! run by the real `kiln run`, against a token endpoint and Resource Manager (one HTTP peer)
//! and a Kudu site (another) started here; the test checks what each received: the token
//! request, the bearer token, the publishing credentials, the zip's entries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(
    dead_code,
    reason = "the HTTP peer only: the SMTP one is for the notification tests"
)]
mod peers;

use peers::http::{HttpServer, Request, Response};
use std::io::Read as _;
use std::path::Path;
use std::process::Command;

const SITE: &str = "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.Web/sites/shop";

/// The token endpoint and Resource Manager: app `shop` of `rg` exists, its Kudu site is
/// `kudu`.
fn azure(kudu: &str) -> HttpServer {
    let scm = kudu.replace("http://", "http://$shop:pub-pw@");
    HttpServer::start(move |r| {
        let (path, query) = r.target.split_once('?').unwrap_or((&r.target, ""));
        match (r.method.as_str(), path) {
            ("POST", "/tenant-9/oauth2/token") => Response::json(
                200,
                r#"{"token_type":"Bearer","access_token":"arm-tok-123","expires_in":"3599"}"#,
            ),
            ("POST", p)
                if p == format!("{SITE}/config/publishingcredentials/list")
                    && query == "api-version=2019-08-01" =>
            {
                Response::json(
                    200,
                    format!(
                        r#"{{"name":"shop","properties":{{"publishingUserName":"$shop","publishingPassword":"pub-pw","scmUri":"{scm}"}}}}"#
                    ),
                )
            }
            _ => Response::text(404, "not found"),
        }
    })
}

fn kudu() -> HttpServer {
    HttpServer::start(|r| match (r.method.as_str(), r.target.as_str()) {
        ("POST", "/api/zipdeploy") => Response::text(200, ""),
        ("POST", t) if t.starts_with("/api/wardeploy?name=") => Response::text(202, ""),
        _ => Response::text(404, "not found"),
    })
}

fn credentials(dir: &Path, azure: &HttpServer) {
    std::fs::write(
        dir.join("creds.yaml"),
        format!(
            "- id: azure-sp\n  subscription_id: sub-1\n  client_id: client-7\n  client_secret: sp-s3cret\n  tenant: tenant-9\n  authentication_endpoint: {0}/\n  resource_manager_endpoint: {0}/\n",
            azure.url()
        ),
    )
    .unwrap();
}

/// The Kudu site, the Azure endpoints and a directory whose `creds.yaml` points at them.
fn peers_and_credentials() -> (HttpServer, HttpServer, tempfile::TempDir) {
    let kudu = kudu();
    let azure = azure(&kudu.url());
    let dir = tempfile::tempdir().unwrap();
    credentials(dir.path(), &azure);
    (kudu, azure, dir)
}

fn run(dir: &Path, pipeline: &str) -> (Option<i32>, String) {
    std::fs::write(dir.join("Jenkinsfile"), pipeline).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["run", "--credentials", "creds.yaml", "Jenkinsfile"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("KILN_LOG")
        .env_remove("KILN_CONFIG")
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), log)
}

/// The (name, text) entries of a zip archive.
fn entries(zip: &[u8]) -> Vec<(String, String)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        out.push((file.name().to_owned(), text));
    }
    out.sort();
    out
}

fn find<'a>(requests: &'a [Request], method: &str, prefix: &str) -> &'a Request {
    requests
        .iter()
        .find(|r| r.method == method && r.target.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {method} {prefix}: {requests:#?}"))
}

#[test]
fn service_principal_binding_and_web_app_zip_deploy() {
    let (kudu, azure, dir) = peers_and_credentials();
    let (code, log) = run(
        dir.path(),
        "node {
    stage('deploy') {
        writeFile file: 'site/index.html', text: '<h1>shop</h1>'
        writeFile file: 'site/css/app.css', text: 'body {}'
        writeFile file: 'site/notes.txt', text: 'not deployed'
        withCredentials([azureServicePrincipal('azure-sp')]) {
            sh 'echo \"sub=$AZURE_SUBSCRIPTION_ID client=$AZURE_CLIENT_ID secret=$AZURE_CLIENT_SECRET tenant=$AZURE_TENANT_ID\"'
        }
        withCredentials([azureServicePrincipal(credentialsId: 'azure-sp', clientSecretVariable: 'SP_SECRET')]) {
            sh 'test \"$SP_SECRET\" = sp-s3cret && test -z \"$AZURE_CLIENT_SECRET\" && echo renamed-ok'
        }
        azureWebAppPublish azureCredentialsId: 'azure-sp', resourceGroup: 'rg', appName: 'shop',
            filePath: '**/*.html,**/*.css', sourceDirectory: 'site', targetDirectory: 'static'
    }
}
",
    );
    assert_eq!(code, Some(0), "{log}");
    for secret in ["sp-s3cret", "pub-pw", "arm-tok-123", "client-7", "tenant-9"] {
        assert!(!log.contains(secret), "{secret} leaked:\n{log}");
    }
    for line in [
        "[deploy] sub=**** client=**** secret=**** tenant=****",
        "[deploy] renamed-ok",
        "[deploy] Starting Azure Web App Deployment",
        "[deploy] Done Azure Web App deployment.",
    ] {
        assert!(log.lines().any(|l| l == line), "{line:?} missing:\n{log}");
    }

    let requests = azure.requests();
    let token = find(&requests, "POST", "/tenant-9/oauth2/token");
    assert_eq!(
        token.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let resource = format!("{}/", azure.url())
        .replace(':', "%3A")
        .replace('/', "%2F");
    assert_eq!(
        token.body,
        format!(
            "grant_type=client_credentials&client_id=client-7&client_secret=sp-s3cret&resource={resource}"
        )
    );
    let list = find(&requests, "POST", SITE);
    assert_eq!(list.header("authorization"), Some("Bearer arm-tok-123"));

    let deploys = kudu.requests();
    assert_eq!(deploys.len(), 1, "{deploys:#?}");
    let zip = &deploys[0];
    assert_eq!(zip.target, "/api/zipdeploy");
    // `$shop:pub-pw`, as basic authentication.
    assert_eq!(zip.header("authorization"), Some("Basic JHNob3A6cHViLXB3"));
    assert_eq!(
        entries(&zip.raw_body),
        vec![
            ("static/css/app.css".to_owned(), "body {}".to_owned()),
            ("static/index.html".to_owned(), "<h1>shop</h1>".to_owned()),
        ]
    );
}

#[test]
fn wars_go_to_war_deploy_and_a_missing_credential_or_app_is_named() {
    let (kudu, _azure, dir) = peers_and_credentials();
    let (code, log) = run(
        dir.path(),
        "node {
    stage('war') {
        writeFile file: 'target/calc.war', text: 'war bytes'
        azureWebAppPublish azureCredentialsId: 'azure-sp', publishType: 'file', resourceGroup: 'rg',
            appName: 'shop', filePath: '*.war', sourceDirectory: 'target', targetDirectory: 'webapps'
    }
    stage('missing') {
        azureWebAppPublish azureCredentialsId: 'nope', resourceGroup: 'rg', appName: 'shop', filePath: '*.war'
    }
}
",
    );
    assert_eq!(code, Some(1), "{log}");
    let deploys = kudu.requests();
    assert_eq!(deploys.len(), 1, "{deploys:#?}");
    assert_eq!(deploys[0].target, "/api/wardeploy?name=calc");
    assert_eq!(deploys[0].body, "war bytes");
    assert!(
        log.contains(
            "azureWebAppPublish: could not find an Azure service principal credential with ID 'nope'"
        ),
        "{log}"
    );

    let (code, log) = run(
        dir.path(),
        "node { stage('gone') {
    writeFile file: 'a.zip', text: 'zip'
    azureWebAppPublish azureCredentialsId: 'azure-sp', resourceGroup: 'rg', appName: 'gone', filePath: '*.zip'
} }
",
    );
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("azureWebAppPublish: Web App gone in resource group rg not found"),
        "{log}"
    );
}
