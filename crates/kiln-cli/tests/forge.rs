//! End to end: `kiln server` (the real binary) reporting commit statuses to a fake GitHub and
//! GitLab started here, for builds of real git repositories triggered by signed webhooks and
//! by hand.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code, reason = "the SMTP peer is not used here")]
mod peers;
mod support;

use peers::forge::{APP_ID, APP_KEY_PEM, FakeForge, Posted, TOKEN as FORGE_TOKEN};
use serde_json::json;
use std::path::PathBuf;
use support::*;

const OK: &str =
    "pipeline {\n  agent any\n  stages { stage('Hi') { steps { echo 'hello' } } }\n}\n";
const FAIL: &str =
    "pipeline {\n  agent any\n  stages { stage('Boom') { steps { sh 'exit 3' } } }\n}\n";
const SLOW: &str =
    "pipeline {\n  agent any\n  stages { stage('Nap') { steps { sh 'sleep 2' } } }\n}\n";
const FLAKY: &str = "pipeline {\n  agent any\n  stages { stage('Tests') { steps { unstable 'two tests failed' } } }\n}\n";

/// A repository with the three pipelines, and a server configuration around `jobs`.
struct Env {
    root: PathBuf,
    config: PathBuf,
    repo_url: String,
    commit: String,
    _dir: tempfile::TempDir,
}

impl Env {
    /// `jobs` is YAML for `jobs:` where `REPO` stands for the repository's URL; `server` is
    /// added to the `server:` section.
    fn new(jobs: &str, server: &str) -> Env {
        let dir = tempfile::Builder::new()
            .prefix("kiln-forge-")
            .tempdir()
            .unwrap();
        let root = dir.path().to_path_buf();
        let repo = root.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        for (name, text) in [("ok", OK), ("fail", FAIL), ("slow", SLOW), ("flaky", FLAKY)] {
            std::fs::write(repo.join(format!("{name}.Jenkinsfile")), text).unwrap();
        }
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "pipelines"]);
        let commit = git(&repo, &["rev-parse", "HEAD"]);
        let repo_url = format!("file://{}", repo.display());
        let app_key = root.join("app-key.pem");
        std::fs::write(&app_key, APP_KEY_PEM).unwrap();
        let yaml = format!(
            "server:\n  external_url: https://ci.example.com/\n{server}  tokens:\n    - {{name: e2e, token: {TOKEN}, role: admin}}\ncredentials:\n  - {{id: forge, secret: {FORGE_TOKEN}}}\n  - {{id: wrong, secret: not-the-token}}\n  - {{id: app-key, secret_file: '{}'}}\njobs:\n{}",
            app_key.display(),
            jobs.replace("REPO", &repo_url)
        );
        let config = root.join("kiln.yaml");
        std::fs::write(&config, yaml).unwrap();
        Env {
            root,
            config,
            repo_url,
            commit,
            _dir: dir,
        }
    }

    fn start(&self) -> Server {
        Server::start(
            &self.root,
            &self.config,
            "127.0.0.1:0",
            [("KILN_LOG", "info")],
        )
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default()
    }
}

fn job(name: &str, pipeline: &str, forge: &str) -> String {
    format!(
        "  - name: {name}\n    repo: REPO\n    jenkinsfile: {pipeline}.Jenkinsfile\n    webhook_secret: hook-secret\n    forge: {forge}\n"
    )
}

/// Waits until `context` got a final state (not pending or running); its states in order.
fn final_states(forge: &FakeForge, env: &Env, context: &str) -> Vec<String> {
    wait_or_show(
        &format!("a final status of {context}"),
        || {
            forge
                .states(context)
                .last()
                .is_some_and(|s| s != "pending" && s != "running")
        },
        || {
            format!(
                "{:#?}\n--- server log:\n{}",
                forge.statuses(),
                env.server_log()
            )
        },
    );
    forge.states(context)
}

fn push(server: &Server, repo_url: &str, commit: &str) -> (u16, String) {
    push_delivery(server, repo_url, commit, "d-1")
}

