//! Configuration files: what good ones decode to, and the exact diagnostics of bad ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_config::{
    Config, ConfigError, CredentialKind, PassEnv, Role, SandboxMode, SecretSource, Source, parse,
};
use kiln_diagnostics::RenderOptions;
use std::path::PathBuf;

fn ok(text: &str) -> Config {
    parse("kiln.yaml", text).unwrap_or_else(|e| panic!("{e}"))
}

/// Parses `text`, which must fail, and compares the rendered diagnostics.
fn check(text: &str, expected: &str) {
    let err = parse("kiln.yaml", text).expect_err("the configuration should be refused");
    let rendered = err.render(RenderOptions::default());
    assert_eq!(rendered, expected, "\n--- got ---\n{rendered}");
}

#[test]
fn empty_file_is_the_embedded_default() {
    assert_eq!(ok(""), Config::default());
    assert_eq!(ok("# nothing yet\n"), Config::default());
    let d = Config::default();
    assert_eq!(d.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(d.server.data_dir, PathBuf::from("./kiln-data"));
    assert_eq!(d.executors.local.capacity, 2);
    assert_eq!(d.queue_capacity(), 2);
    assert!(d.jobs.is_empty() && d.loopback_only());
}

#[test]
fn full_configuration_decodes() {
    let cfg = ok(r#"
server:
  listen: 0.0.0.0:9090
  data_dir: /var/lib/kiln
  external_url: https://ci.example.com/
  tokens:
    - { name: ops, token_env: KILN_ADMIN_TOKEN, role: admin }
    - { name: bot, token: s3cr3t, role: trigger }
executors:
  local: { capacity: 4 }
  kubernetes:
    namespace: ci
    pod_template: { cpu: 2 }
queue:
  capacity: 3
jobs:
  - name: app
    repo: https://github.com/acme/app.git
    branch: release/*
    jenkinsfile: ci/Jenkinsfile
    parameters: { GREETING: hi, COUNT: 3, DEBUG: true }
    triggers:
      cron: H 2 * * *
      poll: H/5 * * * *
      upstream: [lib]
    concurrency: 2
    quiet_period_secs: 5
    retention: { builds: 50, days: 30 }
    webhook_secret_env: APP_HOOK_SECRET
  - name: lib
    dir: ./lib
libraries:
  - { name: shared, repo: "git@github.com:acme/shared.git", default_version: v1 }
credentials:
  - { id: token, secret_file: /run/secrets/token }
  - { id: deploy, username: deployer, password_env: DEPLOY_PASSWORD }
  - { id: kubeconfig, file: /etc/kube/config }
  - { id: ssh, username: git, private_key_file: /keys/id_ed25519, passphrase: pw }
"#);
    assert_eq!(cfg.server.listen.to_string(), "0.0.0.0:9090");
    assert_eq!(
        cfg.server.external_url.as_deref(),
        Some("https://ci.example.com")
    );
    assert_eq!(cfg.server.tokens[0].role, Role::Admin);
    assert_eq!(
        cfg.server.tokens[1].token,
        SecretSource::Value(kiln_config::Secret::new("s3cr3t"))
    );
    assert_eq!(cfg.queue_capacity(), 3);
    assert_eq!(cfg.executors.local.capacity, 4);
    assert_eq!(
        cfg.executors.kubernetes,
        Some(serde_json::json!({"namespace": "ci", "pod_template": {"cpu": 2}}))
    );
    let app = cfg.job("app").unwrap();
    assert_eq!(
        app.source,
        Source::Repo("https://github.com/acme/app.git".into())
    );
    assert!(app.branch_is_pattern());
    assert_eq!(app.jenkinsfile, "ci/Jenkinsfile");
    assert_eq!(app.parameters["COUNT"], "3");
    assert_eq!(app.parameters["DEBUG"], "true");
    assert_eq!(app.triggers.cron.as_ref().unwrap().spec(), "H 2 * * *");
    assert_eq!(app.triggers.upstream[0].as_str(), "lib");
    assert_eq!((app.concurrency, app.quiet_period_secs), (2, 5));
    assert_eq!(
        (app.retention.builds, app.retention.days),
        (Some(50), Some(30))
    );
    assert_eq!(
        app.webhook_secret,
        Some(SecretSource::Env("APP_HOOK_SECRET".into()))
    );
    let lib = cfg.job("lib").unwrap();
    assert_eq!(lib.source, Source::Dir("./lib".into()));
    assert_eq!(
        (
            lib.branch.as_str(),
            lib.jenkinsfile.as_str(),
            lib.concurrency
        ),
        ("main", "Jenkinsfile", 1)
    );
    assert_eq!(cfg.libraries[0].default_version.as_deref(), Some("v1"));
    assert!(matches!(
        cfg.credential("deploy").unwrap().kind,
        CredentialKind::UsernamePassword { .. }
    ));
    assert!(matches!(
        cfg.credential("kubeconfig").unwrap().kind,
        CredentialKind::File(_)
    ));
    assert!(matches!(
        cfg.credential("ssh").unwrap().kind,
        CredentialKind::SshKey {
            passphrase: Some(_),
            ..
        }
    ));
}

#[test]
fn secrets_never_show_in_debug_output() {
    let cfg = ok(
        "server:\n  listen: 0.0.0.0:1\n  tokens: [{ name: a, token: hunter2, role: read }]\ncredentials:\n  - { id: x, secret: swordfish }\n  - { id: y, username: u, password: letmein }\njobs:\n  - { name: j, repo: r, webhook_secret: opensesame }\n",
    );
    let debug = format!("{cfg:?}");
    for secret in ["hunter2", "swordfish", "letmein", "opensesame"] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    assert!(debug.contains("****"));
}

#[test]
fn unknown_keys_are_named_with_a_suggestion() {
    check(
        "server:\n  listen: 127.0.0.1:8080\njobz:\n  - name: a\n",
        "error: unknown key `jobz`
  --> kiln.yaml:3:1
   |
 3 | jobz:
   | ^^^^ did you mean `jobs`?

error: could not load kiln.yaml: 1 error
",
    );
    check(
        "jobs:\n  - name: a\n    repo: r\n    colour: blue\n",
        "error: unknown key `colour`
  --> kiln.yaml:4:5
   |
 4 |     colour: blue
   |     ^^^^^^ not a key in `jobs[0]`
   = help: the keys in `jobs[0]` are: name, repo, dir, branch, jenkinsfile, parameters, triggers, concurrency, quiet_period_secs, retention, webhook_secret, webhook_secret_env, webhook_secret_file, forge, multibranch, branches

error: could not load kiln.yaml: 1 error
",
    );
}

#[test]
fn wrong_types_and_values_point_at_the_value() {
    check(
        "executors:\n  local:\n    capacity: lots\nqueue:\n  capacity: 0\n",
        "error: `executors.local.capacity` must be a positive whole number
  --> kiln.yaml:3:15
   |
 3 |     capacity: lots
   |               ^^^^ found `lots`

error: `queue.capacity` must be a positive whole number
  --> kiln.yaml:5:13
   |
 5 |   capacity: 0
   |             ^ found an integer

error: could not load kiln.yaml: 2 errors
",
    );
    check(
        "server:\n  listen: localhost\n  tokens: { name: a }\n",
        "error: `server.listen` must be an IP address and port such as `127.0.0.1:8080`
  --> kiln.yaml:2:11
   |
 2 |   listen: localhost
   |           ^^^^^^^^^ `localhost` is not an address and port

error: `server.tokens` must be a list
  --> kiln.yaml:3:11
   |
 3 |   tokens: { name: a }
   |           ^ found a mapping

error: could not load kiln.yaml: 2 errors
",
    );
}

#[test]
fn several_errors_are_reported_at_once() {
    check(
        "jobs:\n  - name: 'bad name'\n    repo: r\n  - name: ok\n    repo: r\n    dir: d\n  - name: ok\n    triggers:\n      cron: 61 * * * *\n",
        "error: invalid job name `bad name`
  --> kiln.yaml:2:11
   |
 2 |   - name: 'bad name'
   |           ^^^^^^^^^^ not a valid job name
   = help: job names use letters, digits, `-`, `_` and `.`, do not start with `.`, and have at most 100 characters

error: job `ok` has both `repo` and `dir`
  --> kiln.yaml:6:5
   |
 5 |     repo: r
   |     ---- `repo` given here
 6 |     dir: d
   |     ^^^ give only one

error: job `ok` has no source
  --> kiln.yaml:7:5
   |
 7 |   - name: ok
   |     ^^^^^^^^ expected `repo` (a git URL) or `dir` (a directory)

error: duplicate job name `ok`
  --> kiln.yaml:7:11
   |
 4 |   - name: ok
   |           -- first used here
 7 |   - name: ok
   |           ^^ used again here

error: invalid cron spec in `jobs[2].triggers.cron`
  --> kiln.yaml:9:13
   |
 9 |       cron: 61 * * * *
   |             ^^^^^^^^^^ in minute field `61`: minute 61 is out of range 0-59

error: could not load kiln.yaml: 5 errors
",
    );
}

#[test]
fn roles_secrets_and_credentials_are_checked() {
    check(
        "server:\n  tokens:\n    - name: a\n      token: x\n      token_env: Y\n      role: amdin\n    - name: b\n",
        "error: `server.tokens[0].token` and `token_env` both given
  --> kiln.yaml:5:7
   |
 5 |       token_env: Y
   |       ^^^^^^^^^ give only one
   = help: use one of `token`, `token_env`, `token_file`

error: `server.tokens[0].role` must be `read`, `trigger` or `admin`
  --> kiln.yaml:6:13
   |
 6 |       role: amdin
   |             ^^^^^ did you mean `admin`?

error: missing `server.tokens[1].token`
  --> kiln.yaml:7:7
   |
 7 |     - name: b
   |       ^^^^^^^ a token (or `token_env`, `token_file`) needs `token`

error: missing `server.tokens[1].role`
  --> kiln.yaml:7:7
   |
 7 |     - name: b
   |       ^^^^^^^ a token (`read`, `trigger` or `admin`) needs `role`

error: could not load kiln.yaml: 4 errors
",
    );
    check(
        "credentials:\n  - id: a\n    secret: x\n    file: f\n  - id: b\n    password: p\n",
        "error: `credentials[0]` mixes `secret` and `file`
  --> kiln.yaml:2:5
   |
 2 |   - id: a
   |     ^^^^^ a credential has one kind of value

error: missing `credentials[1].username`
  --> kiln.yaml:5:5
   |
 5 |   - id: b
   |     ^^^^^ a username/password credential needs `username`

error: could not load kiln.yaml: 2 errors
",
    );
}

#[test]
fn open_listen_needs_tokens() {
    check(
        "server:\n  listen: 0.0.0.0:8080\n",
        "error: kiln will not listen on 0.0.0.0:8080 without API tokens
  --> kiln.yaml:2:11
   |
 2 |   listen: 0.0.0.0:8080
   |           ^^^^^^^^^^^^ not a loopback address
   = help: add `server.tokens` (with roles), or listen on 127.0.0.1

error: could not load kiln.yaml: 1 error
",
    );
    assert!(
        !ok("server:\n  listen: '[::1]:8080'\n")
            .server
            .listen
            .ip()
            .is_unspecified()
    );
}

#[test]
fn upstream_jobs_must_exist() {
    check(
        "jobs:\n  - name: build\n    repo: r\n  - name: deploy\n    repo: r\n    triggers: { upstream: [biuld] }\n",
        "error: unknown upstream job `biuld`
  --> kiln.yaml:6:28
   |
 6 |     triggers: { upstream: [biuld] }
   |                            ^^^^^ did you mean `build`?

error: could not load kiln.yaml: 1 error
",
    );
}

#[test]
fn duplicate_keys_show_both_places() {
    check(
        "server:\n  listen: 127.0.0.1:1\n  listen: 127.0.0.1:2\n",
        "error: duplicate key `listen`
  --> kiln.yaml:3:3
   |
 2 |   listen: 127.0.0.1:1
   |   ------ first written here
 3 |   listen: 127.0.0.1:2
   |   ^^^^^^ written again here

error: could not load kiln.yaml: 1 error
",
    );
}

#[test]
fn anchors_in_extension_keys_can_be_reused() {
    let cfg = ok(
        "x-job: &job\n  repo: /srv/git/app\n  concurrency: 3\njobs:\n  - { <<: *job, name: a }\n  - { <<: *job, name: b, branch: dev }\n",
    );
    assert_eq!(cfg.jobs.len(), 2);
    assert_eq!(cfg.jobs[1].concurrency, 3);
    assert_eq!(cfg.jobs[1].branch, "dev");
}

#[test]
fn yaml_syntax_errors_are_diagnostics() {
    check(
        "jobs:\n  - name: [a\n",
        "error: invalid YAML: unclosed bracket '['
  --> kiln.yaml:2:11
   |
 2 |   - name: [a
   |           ^ here

error: could not load kiln.yaml: 1 error
",
    );
}

#[test]
fn warnings_do_not_fail_the_load() {
    let cfg = ok(
        "jobs:\n  - name: a\n    dir: .\n    branch: dev\n    triggers:\n      cron: |\n        TZ=UTC\n        H * * * *\n",
    );
    assert_eq!(cfg.warnings.len(), 2, "{:?}", cfg.warnings);
    assert!(cfg.warnings[0].starts_with("warning: `branch` is ignored for a `dir` job"));
    assert!(cfg.warnings[1].contains("`TZ=UTC` is ignored"));
}

#[test]
fn load_reads_files_and_rebases_relative_paths() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kiln.yaml");
    std::fs::write(
        &path,
        "server: { data_dir: state }\njobs:\n  - { name: a, dir: proj }\n  - { name: b, repo: ../repo }\n  - { name: c, repo: 'git@host:x/y' }\n",
    )
    .unwrap();
    let cfg = kiln_config::load(&path).unwrap();
    assert_eq!(cfg.server.data_dir, dir.path().join("state"));
    assert_eq!(cfg.jobs[0].source, Source::Dir(dir.path().join("proj")));
    assert_eq!(
        cfg.jobs[1].source,
        Source::Repo(dir.path().join("../repo").display().to_string())
    );
    assert_eq!(cfg.jobs[2].source, Source::Repo("git@host:x/y".into()));
    let missing = kiln_config::load(&dir.path().join("nope.yaml")).unwrap_err();
    assert!(matches!(missing, ConfigError::Read { .. }));
}

#[test]
fn the_example_configuration_parses() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/kiln.yaml");
    let cfg = kiln_config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    assert!(cfg.jobs.iter().any(|j| matches!(j.source, Source::Dir(_))));
    assert!(cfg.jobs.iter().any(|j| matches!(j.source, Source::Repo(_))));
    for job in &cfg.jobs {
        if let Source::Dir(dir) = &job.source {
            assert!(dir.join(&job.jenkinsfile).is_file(), "{}", dir.display());
        }
    }
}

#[test]
fn scripts_total_time_is_off_unless_set() {
    assert_eq!(Config::default().scripts.total_time, None);
    let cfg = ok("scripts:\n  total_time_secs: 90\n");
    assert_eq!(
        cfg.scripts.total_time,
        Some(std::time::Duration::from_secs(90))
    );
    check(
        "scripts:\n  total_time_secs: 0\n",
        "error: `scripts.total_time_secs` must be a positive whole number
  --> kiln.yaml:2:20
   |
 2 |   total_time_secs: 0
   |                    ^ found an integer

error: could not load kiln.yaml: 1 error
",
    );
}

#[test]
fn server_edge_keys_decode_and_bad_hosts_are_refused() {
    let cfg = ok(
        "server:\n  allowed_hosts: [CI.internal, .example.com]\n  limits: { header_timeout_seconds: 5, connections_per_client: 8 }\n",
    );
    assert_eq!(cfg.server.allowed_hosts, ["ci.internal", ".example.com"]);
    assert_eq!(cfg.server.limits.header_timeout_seconds, 5);
    assert_eq!(cfg.server.limits.body_timeout_seconds, 60);
    assert_eq!(cfg.server.limits.connections_per_client, 8);
    check(
        "server:\n  allowed_hosts: ['https://ci.example.com:8080']\n",
        "error: `server.allowed_hosts[0]` must be a host name without scheme or port (`ci.example.com`, `.example.com` or `*`)
  --> kiln.yaml:2:19
   |
 2 |   allowed_hosts: ['https://ci.example.com:8080']
   |                   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ found `https://ci.example.com:8080`

error: could not load kiln.yaml: 1 error
",
    );
}

#[test]
fn local_executor_isolation_keys_decode() {
    let cfg = ok(
        "executors:\n  local:\n    env: [JAVA_HOME, 'MAVEN_OPTS=-Xmx1g -Dx=y']\n    allow_paths: [/opt/cache]\n    sandbox: off\n",
    );
    let local = &cfg.executors.local;
    assert_eq!(
        local.env,
        [
            PassEnv::Inherit("JAVA_HOME".into()),
            PassEnv::Set("MAVEN_OPTS".into(), "-Xmx1g -Dx=y".into())
        ]
    );
    assert_eq!(local.allow_paths, [PathBuf::from("/opt/cache")]);
    assert_eq!(local.sandbox, SandboxMode::Off);
    assert_eq!(
        Config::default().executors.local.sandbox,
        SandboxMode::Landlock
    );
}

#[test]
fn local_executor_isolation_keys_are_checked() {
    check(
        "executors:\n  local:\n    env: ['1X=y', 'A B']\n    sandbox: landlok\n",
        "error: `executors.local.env[0]` must be a variable name (`NAME`) or `NAME=value`
  --> kiln.yaml:3:11
   |
 3 |     env: ['1X=y', 'A B']
   |           ^^^^^^ found `1X=y`

error: `executors.local.env[1]` must be a variable name (`NAME`) or `NAME=value`
  --> kiln.yaml:3:19
   |
 3 |     env: ['1X=y', 'A B']
   |                   ^^^^^ found `A B`

error: `executors.local.sandbox` must be `landlock` or `off`
  --> kiln.yaml:4:14
   |
 4 |     sandbox: landlok
   |              ^^^^^^^ did you mean `landlock`?

error: could not load kiln.yaml: 3 errors
",
    );
}

#[test]
fn load_rebases_relative_allow_paths() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kiln.yaml");
    std::fs::write(
        &path,
        "executors: { local: { allow_paths: [cache, /abs] } }\n",
    )
    .unwrap();
    let cfg = kiln_config::load(&path).unwrap();
    assert_eq!(
        cfg.executors.local.allow_paths,
        [dir.path().join("cache"), PathBuf::from("/abs")]
    );
}
