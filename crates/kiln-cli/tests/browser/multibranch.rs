//! A multibranch job in the web UI: its Build button scans the repository (the API answers
//! 202, no build), the page says so, and the children the scan finds appear live through
//! the event stream.

use crate::kit::{Browser, Site, log_in};
use crate::support::{TOKEN, git};
use std::path::PathBuf;

const PIPELINE: &str = "pipeline {\n  agent any\n  stages { stage('Hi') { steps { echo \"on ${env.BRANCH_NAME}\" } } }\n}\n";

/// JavaScript that is true once the page's event stream is open and its table was read once.
const FOLLOWING: &str =
    "typeof kiln !== 'undefined' && kiln.feed && kiln.feed.readyState === 1 && kiln.rereads >= 1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanning_a_multibranch_job_says_so_and_its_new_branches_appear_live() {
    let mut repo = PathBuf::new();
    let site = Site::start_with(|r| {
        repo = r.to_path_buf();
        std::fs::write(r.join("Jenkinsfile"), PIPELINE).unwrap();
        format!(
            "  - name: app\n    repo: file://{}\n    multibranch: {{scan: 'off'}}\n",
            r.display()
        )
    });
    let browser = Browser::start().await;
    log_in(&browser, &site, TOKEN).await;
    browser.goto(&site.url("/jobs/app")).await;
    // The scan at start gave `main` a job and a build.
    browser
        .until(
            "main's green build",
            "document.querySelector('#live tr[data-job=\"app/main\"] .badge[data-state=SUCCESS]')",
        )
        .await;
    browser.until("the event stream", FOLLOWING).await;
    browser
        .client
        .execute("window.kilnMarker = 1", vec![])
        .await
        .unwrap();
    // A new branch, then the scan button: the page says the scan started, and the branch's
    // job appears with its build, without a reload.
    git(&repo, &["branch", "feature"]);
    browser.click("#build-form button[type=submit]").await;
    browser
        .until(
            "the scan's notice",
            "!document.getElementById('form-notice').hidden \
             && document.getElementById('form-notice').innerText.startsWith('Scan started')",
        )
        .await;
    assert!(
        browser.text("#form-error").await.is_empty(),
        "no error beside the notice"
    );
    browser
        .until(
            "feature's green build",
            "document.querySelector('#live tr[data-job=\"app/feature\"] .badge[data-state=SUCCESS]')",
        )
        .await;
    browser.until("no reload", "window.kilnMarker === 1").await;
    browser.screenshot("multibranch").await;
    // The dashboard's Build button of the parent says the same beside it.
    browser.goto(&site.url("/")).await;
    browser.until("the event stream", FOLLOWING).await;
    browser.click("tr[data-job=app] button.build").await;
    browser
        .until(
            "the dashboard's notice",
            "(document.querySelector('tr[data-job=app] .said.notice') || {}).innerText?.startsWith('Scan started')",
        )
        .await;
    assert_eq!(
        browser.client.current_url().await.unwrap().path(),
        "/",
        "a scan opens no build page"
    );
    browser.close().await;
}