fn push_delivery(server: &Server, repo_url: &str, commit: &str, delivery: &str) -> (u16, String) {
    let payload = json!({
        "ref": "refs/heads/main",
        "after": commit,
        "repository": { "clone_url": repo_url },
        "sender": { "login": "octo" },
    })
    .to_string();
    let signature = kiln_server::hooks::signature::github_sign("hook-secret", payload.as_bytes());
    let mut r = agent()
        .post(&format!("{}/hooks/github", server.url))
        .header("x-github-event", "push")
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", &signature)
        .send(payload)
        .unwrap();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

#[test]
fn a_github_push_reports_pending_then_the_result_of_each_job() {
    let forge = FakeForge::start();
    let spec = |repo: &str| {
        format!(
            "{{kind: github, api_url: '{}', repository: {repo}, token_credential: forge}}",
            forge.github_api()
        )
    };
    let jobs = format!(
        "{}{}",
        job("app", "ok", &spec("acme/app")),
        job("broken", "fail", &spec("acme/app"))
    );
    let env = Env::new(&jobs, "");
    let server = env.start();
    let (status, body) = push(&server, &env.repo_url, &env.commit);
    assert_eq!(status, 202, "{body}");

    assert_eq!(
        final_states(&forge, &env, "kiln/app"),
        ["pending", "pending", "success"]
    );
    assert_eq!(
        final_states(&forge, &env, "kiln/broken"),
        ["pending", "pending", "failure"]
    );
    let last = forge
        .statuses()
        .into_iter()
        .rfind(|p| p.context == "kiln/app")
        .unwrap();
    assert_eq!(
        last,
        Posted {
            forge: "github",
            repository: "acme/app".into(),
            sha: env.commit.clone(),
            state: "success".into(),
            context: "kiln/app".into(),
            target_url: Some("https://ci.example.com/jobs/app/1".into()),
            description: "This commit looks good".into(),
            git_ref: None,
        }
    );
    let descriptions: Vec<String> = forge
        .statuses()
        .into_iter()
        .filter(|p| p.context == "kiln/app")
        .map(|p| p.description)
        .collect();
    assert_eq!(
        descriptions,
        ["Build queued", "Build running", "This commit looks good"]
    );
    assert!(
        forge
            .requests()
            .iter()
            .all(|r| r.header("user-agent").is_some())
    );

    let (status, svg) = badge(&server, "/jobs/app/badge.svg", true);
    assert_eq!(status, 200, "{svg}");
    assert!(svg.contains("<title>build: passing</title>"), "{svg}");
    let (_, svg) = badge(&server, "/jobs/broken/badge.svg", true);
    assert!(svg.contains("<title>build: failing</title>"), "{svg}");
    let (_, svg) = badge(&server, "/jobs/app/badge.svg?branch=main", true);
    assert!(svg.contains("build: passing"), "{svg}");
    let (_, svg) = badge(&server, "/jobs/app/badge.svg?branch=other", true);
    assert!(svg.contains("build: no builds"), "{svg}");
    let (status, _) = badge(&server, "/jobs/app/badge.svg", false);
    assert_eq!(
        status, 401,
        "badges need a token unless server.public_badges is set"
    );
    let (status, _) = badge(&server, "/jobs/nope/badge.svg", true);
    assert_eq!(status, 404);
}

#[test]
fn an_unstable_build_draws_an_unstable_badge() {
    let jobs = "  - name: flaky\n    repo: REPO\n    jenkinsfile: flaky.Jenkinsfile\n";
    let env = Env::new(jobs, "  public_badges: true\n");
    let server = env.start();
    let out = kiln(&server, &["trigger", "flaky", "--follow"]);
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(log.trim_end().ends_with("Finished: UNSTABLE"), "{log}");
    let (status, svg) = badge(&server, "/jobs/flaky/badge.svg", false);
    assert_eq!(status, 200, "{svg}");
    assert!(svg.contains("<title>build: unstable</title>"), "{svg}");
}

#[test]
fn a_build_waiting_for_input_draws_running_then_aborted_once_cancelled() {
    let jobs = "  - name: gate
    repo: REPO
    jenkinsfile: gate.Jenkinsfile
";
    let env = Env::new(
        jobs,
        "  public_badges: true
",
    );
    let repo = env.root.join("repo");
    let gate = "pipeline {\n  agent any\n  stages { stage('Gate') { steps { input message: 'Ship?' } } }\n}\n";
    std::fs::write(repo.join("gate.Jenkinsfile"), gate).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "gate"]);
    let server = env.start();
    kiln_ok(&server, &["trigger", "gate"]);
    let title = || badge(&server, "/jobs/gate/badge.svg", false).1;
    wait_or_show(
        "the waiting build's badge",
        || title().contains("<title>build: running</title>"),
        title,
    );
    let (status, body) = api_post(&server, "/api/v1/jobs/gate/builds/1/cancel", &json!({}));
    assert!((200..300).contains(&status), "{body}");
    wait_or_show(
        "the aborted badge",
        || title().contains("<title>build: aborted</title>"),
        title,
    );
}

/// `GET path` with or without the admin token: the status and the body.
fn badge(server: &Server, path: &str, token: bool) -> (u16, String) {
    let mut request = agent().get(&format!("{}{path}", server.url));
    if token {
        request = request.header("authorization", &format!("Bearer {TOKEN}"));
    }
    let mut r = request.call().unwrap();
    let status = r.status().as_u16();
    if status == 200 {
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "image/svg+xml;charset=utf-8"
        );
    }
    (status, r.body_mut().read_to_string().unwrap())
}

