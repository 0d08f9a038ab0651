//! The service sections (`mail`, `slack`, `sonarqube`, `vault`): what good ones decode to,
//! and the diagnostics of bad ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_config::{MailConfig, MailTls, SonarQubeConfig, VaultConfig, parse};
use kiln_diagnostics::RenderOptions;

fn check(text: &str, expected: &str) {
    let err = parse("kiln.yaml", text).expect_err("the configuration should be refused");
    let rendered = err.render(RenderOptions::default());
    assert_eq!(rendered, expected, "\n--- got ---\n{rendered}");
}

const CREDS: &str =
    "credentials:\n  - id: smtp\n    username: ci\n    password: pw\n  - id: tok\n    secret: t\n";

#[test]
fn service_sections_decode() {
    let text = format!(
        "{CREDS}mail:\n  host: smtp.example.com\n  tls: starttls\n  from: ci@example.com\n  credential: smtp\n\
slack:\n  base_url: http://127.0.0.1:9/api/\n  credential: tok\n  channel: '#ci'\n  bot_user: true\n\
sonarqube:\n  - name: sq\n    url: http://sonar:9000/\n    credential: tok\n\
vault:\n  url: http://vault:8200\n  credential: tok\n  engine_version: 1\n"
    );
    let cfg = parse("kiln.yaml", &text).unwrap_or_else(|e| panic!("{e}"));
    let s = &cfg.services;
    assert_eq!(
        s.mail,
        Some(MailConfig {
            host: "smtp.example.com".into(),
            port: 587,
            from: Some("ci@example.com".into()),
            tls: MailTls::Starttls,
            credential: Some("smtp".into()),
        })
    );
    let slack = s.slack.clone().unwrap();
    assert_eq!(slack.base_url.as_deref(), Some("http://127.0.0.1:9/api"));
    assert!(slack.bot_user);
    assert_eq!(
        s.sonarqube,
        vec![SonarQubeConfig {
            name: "sq".into(),
            url: "http://sonar:9000".into(),
            credential: Some("tok".into()),
            additional_properties: None,
        }]
    );
    assert_eq!(
        s.vault,
        Some(VaultConfig {
            url: "http://vault:8200".into(),
            credential: Some("tok".into()),
            engine_version: 1,
            namespace: None,
        })
    );
    let plain = parse("kiln.yaml", "mail:\n  host: localhost\n").unwrap();
    assert_eq!(plain.services.mail.unwrap().port, 25);
}

#[test]
fn bad_service_settings_point_at_the_value() {
    check(
        "mail:\n  host: h\n  tls: startls\n  port: 70000\nvault:\n  url: vault:8200\n  engine_version: 3\n  credential: nope\n",
        "error: `mail.tls` must be `none`, `starttls` or `tls`
  --> kiln.yaml:3:8
   |
 3 |   tls: startls
   |        ^^^^^^^ did you mean `starttls`?

error: `mail.port` must be a port number (1 to 65535)
  --> kiln.yaml:4:9
   |
 4 |   port: 70000
   |         ^^^^^ found an integer

error: `vault.url` must be an `http://` or `https://` URL
  --> kiln.yaml:6:8
   |
 6 |   url: vault:8200
   |        ^^^^^^^^^^ found `vault:8200`

error: `vault.engine_version` must be 1 or 2
  --> kiln.yaml:7:19
   |
 7 |   engine_version: 3
   |                   ^ found an integer

error: unknown credential `nope`
  --> kiln.yaml:8:15
   |
 8 |   credential: nope
   |               ^^^^ no entry of `credentials` has this id

error: could not load kiln.yaml: 5 errors
",
    );
}

#[test]
fn config_files_and_tools_decode() {
    use kiln_config::{SecretSource, ToolKind};
    let text = "config_files:\n  - id: settings\n    name: Maven settings\n    secret: true\n    content: |\n      <settings/>\n  - id: npmrc\n    content_file: npmrc.txt\n\
tools:\n  - name: maven-3\n    type: maven\n    home: /opt/maven\n";
    let cfg = parse("kiln.yaml", text).unwrap_or_else(|e| panic!("{e}"));
    let files = &cfg.services.config_files;
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].name.as_deref(), Some("Maven settings"));
    assert!(files[0].secret);
    assert_eq!(
        files[0].content.resolve().unwrap().expose(),
        "<settings/>\n"
    );
    assert_eq!(files[1].content, SecretSource::File("npmrc.txt".into()));
    assert!(!files[1].secret);
    let tools = &cfg.services.tools;
    assert_eq!(tools[0].kind, ToolKind::Maven);
    assert_eq!(tools[0].home, std::path::PathBuf::from("/opt/maven"));
}

