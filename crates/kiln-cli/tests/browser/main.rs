//! Browser end-to-end tests of the web UI: headless Chromium drives the real `kiln server`.
//! Each test starts its own server and browser (one browser at a time) and waits at most
//! 30 seconds for anything. `scripts/screenshots.sh` runs them with `KILN_SCREENSHOTS` set
//! to write the pages' screenshots.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

mod big_log;
mod follow;
mod inputs;
mod kit;
mod live;
mod multibranch;
mod phone;
mod replay;
mod results;

use kit::{Browser, Site, log_in};
use serde_json::json;
use support::{TOKEN, api_post, build, kiln};

const HELLO: &str = "pipeline {\n  agent any\n  parameters { string(name: 'WHO', defaultValue: 'world') }\n  stages { stage('Hi') { steps { echo \"hello ${params.WHO}\" } } }\n}\n";

/// Five kinds of parameters, a stage with colours, parallel branches and a matrix.
const PARAMS: &str = r#"pipeline {
  agent any
  parameters {
    string(name: 'GREETING', defaultValue: 'hi', description: 'What to say')
    text(name: 'NOTES', defaultValue: 'line one')
    booleanParam(name: 'LOUD', defaultValue: true)
    choice(name: 'COLOUR', choices: ['red', 'green', 'blue'])
    password(name: 'SECRET', defaultValue: 'hunter2')
  }
  stages {
    stage('Build') {
      steps {
        sh 'sleep 1; printf "\\033[31mred alert\\033[0m plain\\n"'
        echo "greeting=${params.GREETING} loud=${params.LOUD} colour=${params.COLOUR}"
      }
    }
    stage('Checks') {
      parallel {
        stage('Unit') { steps { sh 'echo unit-tests-ran; sleep 1' } }
        stage('Lint') { steps { sh 'echo lint-ran' } }
      }
    }
    stage('Compat') {
      matrix {
        axes { axis { name 'OS'; values 'linux', 'mac' } }
        stages { stage('Test') { steps { echo "testing on ${OS}" } } }
      }
    }
  }
}
"#;

const GATE: &str = r#"pipeline {
  agent any
  stages {
    stage('Deploy') {
      input {
        message 'Deploy where?'
        ok 'Ship it'
        parameters { string(name: 'TARGET', defaultValue: 'staging') }
      }
      steps { echo "deploying to ${TARGET}" }
    }
  }
}
"#;

const GUARDED: &str = "pipeline {\n  agent any\n  stages { stage('Gate') { steps { input message: 'Only alice', submitter: 'alice' } } }\n}\n";

const SLOW: &str = "pipeline {\n  agent any\n  stages { stage('Slow') { steps { sh 'for i in $(seq 1 300); do echo tick $i; sleep 0.1; done' } } }\n}\n";

const JUNIT: &str = r#"pipeline {
  agent any
  stages {
    stage('Test') {
      steps {
        writeFile file: 'report.xml', text: '<testsuite name="calc" tests="2" failures="1"><testcase classname="calc.AddTest" name="adds"/><testcase classname="calc.AddTest" name="carries"><failure message="expected 10 but was 01">at calc.Add.carry(Add.java:7)</failure></testcase></testsuite>'
        junit 'report.xml'
        sh 'test -e coverage.ok || exit 2'
      }
    }
  }
}
"#;

