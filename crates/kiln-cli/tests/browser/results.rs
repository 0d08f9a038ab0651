//! What a finished build kept, reached from its page: artifacts (an HTML one sandboxed),
//! archived HTML reports, and a link to one line of its log.

use crate::kit::{Browser, Site, log_in};
use crate::support::{TOKEN, api_post};
use serde_json::json;

const PACK: &str = r#"pipeline {
  agent any
  stages {
    stage('Pack') {
      steps {
        writeFile file: 'dist/app.txt', text: 'the artifact itself'
        writeFile file: 'dist/page.html', text: '<p id="static">shown</p><script>document.title = "ran " + document.cookie; fetch("/api/v1/jobs").then(r => r.text()).then(t => document.title = "read " + t.length)</script>'
        archiveArtifacts artifacts: 'dist/*'
        writeFile file: 'cov/index.html', text: '<h1 id="cov">Coverage 93%</h1>'
        publishHTML(target: [reportDir: 'cov', reportFiles: 'index.html', reportName: 'Coverage'])
        sh 'for i in $(seq 1 200); do echo "filler $i"; done; echo the-line-to-link; echo after'
      }
    }
  }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_reports_and_line_links_are_reachable_from_the_build_page() {
    let site = Site::start(&[("pack", PACK)]);
    let (status, _) = api_post(&site.server, "/api/v1/jobs/pack/builds", &json!({}));
    assert_eq!(status, 201);
    let browser = Browser::start().await;
    log_in(&browser, &site, TOKEN).await;
    browser.goto(&site.url("/jobs/pack/1")).await;
    browser
        .until(
            "the SUCCESS badge",
            "document.querySelector('#state .badge').dataset.state === 'SUCCESS'",
        )
        .await;
    // The results are drawn when the page is read: read it again once finished.
    browser.goto(&site.url("/jobs/pack/1")).await;
    // The line's own link, opened as a new page, shows that line highlighted.
    browser
        .until(
            "the line",
            "[...document.querySelectorAll('#log .line')].some(l => l.innerText.includes('the-line-to-link'))",
        )
        .await;
    let href: String = browser
        .client
        .execute(
            "return [...document.querySelectorAll('#log .line')].find(l => l.innerText.includes('the-line-to-link')).querySelector('a.ln').getAttribute('href')",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    assert!(href.starts_with("#L"), "{href}");
    browser
        .goto(&site.url(&format!("/jobs/pack/1{href}")))
        .await;
    browser
        .until(
            "the linked line highlighted",
            "document.querySelector('#log .line.hl') && document.querySelector('#log .line.hl').innerText.includes('the-line-to-link')",
        )
        .await;
    // The artifact (a download) and the report, by their links.
    let artifact = browser
        .client
        .execute_async(
            "const done = arguments[0]; const a = document.querySelector(\"#results a[href*='/artifacts/dist/app.txt']\"); \
             fetch(a.href, { credentials: 'same-origin' }).then(r => r.text()).then(done, e => done('failed: ' + e));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(artifact, json!("the artifact itself"));
    // An HTML artifact shows, but its script runs in no origin at all: it cannot read the
    // viewer's cookie or call the API in their name.
    browser
        .goto(&site.url("/api/v1/jobs/pack/builds/1/artifacts/dist/page.html"))
        .await;
    browser
        .until("the artifact's page", "document.getElementById('static')")
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let title = browser.client.title().await.unwrap();
    assert_eq!(title, "", "the artifact's script ran");
    browser.goto(&site.url("/jobs/pack/1")).await;
    let report = "#results a[href*='/reports/']";
    assert_eq!(browser.text(report).await, "Coverage");
    browser.click(report).await;
    browser
        .until(
            "the report",
            "document.getElementById('cov') && document.getElementById('cov').innerText === 'Coverage 93%'",
        )
        .await;
    browser.close().await;
}