#[test]
fn a_gitlab_build_by_hand_reports_running_and_retries_a_failing_forge() {
    let forge = FakeForge::start();
    forge.fail_next(2);
    let jobs = job(
        "app",
        "ok",
        &format!(
            "{{kind: gitlab, api_url: '{}', repository: group/sub/app, token_credential: forge}}",
            forge.gitlab_api()
        ),
    );
    let env = Env::new(&jobs, "");
    let server = env.start();
    kiln_ok(&server, &["trigger", "app", "--follow"]);
    assert_eq!(
        final_states(&forge, &env, "kiln/app"),
        ["pending", "running", "success"]
    );
    let posted = forge.statuses();
    assert!(
        posted
            .iter()
            .all(|p| p.repository == "group/sub/app" && p.sha == env.commit && p.forge == "gitlab"),
        "{posted:#?}"
    );
    assert!(
        posted.iter().all(|p| p.git_ref.as_deref() == Some("main")),
        "GitLab's `ref` is the branch built: {posted:#?}"
    );
    let refused = forge
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count()
        - posted.len();
    assert_eq!(refused, 2, "the two 503 answers were tried again");
}

#[test]
fn a_forge_that_refuses_the_status_is_said_in_the_log_and_the_build_still_passes() {
    let forge = FakeForge::start();
    let jobs = job(
        "nap",
        "slow",
        &format!(
            "{{kind: github, api_url: '{}', repository: acme/app, token_credential: wrong}}",
            forge.github_api()
        ),
    );
    let env = Env::new(&jobs, "  public_badges: true\n");
    let server = env.start();
    let (_, svg) = badge(&server, "/jobs/nap/badge.svg", false);
    assert!(svg.contains("build: no builds"), "{svg}");
    kiln_ok(&server, &["trigger", "nap"]);
    let (status, svg) = badge(&server, "/jobs/nap/badge.svg", false);
    assert_eq!(status, 200, "server.public_badges opens the badge");
    assert!(svg.contains("build: running"), "{svg}");
    let out = kiln(&server, &["logs", "nap#1", "--follow"]);
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(
        log.contains("kiln: could not report the github status `kiln/nap` (pending) of commit"),
        "{log}"
    );
    assert!(log.contains("answered 401"), "{log}");
    assert_eq!(
        log.matches("kiln: could not report the").count(),
        2,
        "the queued and the running status are both said: {log}"
    );
    assert!(log.trim_end().ends_with("Finished: SUCCESS"), "{log}");
    assert!(forge.statuses().is_empty());
    assert!(!log.contains("not-the-token"), "{log}");
}

#[test]
fn a_delivery_seen_before_is_acknowledged_and_not_built_even_after_a_restart() {
    let forge = FakeForge::start();
    let jobs = job(
        "app",
        "ok",
        &format!(
            "{{kind: github, api_url: '{}', repository: acme/app, token_credential: forge}}",
            forge.github_api()
        ),
    );
    let env = Env::new(&jobs, "");
    let server = env.start();
    let (status, body) = push_delivery(&server, &env.repo_url, &env.commit, "uuid-1");
    assert_eq!(status, 202, "{body}");
    final_states(&forge, &env, "kiln/app");
    let (status, body) = push_delivery(&server, &env.repo_url, &env.commit, "uuid-1");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("delivery `github:uuid-1` was already received: not built again"),
        "{body}"
    );
    drop(server);
    let server = env.start();
    let (status, body) = push_delivery(&server, &env.repo_url, &env.commit, "uuid-1");
    assert_eq!(status, 200, "a restart remembers the delivery: {body}");
    let (status, body) = push_delivery(&server, &env.repo_url, &env.commit, "uuid-2");
    assert_eq!(status, 202, "{body}");
    assert!(body.contains("app#2"), "{body}");
    let listed = api(&server, "/jobs/app/builds");
    assert_eq!(listed["builds"].as_array().unwrap().len(), 2, "{listed}");
}

