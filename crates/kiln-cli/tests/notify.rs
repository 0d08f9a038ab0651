//! End to end: the notification and HTTP steps (`mail`, `emailext`, `httpRequest`,
//! `withSonarQubeEnv`/`waitForQualityGate`, `slackSend`, `withVault`) run by the real
//! `kiln run` against real peers started here, checking what the peers received.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod peers;
mod support;

use peers::http::{HttpServer, Response};
use peers::smtp::SmtpServer;
use std::path::Path;
use std::process::{Command, Output};

/// A workspace: a git repository whose one commit is by Ann Lee, with the Jenkinsfile.
fn workspace(jenkinsfile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Jenkinsfile"), jenkinsfile).unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir.path())
            .env("GIT_AUTHOR_NAME", "Ann Lee")
            .env("GIT_AUTHOR_EMAIL", "ann@example.com")
            .env("GIT_COMMITTER_NAME", "Ann Lee")
            .env("GIT_COMMITTER_EMAIL", "ann@example.com")
            .output()
            .expect("git must be installed for these tests");
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["init", "--quiet"]);
    git(&["add", "Jenkinsfile"]);
    git(&["commit", "--quiet", "-m", "first"]);
    dir
}

/// `kiln run` in `dir` with `args`, the build started by user `run-user@example.com`.
fn kiln_run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Output, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.arg("run")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("USER", "run-user@example.com")
        .env_remove("KILN_LOG");
    for var in [
        "KILN_SMTP_HOST",
        "KILN_SMTP_PORT",
        "KILN_SMTP_FROM",
        "KILN_SMTP_TLS",
        "KILN_SMTP_CREDENTIAL",
        "KILN_CONFIG",
        "KILN_CREDENTIALS",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run kiln");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

const CREDENTIALS: &str = "- id: smtp\n  username: mailer\n  password: s3cret-smtp-pw\n\
- id: api\n  username: apiuser\n  password: s3cret-api-pw\n\
- id: sonar-token\n  secret: s3cret-sonar-token\n\
- id: slack-token\n  secret: xoxb-s3cret-slack\n\
- id: vault-token\n  secret: s3cret-vault-token\n\
- id: vault-approle\n  username: role-1\n  password: s3cret-secret-id\n";

#[test]
fn mail_and_emailext_are_delivered_over_smtp_with_auth() {
    let smtp = SmtpServer::start();
    let dir = workspace(
        r#"pipeline {
  agent any
  stages {
    stage('Notify') {
      steps {
        writeFile file: 'reports/summary.txt', text: 'all good'
        sh 'echo printed-by-a-process'
        mail to: 'dev@example.com, qa@example.com', cc: 'lead@example.com', bcc: 'audit@example.com',
             from: 'ci@example.com', replyTo: 'noreply@example.com',
             subject: "Build ${env.BUILD_NUMBER} done", body: '<b>done</b>', mimeType: 'text/html'
        emailext to: 'team@example.com, cc:boss@example.com', subject: '$DEFAULT_SUBJECT',
                 body: '${PROJECT_NAME} is $BUILD_STATUS (${ENV, var="BUILD_NUMBER"}) $BUILD_LOG',
                 recipientProviders: [developers(), requestor(), upstreamDevelopers()],
                 attachmentsPattern: 'reports/*.txt', attachLog: true
      }
    }
  }
}
"#,
    );
    std::fs::write(dir.path().join("creds.yaml"), CREDENTIALS).unwrap();
    let port = smtp.port.to_string();
    let (out, log) = kiln_run(
        dir.path(),
        &["--credentials", "creds.yaml", "--build-number", "7"],
        &[
            ("KILN_SMTP_HOST", "127.0.0.1"),
            ("KILN_SMTP_PORT", &port),
            ("KILN_SMTP_FROM", "kiln@example.com"),
            ("KILN_SMTP_CREDENTIAL", "smtp"),
        ],
    );
    assert!(out.status.success(), "{log}");
    assert!(!log.contains("s3cret"), "a secret leaked:\n{log}");
    let got = smtp.received();
    assert_eq!(got.len(), 2, "{got:?}\n{log}");

    let mail = &got[0];
    assert_eq!(mail.auth.as_deref(), Some("mailer:s3cret-smtp-pw"));
    assert_eq!(mail.from, "ci@example.com");
    assert_eq!(
        mail.recipients,
        [
            "dev@example.com",
            "qa@example.com",
            "lead@example.com",
            "audit@example.com"
        ]
    );
    assert!(
        mail.data.contains("Subject: Build 7 done\r\n"),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("Reply-To: noreply@example.com\r\n"));
    assert!(mail.data.contains("Cc: lead@example.com\r\n"));
    assert!(
        !mail.data.contains("audit@example.com"),
        "Bcc is not a header"
    );
    assert!(mail.data.contains("Content-Type: text/html; charset=utf-8"));
    assert!(mail.data.contains("<b>done</b>"));

    let ext = &got[1];
    assert_eq!(ext.from, "kiln@example.com", "the configured sender");
    let name = dir
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        ext.recipients,
        [
            "team@example.com",
            "ann@example.com",
            "run-user@example.com",
            "boss@example.com"
        ]
    );
    assert!(
        ext.data
            .contains(&format!("Subject: {name} - Build # 7 - Successful!\r\n")),
        "{}",
        ext.data
    );
    // `$BUILD_LOG` is the log so far.
    assert!(
        ext.data.contains(&format!("{name} is Successful (7) ")),
        "{}",
        ext.data
    );
    assert!(!ext.data.contains("$BUILD_LOG"), "{}", ext.data);
    assert!(ext.data.contains("filename=\"summary.txt\""));
    assert!(ext.data.contains("filename=\"build.log\""), "{}", ext.data);
    // The attached log has the build's lines so far, the first mail's among them.
    assert!(
        ext.unfolded()
            .contains("Sent e-mail \"Build 7 done\" to 4 recipient(s)")
    );
    // Process output (sent in batches) is in the attached log too.
    assert!(
        ext.unfolded().contains("[Notify] printed-by-a-process"),
        "{}",
        ext.data
    );
    assert!(log.contains("recipient provider upstreamDevelopers is unknown to kiln"));
    assert!(log.contains("Sent e-mail \"Build 7 done\" to 4 recipient(s)"));
}