#[test]
fn config_files_and_tools_errors() {
    check(
        "config_files:\n  - id: a\n    content: x\n  - id: a\n    secret: yes\ntools:\n  - name: m\n    type: mavn\n    home: /m\n",
        "error: missing `config_files[1].content`
  --> kiln.yaml:4:5
   |
 4 |   - id: a
   |     ^^^^^ a config file (or `content_file`, `content_env`) needs `content`

error: duplicate config file id `a`
  --> kiln.yaml:4:9
   |
 2 |   - id: a
   |         - first used here
 4 |   - id: a
   |         ^ used again here

error: `config_files[1].secret` must be `true` or `false`
  --> kiln.yaml:5:13
   |
 5 |     secret: yes
   |             ^^^ found a boolean

error: `tools[0].type` must be one of maven, jdk, gradle, nodejs, go, ant, coverity
  --> kiln.yaml:8:11
   |
 8 |     type: mavn
   |           ^^^^ did you mean `maven`?

error: could not load kiln.yaml: 4 errors
",
    );
}

#[test]
fn artifactory_servers_decode_and_bad_ones_point_at_the_value() {
    use kiln_config::ArtifactoryConfig;
    let text = format!(
        "{CREDS}artifactory:\n  - id: art\n    url: https://repo.example.com/artifactory/\n    credential: smtp\n  - id: open\n    url: http://127.0.0.1:8081/artifactory\n"
    );
    let cfg = parse("kiln.yaml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cfg.services.artifactory,
        vec![
            ArtifactoryConfig {
                id: "art".into(),
                url: "https://repo.example.com/artifactory".into(),
                credential: Some("smtp".into()),
            },
            ArtifactoryConfig {
                id: "open".into(),
                url: "http://127.0.0.1:8081/artifactory".into(),
                credential: None,
            },
        ]
    );
    check(
        "artifactory:\n  - id: a\n    url: repo:8081\n  - id: a\n    url: http://r\n    token: x\n",
        "error: `artifactory[0].url` must be an `http://` or `https://` URL
  --> kiln.yaml:3:10
   |
 3 |     url: repo:8081
   |          ^^^^^^^^^ found `repo:8081`

error: duplicate Artifactory server id `a`
  --> kiln.yaml:4:9
   |
 2 |   - id: a
   |         - first used here
 4 |   - id: a
   |         ^ used again here

error: unknown key `token`
  --> kiln.yaml:6:5
   |
 6 |     token: x
   |     ^^^^^ not a key in `artifactory[1]`
   = help: the keys in `artifactory[1]` are: id, url, credential

error: could not load kiln.yaml: 3 errors
",
    );
}

#[test]
fn coverity_instances_and_azure_service_principals_decode() {
    use kiln_config::{CredentialKind, SecretSource, ToolKind};
    let text = format!(
        "{CREDS}  - id: sp\n    subscription_id: sub\n    client_id: cid\n    client_secret_env: SP_SECRET\n    tenant: t\n    resource_manager_endpoint: http://127.0.0.1:9/\n\
coverity:\n  - name: localhost\n    host: cov.example\n    credential: smtp\n  - name: tls\n    host: cov2\n    port: 8443\n\
tools:\n  - name: cov-2023\n    type: coverity\n    home: /opt/cov\n"
    );
    let cfg = parse("kiln.yaml", &text).unwrap_or_else(|e| panic!("{e}"));
    let cov = &cfg.services.coverity;
    assert_eq!(
        (cov[0].name.as_str(), cov[0].host.as_str(), cov[0].port),
        ("localhost", "cov.example", 8080)
    );
    assert_eq!(cov[0].credential.as_deref(), Some("smtp"));
    assert_eq!((cov[1].port, cov[1].credential.as_deref()), (8443, None));
    assert_eq!(cfg.services.tools[0].kind, ToolKind::Coverity);
    let CredentialKind::AzureServicePrincipal(sp) = &cfg.credential("sp").unwrap().kind else {
        panic!("not a service principal");
    };
    assert_eq!(
        (
            sp.subscription_id.as_str(),
            sp.client_id.as_str(),
            sp.tenant.as_str()
        ),
        ("sub", "cid", "t")
    );
    assert_eq!(sp.client_secret, SecretSource::Env("SP_SECRET".into()));
    assert_eq!(sp.authentication_endpoint, None);
    assert_eq!(
        sp.resource_manager_endpoint.as_deref(),
        Some("http://127.0.0.1:9/")
    );
}

#[test]
fn coverity_and_azure_mistakes_are_placed() {
    check(
        "credentials:\n  - id: sp\n    client_id: c\n    client_secret: s\n    tenant: t\ncoverity:\n  - name: a\n    host: h\n    port: 70000\n  - name: a\n    host: h\n",
        "error: missing `credentials[0].subscription_id`
  --> kiln.yaml:2:5
   |
 2 |   - id: sp
   |     ^^^^^^ an Azure service principal credential needs `subscription_id`

error: `coverity[0].port` must be a port number (1 to 65535)
  --> kiln.yaml:9:11
   |
 9 |     port: 70000
   |           ^^^^^ found an integer

error: duplicate Coverity Connect instance name `a`
   --> kiln.yaml:10:11
    |
  7 |   - name: a
    |           - first used here
 10 |   - name: a
    |           ^ used again here

error: could not load kiln.yaml: 3 errors
",
    );
}
