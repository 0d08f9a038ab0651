//! End to end: `kiln server` (the real binary) with a multibranch job over a real git
//! repository: a job per branch found by the scan at start, new branches by push webhooks,
//! pull requests with their `CHANGE_*`, deleted branches and closed requests removed, the
//! children kept across a restart; statuses go to a fake GitHub started here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code, reason = "the SMTP peer is not used here")]
mod peers;
mod support;

use peers::forge::{FakeForge, OpenRequest, TOKEN as FORGE_TOKEN};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use support::*;

const PIPELINE: &str = "pipeline {
  agent any
  stages {
    stage('Show') {
      steps {
        echo \"BRANCH=${env.BRANCH_NAME} CHANGE=${env.CHANGE_ID} TARGET=${env.CHANGE_TARGET}\"
        sh 'ls'
      }
    }
    stage('Feature') {
      when { branch 'feature/*' }
      steps { echo 'feature stage ran' }
    }
    stage('Change') {
      when { changeRequest() }
      steps { echo 'change stage ran' }
    }
    stage('Tag') {
      when { buildingTag() }
      steps { echo \"tag stage ran TAG=${env.TAG_NAME}\" }
    }
  }
}
";

struct Env {
    root: PathBuf,
    repo: PathBuf,
    config: PathBuf,
    repo_url: String,
    _dir: tempfile::TempDir,
}

impl Env {
    /// A repository with `main` and `feature/x` (with the Jenkinsfile) and `docs` (without);
    /// `multibranch` is the job's setting.
    fn new(forge: &FakeForge, multibranch: &str) -> Env {
        Env::on(forge, multibranch, "github")
    }

    /// [`Env::new`] with a job connected to the fake forge's `kind` (`github`, `gitlab`).
    fn on(forge: &FakeForge, multibranch: &str, kind: &str) -> Env {
        let dir = tempfile::Builder::new()
            .prefix("kiln-multibranch-")
            .tempdir()
            .unwrap();
        let root = dir.path().to_path_buf();
        let repo = root.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("Jenkinsfile"), PIPELINE).unwrap();
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "pipeline"]);
        git(&repo, &["branch", "feature/x"]);
        git(&repo, &["checkout", "-q", "-b", "docs"]);
        git(&repo, &["rm", "-q", "Jenkinsfile"]);
        git(&repo, &["commit", "-q", "-m", "no pipeline"]);
        git(&repo, &["checkout", "-q", "main"]);
        let repo_url = format!("file://{}", repo.display());
        let yaml = format!(
            "server:\n  external_url: https://ci.example.com/\n  tokens:\n    - {{name: e2e, token: {TOKEN}, role: admin}}\ncredentials:\n  - {{id: forge, secret: {FORGE_TOKEN}}}\njobs:\n  - name: app\n    repo: {repo_url}\n    webhook_secret: hook-secret\n    forge: {{kind: {kind}, api_url: '{}', repository: acme/app, token_credential: forge}}\n    multibranch: {multibranch}\n",
            if kind == "github" {
                forge.github_api()
            } else {
                forge.gitlab_api()
            }
        );
        let config = root.join("kiln.yaml");
        std::fs::write(&config, yaml).unwrap();
        Env {
            root,
            repo,
            config,
            repo_url,
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

    fn hook(&self, server: &Server, event: &str, delivery: &str, payload: &Value) -> (u16, Value) {
        let body = payload.to_string();
        let signature = kiln_server::hooks::signature::github_sign("hook-secret", body.as_bytes());
        let r = agent()
            .post(&format!("{}/hooks/github", server.url))
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .header("x-hub-signature-256", &signature)
            .send(body)
            .unwrap();
        answer(r)
    }

    /// Commits a Jenkinsfile on `main` whose pipeline rebuilds on comments saying "rebuild".
    fn with_comment_trigger(&self) {
        let with_trigger = PIPELINE.replace(
            "  agent any\n",
            "  agent any\n  triggers { issueCommentTrigger('.*rebuild.*') }\n",
        );
        std::fs::write(self.repo.join("Jenkinsfile"), with_trigger).unwrap();
        git(&self.repo, &["commit", "-q", "-am", "comment trigger"]);
    }

    /// A GitLab delivery of `event` (`X-Gitlab-Event`), with the job's secret as its token.
    fn gitlab_hook(
        &self,
        server: &Server,
        event: &str,
        uuid: &str,
        payload: &Value,
    ) -> (u16, Value) {
        let r = agent()
            .post(&format!("{}/hooks/gitlab", server.url))
            .header("x-gitlab-event", event)
            .header("x-gitlab-event-uuid", uuid)
            .header("x-gitlab-token", "hook-secret")
            .send(payload.to_string())
            .unwrap();
        answer(r)
    }
}