#[test]
fn a_github_ping_is_answered() {
    let env = Env::new("", "");
    let server = env.start();
    let mut r = agent()
        .post(&format!("{}/hooks/github", server.url))
        .header("x-github-event", "ping")
        .header("x-github-delivery", "p-1")
        .send(r#"{"zen":"Keep it logically awesome.","hook_id":1}"#)
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body = r.body_mut().read_to_string().unwrap();
    assert!(body.contains("pong"), "{body}");
}

/// The target branch's pipeline: it shows the change variables and the workspace, then uses
/// a credential.
const TARGET_PR: &str = "pipeline {\n  agent any\n  stages {\n    stage('Show') { steps { echo \"target pipeline BRANCH=${env.BRANCH_NAME} ID=${env.CHANGE_ID} TARGET=${env.CHANGE_TARGET} FROM=${env.CHANGE_BRANCH} AUTHOR=${env.CHANGE_AUTHOR}\"\n sh 'ls' } }\n    stage('Secret') { steps { withCredentials([string(credentialsId: 'forge', variable: 'T')]) { echo 'credentials given' } } }\n  }\n}\n";

fn own_pipeline(who: &str) -> String {
    format!(
        "pipeline {{\n  agent any\n  stages {{ stage('Show') {{ steps {{ echo \"{who} pipeline BRANCH=${{env.BRANCH_NAME}} ID=${{env.CHANGE_ID}} TARGET=${{env.CHANGE_TARGET}} FROM=${{env.CHANGE_BRANCH}} AUTHOR=${{env.CHANGE_AUTHOR}}\" }} }} }}\n}}\n"
    )
}

/// Commits `pr.Jenkinsfile` (and `file`) on a new branch, or on `ref` without a branch (as a
/// fork's pull request is seen in the target repository: `refs/pull/N/head`); back on main.
fn pr_commit(repo: &std::path::Path, pipeline: &str, file: &str, git_ref: &str) -> String {
    git(repo, &["checkout", "-q", "-b", "pr-work"]);
    std::fs::write(repo.join("pr.Jenkinsfile"), pipeline).unwrap();
    std::fs::write(repo.join(file), "x").unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "change"]);
    let sha = git(repo, &["rev-parse", "HEAD"]);
    git(repo, &["update-ref", git_ref, &sha]);
    git(repo, &["checkout", "-q", "main"]);
    git(repo, &["branch", "-q", "-D", "pr-work"]);
    sha
}

fn pull_request(server: &Server, env: &Env, n: u64, head: &str, from: &str, author: &str) -> u16 {
    let payload = json!({
        "action": "opened",
        "number": n,
        "pull_request": {
            "title": "a change",
            "user": { "login": author },
            "head": { "ref": "feature", "sha": head, "repo": { "full_name": from } },
            "base": { "ref": "main", "repo": { "full_name": "acme/app" } },
        },
        "repository": { "clone_url": env.repo_url },
    })
    .to_string();
    let signature = kiln_server::hooks::signature::github_sign("hook-secret", payload.as_bytes());
    let r = agent()
        .post(&format!("{}/hooks/github", server.url))
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", &format!("pr-{n}"))
        .header("x-hub-signature-256", &signature)
        .send(payload)
        .unwrap();
    r.status().as_u16()
}