/// JavaScript that is true once every leaf node of the graph shows `state`.
fn all_leaves(state: &str) -> String {
    format!(
        "(() => {{ const n = [...document.querySelectorAll('#graph .node')].filter(e => e.querySelector('text.time')); \
         return n.length > 0 && n.every(e => e.dataset.state === '{state}'); }})()"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_redirects_roles_show_buttons_and_logout_ends_the_session() {
    let site = Site::start(&[("hello", HELLO)]);
    let browser = Browser::start().await;
    browser.goto(&site.url("/jobs/hello")).await;
    browser
        .until("the login page", "location.pathname === '/login'")
        .await;
    browser.screenshot("login").await;
    browser.fill("input[name=token]", "wrong").await;
    browser.click("form#login button").await;
    browser
        .until(
            "the refusal",
            "document.body.innerText.includes('Unknown token')",
        )
        .await;
    // A reader sees the jobs but no Build button.
    log_in(&browser, &site, "view-only").await;
    assert!(browser.text("#jobs").await.contains("hello"));
    assert!(
        !browser.has("button.build").await,
        "a reader gets no Build button"
    );
    let cookies = browser.client.get_all_cookies().await.unwrap();
    assert!(
        cookies.iter().all(|c| !c.value().contains("view-only")),
        "the cookie must hold a session, not the token: {cookies:?}"
    );
    browser.click("form#logout button").await;
    browser
        .until(
            "the login page after logout",
            "location.pathname === '/login'",
        )
        .await;
    browser.goto(&site.url("/jobs/hello")).await;
    browser
        .until("the login page again", "location.pathname === '/login'")
        .await;
    // Logging in from there comes back to the page asked for, with the admin's buttons.
    browser.fill("input[name=token]", TOKEN).await;
    browser.click("form#login button").await;
    browser
        .until(
            "the job page after login",
            "location.pathname === '/jobs/hello'",
        )
        .await;
    assert!(browser.has("#build-form").await);
    // The dashboard's Build button of a job with parameters opens its form.
    browser.goto(&site.url("/")).await;
    browser.click("tr[data-job=hello] button.build").await;
    browser
        .until(
            "the job's form",
            "location.pathname === '/jobs/hello' && location.hash === '#build'",
        )
        .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_with_parameters_from_the_form_turns_green_live() {
    let site = Site::start(&[("params", PARAMS), ("hello", HELLO)]);
    let browser = Browser::start().await;
    log_in(&browser, &site, TOKEN).await;
    browser.fill("#filter", "par").await;
    browser
        .until(
            "the filter",
            "document.querySelector('tr[data-job=hello]').hidden",
        )
        .await;
    browser.goto(&site.url("/jobs/params")).await;
    assert!(browser.text("#build").await.contains("What to say"));
    browser.fill("#param-GREETING", "howdy").await;
    browser.click("#param-LOUD").await;
    browser.click("#param-COLOUR option[value=blue]").await;
    browser.screenshot("job").await;
    browser.click("#build-form button[type=submit]").await;
    browser
        .until("the build page", "location.pathname === '/jobs/params/1'")
        .await;
    // A marker that a reload would lose: the graph must turn green without one.
    browser
        .client
        .execute("window.kilnMarker = 1", vec![])
        .await
        .unwrap();
    browser
        .until(
            "a running stage",
            "document.querySelector('#graph .node[data-state=RUNNING]')",
        )
        .await;
    browser
        .until("every stage green", &all_leaves("SUCCESS"))
        .await;
    browser.until("no reload", "window.kilnMarker === 1").await;
    browser
        .until(
            "the SUCCESS badge",
            "document.querySelector('#state .badge').dataset.state === 'SUCCESS'",
        )
        .await;
    browser.screenshot("build").await;
    // The graph: parallel branches and matrix cells grouped by axis.
    let names: Vec<String> = browser
        .client
        .execute(
            "return [...document.querySelectorAll('#graph .node')].map(n => n.dataset.name)",
            vec![],
        )
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    for name in ["Build", "Checks", "Unit", "Lint", "Compat", "Test"] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }
    assert!(
        names.iter().any(|n| n.contains("OS = 'linux'")),
        "{names:?}"
    );
    // ANSI colours and line links in the whole log.
    browser
        .until("the red text", "[...document.querySelectorAll('#log span.fg-1')].some(s => s.textContent.includes('red alert'))")
        .await;
    assert!(browser.has("#log .line a.ln").await);
    assert!(!browser.text("#log").await.contains("\u{1b}["));
    // The ANSI renderer, case by case: colours and styles, resets, other escapes dropped,
    // markup kept as text.
    for (input, html) in [
        (
            "\u{1b}[1;32mok\u{1b}[0m done",
            "<span class=\"fg-2 b\">ok</span> done",
        ),
        (
            "\u{1b}[91;44mhi\u{1b}[39m!",
            "<span class=\"fg-9 bg-4\">hi</span><span class=\"bg-4\">!</span>",
        ),
        ("a\u{1b}[2Kb\u{1b}]0;title\u{7}c", "abc"),
        (
            "\u{1b}[38;5;3my\u{1b}[m<b>",
            "<span class=\"fg-3\">y</span>&lt;b&gt;",
        ),
    ] {
        let out = browser
            .client
            .execute(
                "const d = document.createElement('div'); kilnAnsi.render(arguments[0], kilnAnsi.fresh(), d); return d.innerHTML;",
                vec![json!(input)],
            )
            .await
            .unwrap();
        assert_eq!(out, json!(html), "{input:?}");
    }
    // Timestamps from the log's events.
    browser.click("#timestamps").await;
    browser
        .until(
            "timestamps",
            "document.querySelector('#log.with-times .line[data-time]')",
        )
        .await;
    // The parameters given, and the defaults, are recorded; the password is not shown.
    let params = browser.text("#params").await;
    for expected in ["howdy", "false", "blue", "line one", "****"] {
        assert!(
            params.contains(expected),
            "{expected} missing from {params}"
        );
    }
    assert!(!params.contains("hunter2"));
    let recorded = build(&site.server, "params", 1);
    assert_eq!(recorded["params"]["NOTES"], "line one", "{recorded}");
    // One stage's log.
    browser.click("#graph .node[data-name=Unit]").await;
    browser
        .until(
            "the Unit log",
            "document.querySelector('#log').innerText.includes('unit-tests-ran')",
        )
        .await;
    let text = browser.text("#log").await;
    assert!(
        !text.contains("lint-ran") && !text.contains("greeting="),
        "{text}"
    );
    assert!(browser.text("#log-title").await.contains("Unit"));
    // The dashboard shows the build, its state and its trend.
    browser.goto(&site.url("/")).await;
    browser
        .until(
            "the last build",
            "document.querySelector('tr[data-job=params] .badge[data-state=SUCCESS]')",
        )
        .await;
    assert!(browser.has("tr[data-job=params] .trend .dot.SUCCESS").await);
    browser.screenshot("dashboard").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_are_answered_from_the_page_respecting_submitter() {
    let site = Site::start(&[("gate", GATE), ("guarded", GUARDED)]);
    let (status, _) = api_post(&site.server, "/api/v1/jobs/gate/builds", &json!({}));
    assert_eq!(status, 201);
    let browser = Browser::start().await;
    log_in(&browser, &site, TOKEN).await;
    browser.goto(&site.url("/jobs/gate/1")).await;
    browser.find("#input-form").await;
    assert!(
        browser
            .text("#input-message")
            .await
            .contains("Deploy where?")
    );
    browser.screenshot("input").await;
    // An unknown parameter name is refused, by the API and by `kiln approve`.
    let (status, body) = api_post(
        &site.server,
        "/api/v1/jobs/gate/builds/1/input",
        &json!({ "action": "approve", "params": { "TARGT": "prod" } }),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("TARGET"), "{body}");
    let out = kiln(&site.server, &["approve", "gate#1", "-p", "TARGT=prod"]);
    assert!(!out.status.success(), "{out:?}");
    browser.fill("#input-TARGET", "prod").await;
    browser.click("#proceed").await;
    browser
        .until(
            "the SUCCESS badge",
            "document.querySelector('#state .badge').dataset.state === 'SUCCESS'",
        )
        .await;
    browser
        .until(
            "the answer in the log",
            "document.querySelector('#log').innerText.includes('deploying to prod')",
        )
        .await;
    // Abort.
    let (status, _) = api_post(&site.server, "/api/v1/jobs/gate/builds", &json!({}));
    assert_eq!(status, 201);
    browser.goto(&site.url("/jobs/gate/2")).await;
    browser.click("#abort").await;
    browser
        .until(
            "the ABORTED badge",
            "document.querySelector('#state .badge').dataset.state === 'ABORTED'",
        )
        .await;
    // `submitter`: bob may not answer alice's input; he is told who may.
    let (status, _) = api_post(&site.server, "/api/v1/jobs/guarded/builds", &json!({}));
    assert_eq!(status, 201);
    browser.click("form#logout button").await;
    log_in(&browser, &site, "bob-token").await;
    browser.goto(&site.url("/jobs/guarded/1")).await;
    browser
        .until(
            "the input section",
            "document.querySelector('#input .input-box')",
        )
        .await;
    assert!(!browser.has("#input-form").await);
    assert!(browser.text("#input").await.contains("alice"));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_rebuild_and_replay_from_the_build_page() {
    let site = Site::start(&[("slow", SLOW), ("hello", HELLO)]);
    let browser = Browser::start().await;
    log_in(&browser, &site, TOKEN).await;
    // Cancel.
    let (status, _) = api_post(&site.server, "/api/v1/jobs/slow/builds", &json!({}));
    assert_eq!(status, 201);
    browser.goto(&site.url("/jobs/slow/1")).await;
    browser
        .until(
            "output",
            "document.querySelector('#log').innerText.includes('tick 3')",
        )
        .await;
    browser.click("#cancel").await;
    browser
        .until(
            "the ABORTED badge",
            "document.querySelector('#state .badge').dataset.state === 'ABORTED'",
        )
        .await;
    // Rebuild runs with the same parameters.
    let (status, _) = api_post(
        &site.server,
        "/api/v1/jobs/hello/builds",
        &json!({ "params": { "WHO": "again" } }),
    );
    assert_eq!(status, 201);
    browser.goto(&site.url("/jobs/hello/1")).await;
    browser
        .until(
            "the SUCCESS badge",
            "document.querySelector('#state .badge').dataset.state === 'SUCCESS'",
        )
        .await;
    browser.click("#rebuild").await;
    browser
        .until(
            "the rebuild's page",
            "location.pathname === '/jobs/hello/2'",
        )
        .await;
    browser
        .until(
            "the rebuild's log",
            "document.querySelector('#log').innerText.includes('hello again')",
        )
        .await;
    // Replay with an edit.
    browser.click("a[data-action=show-replay]").await;
    browser
        .until(
            "the Jenkinsfile",
            "document.getElementById('jenkinsfile').value.includes('pipeline')",
        )
        .await;
    let edited: String = browser
        .client
        .execute(
            "return document.getElementById('jenkinsfile').value.replace('echo \"hello', 'echo \"replayed')",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    assert!(edited.contains("replayed"), "{edited}");
    browser.fill("#jenkinsfile", &edited).await;
    browser.screenshot("replay").await;
    browser.click("#replay-form button").await;
    browser
        .until("the replay's page", "location.pathname === '/jobs/hello/3'")
        .await;
    browser
        .until(
            "the replay's log",
            "document.querySelector('#log').innerText.includes('replayed again')",
        )
        .await;
    browser
        .until("the replayed text", "document.querySelector('#replayed')")
        .await;
    assert!(browser.text("dl.facts").await.contains("#2"));
    let replayed = build(&site.server, "hello", 3);
    assert!(
        replayed["replay"]["jenkinsfile"]
            .as_str()
            .unwrap()
            .contains("replayed"),
        "{replayed}"
    );
    browser.close().await;
}

/// The failing step is named at the top of the page, from the build's record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_test_shows_its_message_and_the_failed_stage() {
    let site = Site::start(&[("junit", JUNIT)]);
    let (status, _) = api_post(&site.server, "/api/v1/jobs/junit/builds", &json!({}));
    assert_eq!(status, 201);
    let browser = Browser::start().await;
    log_in(&browser, &site, TOKEN).await;
    browser.goto(&site.url("/jobs/junit/1")).await;
    browser.find("#failed-tests").await;
    let failed = browser.text("#failed-tests").await;
    assert!(failed.contains("calc.AddTest.carries"), "{failed}");
    assert!(failed.contains("expected 10 but was 01"), "{failed}");
    browser.click("#failed-tests summary").await;
    assert!(
        browser
            .text("#failed-tests pre")
            .await
            .contains("Add.java:7")
    );
    assert_eq!(
        browser.text("#failed-step").await,
        "Failed at stage Test, step sh 'test -e coverage.ok || exit 2': script returned exit code 2"
    );
    assert_eq!(
        browser.text("#failed-step code").await,
        "sh 'test -e coverage.ok || exit 2'"
    );
    browser
        .until(
            "the failed stage's last lines",
            "document.querySelector('#failed-tail') && document.querySelector('#failed-tail').innerText.includes('exit code 2')",
        )
        .await;
    browser.screenshot("failed-tests").await;
    // The stage's name in the banner opens its log.
    browser.click("#failed-step a").await;
    browser
        .until("the stage's log", "location.hash.startsWith('#stage-')")
        .await;
    browser.close().await;
}