#[test]
fn mail_without_an_smtp_server_names_what_to_configure() {
    let dir = workspace(
        "pipeline { agent any\n stages { stage('N') { steps { mail to: 'a@example.com', subject: 's', body: 'b' } } } }\n",
    );
    let (out, log) = kiln_run(dir.path(), &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("mail: no SMTP server is configured: set `mail.host`"),
        "{log}"
    );

    // With `starttls` a server that cannot upgrade the connection gets nothing in clear.
    let smtp = SmtpServer::start();
    let port = smtp.port.to_string();
    let (out, log) = kiln_run(
        dir.path(),
        &[
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            &port,
            "--smtp-tls",
            "starttls",
            "--smtp-from",
            "ci@example.com",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains(&format!("mail: sending through 127.0.0.1:{port} failed")),
        "{log}"
    );
    assert!(smtp.received().is_empty());
}

#[test]
fn emailext_that_cannot_send_logs_it_and_the_build_goes_on() {
    // As the email-ext plugin's step: a message it cannot send is logged, never a failure.
    let dir = workspace(
        "pipeline { agent any\n stages { stage('N') { steps { echo 'built' } } }\n post { always { emailext to: 'a@example.com', subject: 's', body: 'b' } } }\n",
    );
    let (out, log) = kiln_run(dir.path(), &[], &[]);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(
        log.contains("ERROR: emailext: no SMTP server is configured: set `mail.host`"),
        "{log}"
    );
    assert!(log.contains("no e-mail sent, the build goes on"), "{log}");

    // A server that refuses the upgrade to TLS: logged the same way.
    let smtp = SmtpServer::start();
    let port = smtp.port.to_string();
    let args = [
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        &port,
        "--smtp-tls",
        "starttls",
        "--smtp-from",
        "ci@example.com",
    ];
    let (out, log) = kiln_run(dir.path(), &args, &[]);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(
        log.contains(&format!(
            "emailext: sending through 127.0.0.1:{port} failed"
        )),
        "{log}"
    );
    assert!(smtp.received().is_empty());
}

#[test]
fn http_request_sends_what_it_is_told_and_returns_status_and_content() {
    let api = HttpServer::start(|req| match req.target.as_str() {
        "/items?x=1" => Response::json(201, r#"{"id":42}"#),
        _ => Response::text(404, "no such thing"),
    });
    let dir = workspace(
        r#"pipeline {
  agent any
  stages {
    stage('Call') {
      steps {
        script {
          def r = httpRequest(url: "${env.API}/items?x=1", httpMode: 'POST', requestBody: '{"a":1}',
              contentType: 'APPLICATION_JSON', acceptType: 'APPLICATION_JSON', authentication: 'api',
              customHeaders: [[name: 'X-Trace', value: 'abc'], [name: 'X-Key', value: 'hidden-key-value', maskValue: true]],
              validResponseCodes: '200:201', consoleLogResponseBody: true, outputFile: 'out.json', timeout: 30)
          echo "status=${r.status} content=${r.content}"
          def quiet = httpRequest(url: "${env.API}/gone", validResponseCodes: '404', quiet: true, responseHandle: 'NONE')
          echo "quiet=${quiet.status} ${quiet.content}"
        }
        httpRequest url: "${env.API}/gone"
      }
    }
  }
}
"#,
    );
    std::fs::write(dir.path().join("creds.yaml"), CREDENTIALS).unwrap();
    let (out, log) = kiln_run(
        dir.path(),
        &["--credentials", "creds.yaml"],
        &[("API", &api.url())],
    );
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        !log.contains("s3cret") && !log.contains("hidden-key-value"),
        "{log}"
    );
    assert!(log.contains("status=201 content={\"id\":42}"), "{log}");
    assert!(log.contains("quiet=404 null"), "{log}");
    assert!(log.contains("Response Code: HTTP/1.1 201 Created"), "{log}");
    assert!(
        log.contains("Fail: Status code 404 is not in the accepted range: 100:399"),
        "{log}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.json")).unwrap(),
        r#"{"id":42}"#
    );
    let got = api.requests();
    assert_eq!(got.len(), 3, "{got:?}");
    let post = &got[0];
    assert_eq!(post.method, "POST");
    assert_eq!(post.body, r#"{"a":1}"#);
    assert_eq!(post.header("content-type"), Some("application/json"));
    assert_eq!(post.header("accept"), Some("application/json"));
    assert_eq!(post.header("x-trace"), Some("abc"));
    assert_eq!(post.header("x-key"), Some("hidden-key-value"));
    assert_eq!(
        post.header("authorization"),
        Some("Basic YXBpdXNlcjpzM2NyZXQtYXBpLXB3") // apiuser:s3cret-api-pw
    );
    assert_eq!(got[1].method, "GET");
    assert_eq!(got[1].target, "/gone");
}