#[test]
fn pull_requests_build_with_change_variables_and_forks_run_the_targets_pipeline_when_untrusted() {
    let forge = FakeForge::start();
    forge.set_permission("trusty", "write");
    let jobs = job(
        "app",
        "pr",
        &format!(
            "{{kind: github, api_url: '{}', repository: acme/app, token_credential: forge}}",
            forge.github_api()
        ),
    );
    let env = Env::new(&jobs, "");
    let repo = env.root.join("repo");
    std::fs::write(repo.join("pr.Jenkinsfile"), TARGET_PR).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "target pipeline"]);
    let main = git(&repo, &["rev-parse", "HEAD"]);
    let own = pr_commit(
        &repo,
        &own_pipeline("head"),
        "own.txt",
        "refs/heads/feature",
    );
    let evil = pr_commit(&repo, &own_pipeline("fork"), "fork.txt", "refs/pull/7/head");
    let trusty = pr_commit(
        &repo,
        &own_pipeline("trusted fork"),
        "t.txt",
        "refs/pull/8/head",
    );
    let server = env.start();
    let log_of = |n: u64| {
        let out = kiln(&server, &["logs", &format!("app#{n}"), "--follow"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    assert_eq!(
        pull_request(&server, &env, 5, &own, "acme/app", "alice"),
        202
    );
    let log = log_of(1);
    assert!(
        log.contains("head pipeline BRANCH=PR-5 ID=5 TARGET=main FROM=feature AUTHOR=alice"),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "Merged the pull request's head {own} into the target branch `main` at {main}"
        )),
        "a job that is not multibranch builds the merge too: {log}"
    );
    assert!(
        log.contains(&format!("Running pr.Jenkinsfile of the pull request's head {own}: it comes from a branch of the repository")),
        "{log}"
    );
    assert_eq!(
        final_states(&forge, &env, "kiln/app"),
        ["pending", "pending", "success"]
    );
    assert!(
        forge.statuses().iter().all(|p| p.sha == own),
        "statuses go on the head"
    );

    assert_eq!(
        pull_request(&server, &env, 7, &evil, "mallory/app", "mallory"),
        202
    );
    let log = log_of(2);
    assert!(!log.contains("fork pipeline"), "{log}");
    assert!(
        log.contains("target pipeline BRANCH=PR-7 ID=7 TARGET=main FROM=feature AUTHOR=mallory"),
        "{log}"
    );
    assert!(
        log.contains(&format!("Running pr.Jenkinsfile of the target branch `main` (at {main}), not the pull request's: it comes from a fork and its author `mallory` has no write access to the repository")),
        "{log}"
    );
    assert!(
        log.contains("fork.txt"),
        "the fork's head is checked out: {log}"
    );
    assert!(
        log.contains("could not find credentials entry with ID 'forge'"),
        "{log}"
    );
    assert!(!log.contains("credentials given"), "{log}");
    let b = build(&server, "app", 2);
    assert_eq!(b["commit"], evil.as_str());

    assert_eq!(
        pull_request(&server, &env, 8, &trusty, "trusty/app", "trusty"),
        202
    );
    let log = log_of(3);
    assert!(log.contains("trusted fork pipeline BRANCH=PR-8"), "{log}");
    assert!(
        log.contains("its author `trusty` has write access to the repository"),
        "{log}"
    );

    // A rebuild of a pull request's build is a build of the same request, at the same head,
    // judged as its webhook was.
    let (status, body) = api_post(&server, "/api/v1/jobs/app/builds/2/rebuild", &json!({}));
    assert_eq!(status, 201, "{body}");
    let log = log_of(4);
    assert!(
        log.contains("target pipeline BRANCH=PR-7 ID=7 TARGET=main FROM=feature AUTHOR=mallory"),
        "{log}"
    );
    assert!(
        log.contains("not the pull request's: it comes from a fork and its author `mallory` has no write access"),
        "{log}"
    );
    assert!(!log.contains("credentials given"), "{log}");
    let b = build(&server, "app", 4);
    assert_eq!(
        (b["commit"].as_str(), b["branch"].as_str()),
        (Some(evil.as_str()), Some("PR-7"))
    );
    let (status, body) = api_post(&server, "/api/v1/jobs/app/builds/1/rebuild", &json!({}));
    assert_eq!(status, 201, "{body}");
    let log = log_of(5);
    assert!(
        log.contains("head pipeline BRANCH=PR-5 ID=5 TARGET=main FROM=feature AUTHOR=alice"),
        "{log}"
    );
}

const STEPS: &str = "pipeline {
  agent any
  stages {
    stage('GitHub') {
      steps {
        githubNotify status: 'SUCCESS', description: 'lint ok', context: 'ci/lint', account: 'acme'
        setGitHubPullRequestStatus context: 'ci/pr', message: 'waiting', state: 'PENDING'
        setGitHubPullRequestStatus state: 'SUCCESS'
      }
    }
    stage('GitLab') {
      steps {
        gitlabCommitStatus(name: 'unit') { echo 'testing' }
        updateGitlabCommitStatus name: 'deploy', state: 'failed'
        updateGitlabCommitStatus name: 'docs', state: 'Skipped'
      }
    }
  }
}
";

/// A job running `STEPS` against `forge`; the build's log once it finished.
fn run_steps(forge_spec: &str) -> (FakeForge, Env, String) {
    let forge = FakeForge::start();
    let jobs = job(
        "app",
        "steps",
        &forge_spec
            .replace("API", &forge.github_api())
            .replace("GL", &forge.gitlab_api()),
    );
    let env = Env::new(&jobs, "");
    let repo = env.root.join("repo");
    std::fs::write(repo.join("steps.Jenkinsfile"), STEPS).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "steps"]);
    let server = env.start();
    kiln_ok(&server, &["trigger", "app"]);
    let out = kiln(&server, &["logs", "app#1", "--follow"]);
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    (forge, env, log)
}