/// A webhook's status and JSON answer.
fn answer(mut r: ureq::http::Response<ureq::Body>) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The names of the jobs the server lists.
fn job_names(server: &Server) -> Vec<String> {
    let jobs = api(server, "/jobs");
    let list = jobs["jobs"].as_array().cloned().unwrap_or_default();
    let mut names: Vec<String> = list
        .iter()
        .filter_map(|j| j["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// `job` as one URL path segment.
fn seg(job: &str) -> String {
    job.replace('%', "%25").replace('/', "%2F")
}

/// Waits for build `job#n` to exist, then follows its log to the end.
fn finished_log(env: &Env, server: &Server, job: &str, n: u64) -> String {
    wait_or_show(
        &format!("build {job}#{n}"),
        || build(server, &seg(job), n)["id"].is_string(),
        || env.server_log(),
    );
    let out = kiln(server, &["logs", &format!("{job}#{n}"), "--follow"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn commit_on(repo: &Path, branch: &str, file: &str) -> String {
    git(repo, &["checkout", "-q", "-B", branch]);
    std::fs::write(repo.join(file), "x").unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", file]);
    let sha = git(repo, &["rev-parse", "HEAD"]);
    git(repo, &["checkout", "-q", "main"]);
    sha
}

#[test]
fn a_multibranch_job_keeps_a_job_per_branch_and_pull_request_and_removes_gone_ones() {
    let forge = FakeForge::start();
    let env = Env::new(&forge, "true");
    let server = env.start();

    // The scan at start: a job and a build for each branch with a Jenkinsfile.
    let log = finished_log(&env, &server, "app/main", 1);
    assert!(log.contains("BRANCH=main"), "{log}");
    assert!(!log.contains("feature stage ran"), "{log}");
    assert!(log.trim_end().ends_with("Finished: SUCCESS"), "{log}");
    let log = finished_log(&env, &server, "app/feature%2Fx", 1);
    assert!(log.contains("BRANCH=feature/x"), "{log}");
    assert!(log.contains("feature stage ran"), "{log}");
    assert!(!log.contains("change stage ran"), "{log}");
    assert_eq!(
        job_names(&server),
        ["app", "app/feature%2Fx", "app/main"],
        "`docs` has no Jenkinsfile, so no job"
    );
    wait_for("the status of app/main", || {
        forge.states("kiln/app/main").last().map(String::as_str) == Some("success")
    });
    let b = build(&server, &seg("app/main"), 1);
    assert_eq!(b["branch"], "main", "{b}");

    // A push of a new branch: its job is created and built.
    let hotfix = commit_on(&env.repo, "hotfix", "fix.txt");
    let push = json!({
        "ref": "refs/heads/hotfix", "after": hotfix,
        "repository": { "clone_url": env.repo_url },
    });
    let (status, body) = env.hook(&server, "push", "d-1", &push);
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["triggered"][0]["id"], "app/hotfix#1", "{body}");
    let log = finished_log(&env, &server, "app/hotfix", 1);
    assert!(log.contains("BRANCH=hotfix"), "{log}");

    // A pull request: a job of its own with Jenkins' variables, building its merge into the
    // target's head (which moved since the request branched off).
    let head = commit_on(&env.repo, "change", "change.txt");
    let base = commit_on(&env.repo, "main", "later.txt");
    let pr = |action: &str| {
        json!({
            "action": action, "number": 5,
            "pull_request": {
                "title": "a change", "user": { "login": "alice" },
                "head": { "ref": "change", "sha": head, "repo": { "full_name": "acme/app" } },
                "base": { "ref": "main", "repo": { "full_name": "acme/app" } },
            },
            "repository": { "clone_url": env.repo_url },
        })
    };
    let (status, body) = env.hook(&server, "pull_request", "d-2", &pr("opened"));
    assert_eq!(status, 202, "{body}");
    let log = finished_log(&env, &server, "app/PR-5", 1);
    assert!(log.contains("BRANCH=PR-5 CHANGE=5 TARGET=main"), "{log}");
    assert!(log.contains("change stage ran"), "{log}");
    assert!(
        log.contains(&format!("Merged the pull request's head {head} into the target branch `main` at {base}: building merge commit")),
        "{log}"
    );
    assert!(
        log.contains("change.txt") && log.contains("later.txt"),
        "{log}"
    );
    wait_for("the status of the pull request", || {
        forge
            .statuses()
            .iter()
            .any(|p| p.context == "kiln/app/PR-5" && p.sha == head && p.state == "success")
    });

    // Badges of the children, through the parent's `?branch=` too.
    for path in [
        "/jobs/app/badge.svg?branch=main",
        "/jobs/app/main/badge.svg",
    ] {
        let mut r = agent()
            .get(&format!("{}{path}", server.url))
            .header("authorization", &format!("Bearer {TOKEN}"))
            .call()
            .unwrap();
        let svg = r.body_mut().read_to_string().unwrap();
        assert!(svg.contains("build: passing"), "{path}: {svg}");
    }
    // The child's pages under the parent's.
    let mut r = agent()
        .get(&format!("{}/jobs/app/main", server.url))
        .header("authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.body_mut().read_to_string().unwrap().contains("app/main"));
    let r = agent()
        .get(&format!("{}/jobs/app/main/1", server.url))
        .header("authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    // A deleted branch and a closed pull request: their jobs and builds are removed.
    git(&env.repo, &["branch", "-q", "-D", "feature/x"]);
    let deletion = json!({
        "ref": "refs/heads/feature/x", "after": "0000000000000000000000000000000000000000",
        "deleted": true, "repository": { "clone_url": env.repo_url },
    });
    let (status, body) = env.hook(&server, "push", "d-3", &deletion);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["orphaned"], json!(["app/feature%2Fx"]), "{body}");
    let (status, body) = env.hook(&server, "pull_request", "d-4", &pr("closed"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["orphaned"], json!(["app/PR-5"]), "{body}");
    assert_eq!(job_names(&server), ["app", "app/hotfix", "app/main"]);
    let gone = api(&server, &format!("/jobs/{}/builds", seg("app/feature%2Fx")));
    assert_eq!(
        gone["error"], "no job named `app/feature%2Fx`",
        "the builds and the job's record went with the job: {gone}"
    );

    // A restart keeps the children.
    drop(server);
    let server = env.start();
    assert_eq!(job_names(&server), ["app", "app/hotfix", "app/main"]);
    let b = build(&server, &seg("app/hotfix"), 1);
    assert_eq!(b["result"], "SUCCESS", "{b}");
}

fn pr_payload(env: &Env, head: &str) -> Value {
    json!({
        "action": "opened", "number": 9,
        "pull_request": {
            "title": "t", "user": { "login": "alice" },
            "head": { "ref": "change", "sha": head, "repo": { "full_name": "acme/app" } },
            "base": { "ref": "main", "repo": { "full_name": "acme/app" } },
        },
        "repository": { "clone_url": env.repo_url },
    })
}

#[test]
fn change_build_head_builds_the_pull_requests_head_and_tags_are_discovered() {
    let forge = FakeForge::start();
    let env = Env::new(
        &forge,
        "{change_build: head, branches: [main], tags: ['v*']}",
    );
    git(&env.repo, &["tag", "v1.0"]);
    let server = env.start();
    finished_log(&env, &server, "app/main", 1);
    wait_for("the tag's job", || {
        job_names(&server).contains(&"app/v1.0".to_owned())
    });
    assert_eq!(
        job_names(&server),
        ["app", "app/main", "app/v1.0"],
        "`feature/x` is not among `branches`; the tag has a job, not built by the scan"
    );
    let head = commit_on(&env.repo, "change", "change.txt");
    commit_on(&env.repo, "main", "later.txt");
    let (status, body) = env.hook(&server, "pull_request", "d-1", &pr_payload(&env, &head));
    assert_eq!(status, 202, "{body}");
    let log = finished_log(&env, &server, "app/PR-9", 1);
    assert!(!log.contains("Merged"), "{log}");
    assert!(
        log.contains("change.txt") && !log.contains("later.txt"),
        "{log}"
    );
    assert!(!log.contains("tag stage ran"), "{log}");
    let push = json!({
        "ref": "refs/heads/feature/x", "after": head,
        "repository": { "clone_url": env.repo_url },
    });
    let (status, body) = env.hook(&server, "push", "d-2", &push);
    assert_eq!(
        status, 403,
        "no job takes a branch it does not discover: {body}"
    );
    kiln_ok(&server, &["trigger", "app/v1.0"]);
    let log = finished_log(&env, &server, "app/v1.0", 1);
    assert!(log.contains("BRANCH=v1.0"), "{log}");
    assert!(log.contains("tag stage ran TAG=v1.0"), "{log}");
    let main = finished_log(&env, &server, "app/main", 1);
    assert!(!main.contains("tag stage ran"), "{main}");
}

#[test]
fn a_matching_comment_by_a_writer_rebuilds_the_pull_request() {
    let forge = FakeForge::start();
    forge.set_permission("alice", "write");
    forge.set_permission("mallory", "read");
    let env = Env::new(&forge, "{branches: [main]}");
    env.with_comment_trigger();
    let head = commit_on(&env.repo, "change", "change.txt");
    let server = env.start();
    finished_log(&env, &server, "app/main", 1);
    let (status, body) = env.hook(&server, "pull_request", "d-1", &pr_payload(&env, &head));
    assert_eq!(status, 202, "{body}");
    let log = finished_log(&env, &server, "app/PR-9", 1);
    assert!(
        !log.contains("issueCommentTrigger"),
        "acts on a request's job: {log}"
    );

    let comment = |n: u32, who: &str, text: &str| {
        let payload = json!({
            "action": "created",
            "issue": { "number": 9, "pull_request": { "url": "x" } },
            "comment": { "body": text, "user": { "login": who } },
            "repository": { "clone_url": env.repo_url },
        });
        env.hook(&server, "issue_comment", &format!("c-{n}"), &payload)
    };
    let (status, body) = comment(1, "alice", "looks flaky, please Rebuild");
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["triggered"][0]["id"], "app/PR-9#2", "{body}");
    let log = finished_log(&env, &server, "app/PR-9", 2);
    assert!(
        log.contains("GitHub comment by alice on pull request #9"),
        "{log}"
    );
    assert!(log.contains("BRANCH=PR-9 CHANGE=9 TARGET=main"), "{log}");

    skipped(
        comment(2, "mallory", "rebuild"),
        "`mallory` has no write access to the repository",
    );
    skipped(
        comment(3, "alice", "nice work"),
        "matches no `issueCommentTrigger`",
    );
    let builds = api(&server, &format!("/jobs/{}/builds", seg("app/PR-9")));
    assert_eq!(builds["builds"].as_array().unwrap().len(), 2, "{builds}");
}

/// A comment's webhook answered 200 without a build, for `reason`.
fn skipped((status, body): (u16, Value), reason: &str) {
    assert_eq!(status, 200, "{body}");
    let said = body["skipped"][0]["reason"].as_str().unwrap_or_default();
    assert!(said.contains(reason), "{body}");
}

/// GitLab's "Comments" trigger: a `Note Hook` on a merge request rebuilds its job when the
/// note matches and its author is a Developer or above (the membership API's `access_level`
/// >= 30, asked by the author's id); a Reporter's note and a note on an issue build nothing.
#[test]
fn a_gitlab_note_by_a_developer_rebuilds_the_merge_request() {
    let forge = FakeForge::start();
    forge.set_permission("12", "write"); // user 12 is a Developer (30)
    forge.set_permission("13", "read"); // user 13 is a Reporter (20)
    let env = Env::on(&forge, "{branches: [main]}", "gitlab");
    env.with_comment_trigger();
    let head = commit_on(&env.repo, "change", "change.txt");
    forge.set_open(vec![open_request(4, "change", &head, "al", false)]);
    let server = env.start();
    let log = finished_log(&env, &server, "app/MR-4", 1);
    assert!(log.contains("BRANCH=MR-4 CHANGE=4 TARGET=main"), "{log}");
    // Its statuses join the pipeline of the request's source branch (GitLab's `ref`).
    wait_for("MR-4's final status", || {
        forge.statuses().iter().any(|p| {
            p.context == "kiln/app/MR-4"
                && p.state == "success"
                && p.sha == head
                && p.git_ref.as_deref() == Some("change")
        })
    });

    let note = |n: u32, user: (u64, &str), noteable: &str, text: &str| {
        let payload = json!({
            "object_kind": "note",
            "user": { "id": user.0, "username": user.1 },
            "project": { "git_http_url": env.repo_url },
            "object_attributes": { "note": text, "noteable_type": noteable },
            "merge_request": { "iid": 4 },
        });
        env.gitlab_hook(&server, "Note Hook", &format!("n-{n}"), &payload)
    };
    let (status, body) = note(
        1,
        (12, "dev"),
        "MergeRequest",
        "flaky runner, REBUILD please",
    );
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["triggered"][0]["id"], "app/MR-4#2", "{body}");
    let log = finished_log(&env, &server, "app/MR-4", 2);
    assert!(
        log.contains("GitLab note by dev on merge request !4"),
        "{log}"
    );
    assert!(log.contains("BRANCH=MR-4 CHANGE=4 TARGET=main"), "{log}");
    assert!(
        forge
            .requests()
            .iter()
            .any(|r| r.target == "/api/v4/projects/acme%2Fapp/members/all/12"
                && r.headers.get("private-token").map(String::as_str) == Some(FORGE_TOKEN)),
        "the author's access was asked by id with the job's token"
    );

    skipped(
        note(2, (13, "rep"), "MergeRequest", "rebuild"),
        "`rep` has no write access to the repository",
    );
    let (status, body) = note(3, (12, "dev"), "Issue", "rebuild");
    assert_eq!(status, 200, "{body}");
    skipped(
        note(4, (12, "dev"), "MergeRequest", "looks good"),
        "matches no `issueCommentTrigger`",
    );
    let builds = api(&server, &format!("/jobs/{}/builds", seg("app/MR-4")));
    assert_eq!(builds["builds"].as_array().unwrap().len(), 2, "{builds}");
}

/// `kiln trigger app`: a scan of the parent's repository, accepted as Jenkins' "Scan
/// Multibranch Pipeline Now" is (202, no build of the parent), and said so by the CLI.
fn scan(server: &Server) {
    let out = kiln(server, &["trigger", "app"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("scan of multibranch job `app` started"),
        "{stdout}{stderr}"
    );
    let (status, body) = api_post(server, "/api/v1/jobs/app/builds", &json!({}));
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["scan"], "started", "{body}");
    assert_eq!(body["url"], "https://ci.example.com/jobs/app", "{body}");
    assert!(body.get("id").is_none(), "no build of the parent: {body}");
}

fn open_request(id: u64, source: &str, head: &str, author: &str, fork: bool) -> OpenRequest {
    OpenRequest {
        id,
        target: "main".into(),
        source_branch: source.into(),
        head: head.into(),
        title: format!("change {id}"),
        author: author.into(),
        author_id: 100 + id,
        fork,
    }
}

#[test]
fn the_scan_lists_open_pull_requests_through_the_forge_api_and_drops_closed_ones() {
    let forge = FakeForge::start();
    forge.set_permission("mallory", "read");
    let env = Env::new(&forge, "{branches: [main]}");
    let five = commit_on(&env.repo, "five", "five.txt");
    let six = commit_on(&env.repo, "six", "six.txt");
    let seven = commit_on(&env.repo, "seven", "seven.txt");
    // Three open requests: two pages of the forge's list.
    forge.set_open(vec![
        open_request(5, "five", &five, "alice", false),
        open_request(6, "six", &six, "mallory", true),
        open_request(7, "seven", &seven, "alice", false),
    ]);
    let server = env.start();

    // The scan at start: a job and a build per open request, with Jenkins' variables.
    let log = finished_log(&env, &server, "app/PR-5", 1);
    assert!(log.contains("BRANCH=PR-5 CHANGE=5 TARGET=main"), "{log}");
    assert!(
        log.contains("change stage ran") && log.contains("five.txt"),
        "{log}"
    );
    let log = finished_log(&env, &server, "app/PR-6", 1);
    assert!(
        log.contains("its author `mallory` has no write access"),
        "a fork's request found by a scan is judged as a webhook's: {log}"
    );
    let log = finished_log(&env, &server, "app/PR-7", 1);
    assert!(
        log.contains("BRANCH=PR-7 CHANGE=7"),
        "the second page was read: {log}"
    );
    let pages: Vec<String> = forge
        .requests()
        .into_iter()
        .filter(|r| r.target.contains("/pulls?"))
        .map(|r| r.target)
        .collect();
    assert!(pages[0].contains("state=open"), "{pages:?}");
    assert!(pages.iter().any(|p| p.contains("page=2")), "{pages:?}");
    wait_for("the status of PR-5", || {
        forge
            .statuses()
            .iter()
            .any(|p| p.context == "kiln/app/PR-5" && p.sha == five && p.state == "success")
    });
    assert_eq!(
        job_names(&server),
        ["app", "app/PR-5", "app/PR-6", "app/PR-7", "app/main"]
    );

    // A later scan: PR-5 moved (built again), PR-6 was closed (its job goes), PR-7 is as it
    // was (not built again).
    let moved = commit_on(&env.repo, "five", "five-again.txt");
    forge.set_open(vec![
        open_request(5, "five", &moved, "alice", false),
        open_request(7, "seven", &seven, "alice", false),
    ]);
    scan(&server);
    let log = finished_log(&env, &server, "app/PR-5", 2);
    assert!(log.contains("five-again.txt"), "{log}");
    wait_or_show(
        "PR-6's job removed",
        || !job_names(&server).contains(&"app/PR-6".to_owned()),
        || env.server_log(),
    );
    let gone = api(&server, &format!("/jobs/{}/builds", seg("app/PR-6")));
    assert_eq!(gone["error"], "no job named `app/PR-6`", "{gone}");

    // PR-7 is closed while kiln is down: the scan at the next start notices.
    drop(server);
    forge.set_open(vec![open_request(5, "five", &moved, "alice", false)]);
    let server = env.start();
    wait_or_show(
        "PR-7's job removed at the scan at start",
        || job_names(&server) == ["app", "app/PR-5", "app/main"],
        || env.server_log(),
    );
    let builds = api(&server, &format!("/jobs/{}/builds", seg("app/PR-7")));
    assert_eq!(builds["error"], "no job named `app/PR-7`", "{builds}");
    let builds = api(&server, &format!("/jobs/{}/builds", seg("app/PR-5")));
    assert_eq!(
        builds["builds"].as_array().unwrap().len(),
        2,
        "an unmoved request is not built again: {builds}"
    );
}

#[test]
fn the_scan_lists_gitlab_merge_requests_page_by_page() {
    let forge = FakeForge::start();
    let env = Env::on(&forge, "{branches: [main], change_build: head}", "gitlab");
    let heads: Vec<String> = (1..=3)
        .map(|n| commit_on(&env.repo, &format!("mr{n}"), &format!("mr{n}.txt")))
        .collect();
    forge.set_open(
        (1..=3)
            .map(|n| open_request(n, &format!("mr{n}"), &heads[n as usize - 1], "al", false))
            .collect(),
    );
    let server = env.start();
    let log = finished_log(&env, &server, "app/MR-3", 1);
    assert!(log.contains("BRANCH=MR-3 CHANGE=3 TARGET=main"), "{log}");
    assert!(log.contains("mr3.txt") && !log.contains("mr1.txt"), "{log}");
    wait_for("every merge request's job", || {
        job_names(&server) == ["app", "app/MR-1", "app/MR-2", "app/MR-3", "app/main"]
    });
    let pages: Vec<String> = forge
        .requests()
        .into_iter()
        .filter(|r| r.target.contains("/merge_requests?"))
        .map(|r| r.target)
        .collect();
    assert!(
        pages[0].starts_with("/api/v4/projects/acme%2Fapp/merge_requests?state=opened"),
        "{pages:?}"
    );
    assert!(pages.iter().any(|p| p.contains("page=2")), "{pages:?}");

    forge.set_open(vec![]);
    scan(&server);
    wait_or_show(
        "the merge requests' jobs removed",
        || job_names(&server) == ["app", "app/main"],
        || env.server_log(),
    );
}

/// A push webhook of `branch` at `sha` (all zeros: a deletion).
fn push_payload(env: &Env, branch: &str, sha: &str) -> Value {
    json!({
        "ref": format!("refs/heads/{branch}"), "after": sha,
        "deleted": sha.bytes().all(|b| b == b'0'),
        "repository": { "clone_url": env.repo_url },
    })
}

const DELETED: &str = "0000000000000000000000000000000000000000";

#[test]
fn orphaned_children_are_kept_per_num_to_keep_then_removed_with_their_job_record() {
    let forge = FakeForge::start();
    let env = Env::new(&forge, "{orphaned_item_strategy: {num_to_keep: 1}}");
    let server = env.start();
    finished_log(&env, &server, "app/main", 1);
    finished_log(&env, &server, "app/feature%2Fx", 1);
    let hotfix = commit_on(&env.repo, "hotfix", "fix.txt");
    let (status, body) = env.hook(
        &server,
        "push",
        "d-1",
        &push_payload(&env, "hotfix", &hotfix),
    );
    assert_eq!(status, 202, "{body}");
    finished_log(&env, &server, "app/hotfix", 1);

    // The first orphan is kept (one may be).
    git(&env.repo, &["branch", "-q", "-D", "feature/x"]);
    let (status, body) = env.hook(
        &server,
        "push",
        "d-2",
        &push_payload(&env, "feature/x", DELETED),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["orphaned"], json!(["app/feature%2Fx"]), "{body}");
    assert_eq!(
        job_names(&server),
        ["app", "app/feature%2Fx", "app/hotfix", "app/main"]
    );
    let kept = api(&server, &format!("/jobs/{}/builds", seg("app/feature%2Fx")));
    assert_eq!(kept["builds"].as_array().unwrap().len(), 1, "{kept}");

    // A newer orphan pushes it out: its job, builds and job record go.
    git(&env.repo, &["branch", "-q", "-D", "hotfix"]);
    let (status, body) = env.hook(
        &server,
        "push",
        "d-3",
        &push_payload(&env, "hotfix", DELETED),
    );
    assert_eq!(status, 200, "{body}");
    wait_or_show(
        "feature/x's job removed",
        || job_names(&server) == ["app", "app/hotfix", "app/main"],
        || env.server_log(),
    );
    let gone = api(&server, &format!("/jobs/{}/builds", seg("app/feature%2Fx")));
    assert_eq!(gone["error"], "no job named `app/feature%2Fx`", "{gone}");

    // The branch comes back: a new job, whose builds start at 1 again.
    git(&env.repo, &["branch", "feature/x", "main"]);
    let main = git(&env.repo, &["rev-parse", "main"]);
    let (status, body) = env.hook(
        &server,
        "push",
        "d-4",
        &push_payload(&env, "feature/x", &main),
    );
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["triggered"][0]["id"], "app/feature%2Fx#1", "{body}");
    finished_log(&env, &server, "app/feature%2Fx", 1);
}

#[test]
fn keep_builds_keeps_a_removed_childs_builds_and_numbers() {
    let forge = FakeForge::start();
    let env = Env::new(
        &forge,
        "{branches: ['feature/*'], orphaned_item_strategy: {keep_builds: true}}",
    );
    let server = env.start();
    finished_log(&env, &server, "app/feature%2Fx", 1);
    git(&env.repo, &["branch", "-q", "-D", "feature/x"]);
    let (status, body) = env.hook(
        &server,
        "push",
        "d-1",
        &push_payload(&env, "feature/x", DELETED),
    );
    assert_eq!(status, 200, "{body}");
    wait_or_show(
        "feature/x's job removed",
        || job_names(&server) == ["app"],
        || env.server_log(),
    );
    let b = build(&server, &seg("app/feature%2Fx"), 1);
    assert_eq!(b["result"], "SUCCESS", "the build stays readable: {b}");
    git(&env.repo, &["branch", "feature/x", "main"]);
    let main = git(&env.repo, &["rev-parse", "main"]);
    let (status, body) = env.hook(
        &server,
        "push",
        "d-2",
        &push_payload(&env, "feature/x", &main),
    );
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        body["triggered"][0]["id"], "app/feature%2Fx#2",
        "a kept build's number is not handed out again: {body}"
    );
}