/// A SonarQube stand-in: task `T1` is in progress once, then done as analysis `A1`, whose
/// quality gate is `gate`.
fn sonarqube(gate: &'static str) -> HttpServer {
    let polls = std::sync::atomic::AtomicUsize::new(0);
    HttpServer::start(move |req| match req.target.as_str() {
        "/api/ce/task?id=T1" => {
            if polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                Response::json(200, r#"{"task":{"id":"T1","status":"IN_PROGRESS"}}"#)
            } else {
                Response::json(
                    200,
                    r#"{"task":{"id":"T1","status":"SUCCESS","analysisId":"A1"}}"#,
                )
            }
        }
        "/api/qualitygates/project_status?analysisId=A1" => Response::json(
            200,
            format!(r#"{{"projectStatus":{{"status":"{gate}","conditions":[]}}}}"#),
        ),
        _ => Response::text(404, "unknown"),
    })
}

/// A kiln.yaml with the test's credentials and `services` (YAML written at the top level).
fn config(dir: &Path, services: &str) {
    let mut text = String::from("credentials:\n");
    for line in CREDENTIALS.lines() {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(services);
    std::fs::write(dir.join("kiln.yaml"), text).unwrap();
}

const SCANNER: &str = r#"sh '''
          echo "host=$SONAR_HOST_URL name=$SONAR_CONFIG_NAME token=$SONAR_AUTH_TOKEN goal=$SONAR_MAVEN_GOAL"
          echo "params=$SONARQUBE_SCANNER_PARAMS"
          mkdir -p .scannerwork
          printf 'projectKey=app\nserverUrl=%s\nceTaskId=T1\nceTaskUrl=%s/api/ce/task?id=T1\n' "$SONAR_HOST_URL" "$SONAR_HOST_URL" > .scannerwork/report-task.txt
        '''"#;

#[test]
fn sonarqube_environment_and_quality_gate() {
    let sonar = sonarqube("ERROR");
    let dir = workspace(&format!(
        r#"pipeline {{
  agent any
  stages {{
    stage('Analysis') {{
      steps {{
        withSonarQubeEnv('sq') {{
          {SCANNER}
        }}
        script {{
          def qg = waitForQualityGate abortPipeline: false
          echo "gate=${{qg.status}}"
        }}
        waitForQualityGate abortPipeline: true
        echo 'not reached'
      }}
    }}
  }}
}}
"#
    ));
    config(
        dir.path(),
        &format!(
            "sonarqube:\n  - name: sq\n    url: {}\n    credential: sonar-token\n",
            sonar.url()
        ),
    );
    let (out, log) = kiln_run(dir.path(), &["--config", "kiln.yaml"], &[]);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(!log.contains("s3cret"), "a secret leaked:\n{log}");
    assert!(
        log.contains("Injecting SonarQube environment variables using the configuration: sq"),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "host={} name=sq token=**** goal=sonar:sonar",
            sonar.url()
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            r#"params={{"sonar.host.url":"{}","sonar.login":"****""#,
            sonar.url()
        )),
        "{log}"
    );
    assert!(
        log.contains("SonarQube task 'T1' status is 'IN_PROGRESS'"),
        "{log}"
    );
    assert!(log.contains("gate=ERROR"), "{log}");
    assert!(
        log.contains("Pipeline aborted due to quality gate failure: ERROR"),
        "{log}"
    );
    assert!(!log.contains("not reached"), "{log}");
    let got = sonar.requests();
    assert!(
        got.iter()
            .all(|r| r.header("authorization") == Some("Basic czNjcmV0LXNvbmFyLXRva2VuOg==")),
        "the token authenticates every request: {got:?}"
    );
    assert!(
        got.iter()
            .any(|r| r.target == "/api/qualitygates/project_status?analysisId=A1")
    );
}

#[test]
fn sonarqube_server_that_is_not_configured_is_named() {
    let dir = workspace(
        "pipeline { agent any\n stages { stage('A') { steps { withSonarQubeEnv('prod') { echo 'x' } } } } }\n",
    );
    let (out, log) = kiln_run(dir.path(), &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains(
            "withSonarQubeEnv: no SonarQube server `prod`: add it to `sonarqube:` in kiln.yaml"
        ),
        "{log}"
    );
}

/// A Slack stand-in: `chat.postMessage` answers channel `C42`, `ts` `1700.01`; `/hooks/ok`
/// is an incoming webhook; anything else fails.
fn slack() -> HttpServer {
    HttpServer::start(|req| match req.target.as_str() {
        "/api/chat.postMessage" => {
            Response::json(200, r#"{"ok":true,"channel":"C42","ts":"1700.01"}"#)
        }
        "/hooks/ok" => Response::text(200, "ok"),
        _ => Response::text(500, "broken"),
    })
}

#[test]
fn slack_send_posts_through_the_api_and_webhooks() {
    let api = slack();
    let dir = workspace(
        r#"pipeline {
  agent any
  stages {
    stage('Notify') {
      steps {
        script {
          def r = slackSend(channel: '#builds', color: 'good', message: 'Build ok', tokenCredentialId: 'slack-token', botUser: true, baseUrl: "${env.SLACK}/api/")
          echo "thread=${r.threadId} channel=${r.channelId}"
          slackSend(channel: r.threadId, message: 'a reply', tokenCredentialId: 'slack-token', botUser: true, baseUrl: "${env.SLACK}/api")
        }
        slackSend webhookUrl: "${env.SLACK}/hooks/ok", message: 'via webhook'
        slackSend webhookUrl: "${env.SLACK}/broken", message: 'lost'
        echo 'still running'
        slackSend webhookUrl: "${env.SLACK}/broken", message: 'lost', failOnError: true
      }
    }
  }
}
"#,
    );
    std::fs::write(dir.path().join("creds.yaml"), CREDENTIALS).unwrap();
    let (out, log) = kiln_run(
        dir.path(),
        &["--credentials", "creds.yaml"],
        &[("SLACK", &api.url())],
    );
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(!log.contains("s3cret"), "{log}");
    assert!(log.contains("thread=C42:1700.01 channel=C42"), "{log}");
    assert!(log.contains("Slack Send Pipeline step failed: slackSend: posting to the webhook's channel failed: HTTP 500 broken"), "{log}");
    assert!(log.contains("still running"), "{log}");
    let got = api.requests();
    assert_eq!(got.len(), 5, "{got:?}");
    let first: serde_json::Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(
        got[0].header("authorization"),
        Some("Bearer xoxb-s3cret-slack")
    );
    assert_eq!(first["channel"], "#builds");
    assert_eq!(first["attachments"][0]["color"], "good");
    assert_eq!(first["attachments"][0]["text"], "Build ok");
    let reply: serde_json::Value = serde_json::from_str(&got[1].body).unwrap();
    assert_eq!(reply["channel"], "C42");
    assert_eq!(reply["thread_ts"], "1700.01");
    assert_eq!(reply["text"], "a reply");
    assert_eq!(got[2].target, "/hooks/ok");
    let hook: serde_json::Value = serde_json::from_str(&got[2].body).unwrap();
    assert_eq!(hook["text"], "via webhook");
    assert!(got[2].header("authorization").is_none());
}

/// A Vault stand-in: AppRole login, a KV v2 secret at `secret/app`, a KV v1 one at
/// `kv1/legacy`; both readable with the configured token or the AppRole one.
fn vault() -> HttpServer {
    HttpServer::start(|req| {
        let token = req.header("x-vault-token").unwrap_or_default();
        let allowed = token == "s3cret-vault-token" || token == "s.approle-token";
        match (req.method.as_str(), req.target.as_str()) {
            ("POST", "/v1/auth/approle/login") => {
                let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
                if body["role_id"] == "role-1" && body["secret_id"] == "s3cret-secret-id" {
                    Response::json(200, r#"{"auth":{"client_token":"s.approle-token"}}"#)
                } else {
                    Response::json(400, r#"{"errors":["invalid role or secret ID"]}"#)
                }
            }
            _ if !allowed => Response::json(403, r#"{"errors":["permission denied"]}"#),
            ("GET", "/v1/secret/data/app") => Response::json(
                200,
                r#"{"data":{"data":{"password":"db-pa55word","user":"svc-user"},"metadata":{"version":3}}}"#,
            ),
            ("GET", "/v1/kv1/legacy") => {
                Response::json(200, r#"{"data":{"api_key":"legacy-k3y"}}"#)
            }
            _ => Response::json(404, r#"{"errors":[]}"#),
        }
    })
}

#[test]
fn with_vault_reads_kv_v1_and_v2_with_a_token_and_with_approle() {
    let server = vault();
    let dir = workspace(
        r#"pipeline {
  agent any
  stages {
    stage('Deploy') {
      steps {
        withVault(configuration: [engineVersion: 2], vaultSecrets: [
            [path: 'secret/app', secretValues: [[envVar: 'DB_PASSWORD', vaultKey: 'password'], [vaultKey: 'user']]],
            [path: 'kv1/legacy', engineVersion: 1, secretValues: [[envVar: 'API_KEY', vaultKey: 'api_key']]]]) {
          sh 'echo "pw=$DB_PASSWORD user=$user key=$API_KEY"; test "$DB_PASSWORD" = db-pa55word && test "$API_KEY" = legacy-k3y && echo values-ok'
        }
        sh 'echo "after=${DB_PASSWORD:-unset}"'
        script {
          def secrets = [[path: 'secret/app', secretValues: [[envVar: 'PW', vaultKey: 'password']]]]
          withVault([configuration: [vaultUrl: env.VAULT, vaultCredentialId: 'vault-approle'], vaultSecrets: secrets]) {
            sh 'test "$PW" = db-pa55word && echo approle-ok'
          }
          withVault([configuration: [vaultUrl: env.VAULT, vaultCredentialId: 'vault-token'], vaultSecrets: [[path: 'secret/missing', secretValues: [[vaultKey: 'x']]]]]) {
            echo 'not reached'
          }
        }
      }
    }
  }
}
"#,
    );
    config(
        dir.path(),
        &format!(
            "vault:\n  url: {}\n  credential: vault-token\n",
            server.url()
        ),
    );
    let (out, log) = kiln_run(
        dir.path(),
        &["--config", "kiln.yaml"],
        &[("VAULT", &server.url())],
    );
    assert_eq!(out.status.code(), Some(1), "{log}");
    for secret in [
        "s3cret",
        "db-pa55word",
        "legacy-k3y",
        "svc-user",
        "s.approle-token",
    ] {
        assert!(!log.contains(secret), "{secret} leaked:\n{log}");
    }
    assert!(log.contains("pw=**** user=**** key=****"), "{log}");
    assert!(log.contains("values-ok"), "{log}");
    assert!(log.contains("after=unset"), "{log}");
    assert!(log.contains("approle-ok"), "{log}");
    assert!(
        log.contains("withVault: Vault credentials not found for 'secret/missing'"),
        "{log}"
    );
    assert!(!log.contains("not reached"), "{log}");
    let got = server.requests();
    let targets: Vec<&str> = got.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "/v1/secret/data/app",
            "/v1/kv1/legacy",
            "/v1/auth/approle/login",
            "/v1/secret/data/app",
            "/v1/secret/data/missing"
        ]
    );
    assert_eq!(got[3].header("x-vault-token"), Some("s.approle-token"));
}

#[test]
fn kiln_server_hands_kiln_yaml_services_to_the_steps() {
    let smtp = SmtpServer::start();
    let api = slack();
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job");
    std::fs::create_dir_all(&job).unwrap();
    std::fs::write(
        job.join("Jenkinsfile"),
        r#"pipeline {
  agent any
  stages { stage('Build') { steps { echo 'built' } } }
  post {
    always {
      emailext to: 'team@example.com', subject: '$DEFAULT_SUBJECT', body: '$DEFAULT_CONTENT'
      slackSend color: 'good', message: "${env.JOB_NAME} #${env.BUILD_NUMBER} passed"
    }
  }
}
"#,
    )
    .unwrap();
    let mut yaml = format!(
        "server:\n  external_url: http://ci.example.com\n  tokens:\n    - {{name: e2e, token: {}, role: admin}}\n\
jobs:\n  - name: notify\n    dir: {}\n\
mail:\n  host: 127.0.0.1\n  port: {}\n  from: kiln@example.com\n  credential: smtp\n\
slack:\n  base_url: {}/api\n  credential: slack-token\n  channel: '#builds'\n  bot_user: true\n",
        support::TOKEN,
        job.display(),
        smtp.port,
        api.url()
    );
    yaml.push_str("credentials:\n");
    for line in CREDENTIALS.lines() {
        yaml.push_str(&format!("  {line}\n"));
    }
    let config = dir.path().join("kiln.yaml");
    std::fs::write(&config, yaml).unwrap();
    let server = support::Server::start(dir.path(), &config, "127.0.0.1:0", [("KILN_LOG", "info")]);
    let out = support::kiln(&server, &["trigger", "notify", "--follow"]);
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{log}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!log.contains("s3cret"), "{log}");
    assert!(
        log.contains("Slack Send Pipeline step: message posted to #builds"),
        "{log}"
    );

    let mails = smtp.received();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].auth.as_deref(), Some("mailer:s3cret-smtp-pw"));
    assert_eq!(mails[0].from, "kiln@example.com");
    assert_eq!(mails[0].recipients, ["team@example.com"]);
    assert!(
        mails[0]
            .data
            .contains("Subject: notify - Build # 1 - Successful!"),
        "{}",
        mails[0].data
    );
    assert!(
        mails[0].unfolded().contains(
            "Check console output at http://ci.example.com/jobs/notify/1/ to view the results."
        ),
        "{}",
        mails[0].data
    );
    let posts = api.requests();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0].target, "/api/chat.postMessage");
    assert_eq!(
        posts[0].header("authorization"),
        Some("Bearer xoxb-s3cret-slack")
    );
    let body: serde_json::Value = serde_json::from_str(&posts[0].body).unwrap();
    assert_eq!(body["channel"], "#builds");
    assert_eq!(body["attachments"][0]["text"], "notify #1 passed");
}