#[test]
fn forge_steps_post_their_statuses_and_a_refusing_forge_does_not_fail_the_build() {
    let (forge, env, log) =
        run_steps("{kind: github, api_url: 'API', repository: acme/app, token_credential: forge}");
    assert!(log.trim_end().ends_with("Finished: SUCCESS"), "{log}");
    let head = git(&env.root.join("repo"), &["rev-parse", "HEAD"]);
    let find = |context: &str| {
        forge
            .statuses()
            .into_iter()
            .filter(|p| p.context == context)
            .collect::<Vec<_>>()
    };
    let lint = find("ci/lint");
    assert_eq!(lint.len(), 1, "{:#?}", forge.statuses());
    assert_eq!(
        (
            lint[0].state.as_str(),
            lint[0].description.as_str(),
            lint[0].sha.as_str()
        ),
        ("success", "lint ok", head.as_str())
    );
    assert_eq!(
        lint[0].target_url.as_deref(),
        Some("https://ci.example.com/jobs/app/1")
    );
    let pr = find("ci/pr");
    assert_eq!(
        (pr[0].state.as_str(), pr[0].description.as_str()),
        ("pending", "waiting")
    );
    let by_job = find("app");
    assert_eq!(
        by_job.len(),
        1,
        "without `context` the job's name is the context: {:#?}",
        forge.statuses()
    );
    assert_eq!(by_job[0].state, "success");
    // On GitHub, GitLab's states are spelled GitHub's way.
    assert_eq!(
        find("unit")
            .iter()
            .map(|p| p.state.as_str())
            .collect::<Vec<_>>(),
        ["pending", "success"]
    );
    assert_eq!(find("deploy")[0].state, "failure");
    assert_eq!(
        find("docs")[0].state,
        "success",
        "GitHub has no `skipped` status: a skipped check passes"
    );
    assert!(
        log.contains("githubNotify: `account` is ignored: kiln posts to the forge of the job's `forge:` in kiln.yaml"),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "githubNotify: posted the github status `ci/lint` (success) of commit {head}"
        )),
        "{log}"
    );

    let (forge, _env, log) =
        run_steps("{kind: gitlab, api_url: 'GL', repository: group/app, token_credential: wrong}");
    assert!(log.trim_end().ends_with("Finished: SUCCESS"), "{log}");
    assert!(
        log.contains("gitlabCommitStatus: could not post the commit status:")
            && log.contains("401"),
        "{log}"
    );
    assert!(forge.statuses().is_empty());
}

#[test]
fn gitlab_commit_status_blocks_report_running_then_their_outcome() {
    let (forge, _env, log) =
        run_steps("{kind: gitlab, api_url: 'GL', repository: group/app, token_credential: forge}");
    assert!(log.trim_end().ends_with("Finished: SUCCESS"), "{log}");
    let states = |name: &str| -> Vec<String> {
        forge
            .statuses()
            .into_iter()
            .filter(|p| p.context == name)
            .map(|p| p.state)
            .collect()
    };
    assert_eq!(states("unit"), ["running", "success"]);
    assert_eq!(states("deploy"), ["failed"]);
    assert_eq!(states("docs"), ["skipped"]);
    assert_eq!(states("ci/lint"), ["success"]);
    assert!(forge.statuses().iter().all(|p| p.repository == "group/app"));
}

#[test]
fn a_github_app_reports_check_runs_through_an_installation_token() {
    let forge = FakeForge::start();
    let app = |id: u64| {
        format!(
            "{{kind: github, api_url: '{}', repository: acme/app, app_id: {id}, app_key_credential: app-key}}",
            forge.github_api()
        )
    };
    let jobs = [
        job("app", "ok", &app(APP_ID)),
        job("bad", "fail", &app(APP_ID)),
        job("stranger", "ok", &app(APP_ID + 1)),
    ]
    .concat();
    let env = Env::new(&jobs, "");
    let server = env.start();
    kiln_ok(&server, &["trigger", "app", "--follow"]);
    kiln(&server, &["trigger", "bad", "--follow"]);
    let done = |name: &str| {
        forge
            .check_runs()
            .iter()
            .any(|c| c.name == name && c.states.last().is_some_and(|s| s.starts_with("completed")))
    };
    wait_or_show(
        "both check runs completed",
        || done("kiln/app") && done("kiln/bad"),
        || {
            format!(
                "{:#?}\n{:?}\n{}",
                forge.check_runs(),
                forge.refused_jwts(),
                env.server_log()
            )
        },
    );
    let runs = forge.check_runs();
    let app_run = runs.iter().find(|c| c.name == "kiln/app").unwrap();
    assert_eq!(
        app_run.states,
        ["queued", "in_progress", "completed/success"],
        "one check run, created then moved: {runs:#?}"
    );
    assert_eq!(app_run.head_sha, env.commit);
    assert_eq!(app_run.repository, "acme/app");
    assert_eq!(
        app_run.details_url.as_deref(),
        Some("https://ci.example.com/jobs/app/1")
    );
    assert!(
        app_run
            .summary
            .contains("https://ci.example.com/jobs/app/1"),
        "{app_run:#?}"
    );
    let bad_run = runs.iter().find(|c| c.name == "kiln/bad").unwrap();
    assert_eq!(
        bad_run.states.last().map(String::as_str),
        Some("completed/failure")
    );
    assert_eq!(runs.len(), 2, "{runs:#?}");
    assert!(
        forge.statuses().is_empty(),
        "no commit statuses from an app"
    );

    // An app id whose JWT the forge refuses: the build says so and still passes.
    let out = kiln_ok(&server, &["trigger", "stranger", "--follow"]);
    assert!(out.contains("Finished: SUCCESS"), "{out}");
    wait_or_show(
        "the refused installation token in the server's log",
        || {
            env.server_log()
                .contains("cannot get the GitHub App's installation token")
        },
        || env.server_log(),
    );
    assert!(
        forge
            .refused_jwts()
            .iter()
            .all(|why| why.starts_with("iss")),
        "only the stranger's JWTs were refused, for their issuer: {:?}",
        forge.refused_jwts()
    );
    assert!(!forge.refused_jwts().is_empty());
}

#[test]
fn a_github_apps_installation_token_is_kept_until_it_nears_expiry_and_renewed_when_refused() {
    let forge = FakeForge::start();
    let app = format!(
        "{{kind: github, api_url: '{}', repository: acme/app, app_id: {APP_ID}, app_key_credential: app-key}}",
        forge.github_api()
    );
    let env = Env::new(&job("app", "ok", &app), "");
    let server = env.start();
    let tokens = || forge.count("POST", "/access_tokens");
    let lookups = || forge.count("GET", "/repos/acme/app/installation");
    // Builds one; returns once its check run completed (three calls: queued, in progress,
    // completed).
    let build = |n: u64| {
        kiln_ok(&server, &["trigger", "app", "--follow"]);
        let url = format!("https://ci.example.com/jobs/app/{n}");
        wait_or_show(
            &format!("the check run of app#{n} completed"),
            || {
                forge.check_runs().iter().any(|c| {
                    c.details_url.as_deref() == Some(url.as_str())
                        && c.states.last().is_some_and(|s| s == "completed/success")
                })
            },
            || format!("{:#?}\n{}", forge.check_runs(), env.server_log()),
        );
    };

    // Nine calls of three builds: one installation lookup, one token.
    for n in 1..=3 {
        build(n);
    }
    assert_eq!((lookups(), tokens()), (1, 1), "{:#?}", forge.requests());

    // The forge revokes it: the first call is refused (401), a new token is taken (and the
    // installation looked up again), and the build's check run goes on with it.
    forge.revoke_installation_tokens();
    build(4);
    assert_eq!((lookups(), tokens()), (2, 2));
    assert_eq!(forge.check_runs().len(), 4, "{:#?}", forge.check_runs());

    // A token within five minutes of its expiry is not used again: each call takes a new one.
    forge.set_token_expiry("2000-01-01T00:00:00Z");
    forge.revoke_installation_tokens();
    build(5);
    assert_eq!(
        (lookups(), tokens()),
        (3, 5),
        "a new token for each of the three calls"
    );
    assert!(
        forge.statuses().is_empty() && forge.refused_jwts().is_empty(),
        "{:?}",
        forge.refused_jwts()
    );
}

/// A pull request's pipeline that checks `checkout scm` out again into a fresh directory.
const FRESH_CHECKOUT: &str = "pipeline {\n  agent any\n  stages { stage('Again') { steps { dir('fresh') { checkout scm\n sh 'git log --oneline -1; ls' } } } }\n}\n";

#[test]
fn a_plain_jobs_pull_request_builds_its_merge_and_checkout_scm_finds_it_anywhere() {
    let forge = FakeForge::start();
    let spec = |extra: &str| {
        format!(
            "{{kind: github, api_url: '{}', repository: acme/app, token_credential: forge{extra}}}",
            forge.github_api()
        )
    };
    let jobs = [
        job("merging", "pr", &spec("")),
        job("heads", "pr", &spec(", change_build: head")),
    ]
    .concat();
    let env = Env::new(&jobs, "");
    let repo = env.root.join("repo");
    std::fs::write(repo.join("pr.Jenkinsfile"), FRESH_CHECKOUT).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "pipeline"]);
    let head = pr_commit(&repo, FRESH_CHECKOUT, "change.txt", "refs/heads/feature");
    std::fs::write(repo.join("later.txt"), "x").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "later on main"]);
    let server = env.start();
    assert_eq!(
        pull_request(&server, &env, 3, &head, "acme/app", "alice"),
        202
    );
    let log_of = |job: &str| {
        let out = kiln(&server, &["logs", &format!("{job}#1"), "--follow"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let log = log_of("merging");
    assert!(log.contains("Merged the pull request's head"), "{log}");
    assert!(
        log.contains(&format!("Merge {head} into main")),
        "the fresh checkout is the merge commit: {log}"
    );
    assert!(
        log.contains("change.txt") && log.contains("later.txt"),
        "{log}"
    );
    assert!(log.trim_end().ends_with("Finished: SUCCESS"), "{log}");
    let log = log_of("heads");
    assert!(!log.contains("Merged"), "{log}");
    assert!(
        log.contains("change.txt") && !log.contains("later.txt"),
        "{log}"
    );
    assert!(log.trim_end().ends_with("Finished: SUCCESS"), "{log}");
}

/// A pull request's pipeline whose steps run in pods (the fake cluster runs their containers
/// as processes of this machine, in workspaces of their own that kiln uploads): the build's
/// pod, `checkout scm` into another directory of it, and a stage's own pod. `DATA` is the
/// server's data directory, which the pods must not see.
const POD_PR: &str = r#"pipeline {
  agent { kubernetes { yaml """
spec:
  containers:
  - name: work
    image: busybox
""" } }
  stages {
    stage('Show') { steps { sh 'echo "commit=$GIT_COMMIT"; ls; pwd; test -z "$(ls -A DATA)" && echo "the server data is not here"' } }
    stage('Again') { steps { dir('again') { checkout scm
      sh 'echo "again=$(git rev-parse HEAD)"; ls' } } }
    stage('Own pod') {
      agent { kubernetes { yaml """
spec:
  containers:
  - name: other
    image: busybox
""" } }
      steps { checkout scm
        sh 'echo "own=$(git rev-parse HEAD)"' }
    }
  }
}
"#;

#[test]
fn a_pull_requests_merge_build_runs_in_a_pod_on_the_merge_commit() {
    let forge = FakeForge::start();
    let spec = format!(
        "{{kind: github, api_url: '{}', repository: acme/app, token_credential: forge}}",
        forge.github_api()
    );
    let env = Env::new(&job("app", "pr", &spec), "");
    // The pods run on "another machine": the server's data directory (where kiln made the
    // merge) is empty for them.
    let data = env.root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let cluster = FakeCluster::hiding(&env.root, &[&data]);
    let mut yaml = std::fs::read_to_string(&env.config).unwrap();
    yaml.push_str(&cluster.executor_yaml(true));
    std::fs::write(&env.config, yaml).unwrap();
    let repo = env.root.join("repo");
    let pipeline = POD_PR.replace("DATA", &data.display().to_string());
    std::fs::write(repo.join("pr.Jenkinsfile"), &pipeline).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "pipeline"]);
    // The head is on no branch (as a fork's): only the merge's bundle brings it to a pod.
    let head = pr_commit(&repo, &pipeline, "change.txt", "refs/pull/5/head");
    std::fs::write(repo.join("later.txt"), "x").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "later on main"]);
    let target = git(&repo, &["rev-parse", "HEAD"]);
    let vars = [
        ("KILN_LOG", "info"),
        ("KILN_AGENT_INSTALL", cluster.install.as_str()),
    ];
    let server = Server::start(&env.root, &env.config, "127.0.0.1:0", vars);
    assert_eq!(
        pull_request(&server, &env, 5, &head, "acme/app", "alice"),
        202
    );
    let out = kiln(&server, &["logs", "app#1", "--follow"]);
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    let said = format!(
        "Merged the pull request's head {head} into the target branch `main` at {target}: building merge commit "
    );
    let merged = log
        .lines()
        .find_map(|l| l.split_once(&said).map(|(_, m)| m.trim().to_owned()))
        .unwrap_or_else(|| panic!("no merge line: {log}\n{}", env.server_log()));
    assert_eq!(merged.len(), 40, "{log}");
    assert_ne!(merged, head);
    assert_ne!(merged, target);
    assert!(
        log.contains("Running in pod "),
        "the steps ran in a pod: {log}"
    );
    assert!(
        log.contains(&format!("commit={merged}")),
        "GIT_COMMIT in the pod is the merge: {log}"
    );
    assert!(
        log.contains("change.txt") && log.contains("later.txt"),
        "the pod's workspace holds the merge of both sides: {log}"
    );
    assert!(
        log.contains("the server data is not here"),
        "the pod does not see the server's disk: {log}"
    );
    for what in ["again", "own"] {
        assert!(
            log.contains(&format!("{what}={merged}")),
            "`{what}` checked the merge out in a pod: {log}"
        );
    }
    assert!(
        log.contains("Fetching the merge commit from kiln's bundle"),
        "{log}"
    );
    let data_path = data.display().to_string();
    assert!(
        !log.lines()
            .any(|l| l.contains("> git ") && l.contains(&data_path)),
        "no git command names the server's data directory: {log}"
    );
    assert!(log.trim_end().ends_with("Finished: SUCCESS"), "{log}");
    // The pod is gone and the status is on the request's head, not on the merge.
    let states = final_states(&forge, &env, "kiln/app");
    assert_eq!(states.last().map(String::as_str), Some("success"));
    assert!(
        forge
            .statuses()
            .iter()
            .all(|p| p.context != "kiln/app" || p.sha == head),
        "{:#?}",
        forge.statuses()
    );
}
