//! A long log never goes whole into the page: the whole log opens at its end, one page at a
//! time, and a stage's log keeps its newest lines.

use crate::kit::{Browser, Site, log_in};
use crate::support::{TOKEN, api_post, build, wait_for};
use serde_json::json;
use std::time::Instant;

/// 300,000 lines, about 3.6 MB.
const LINES: u32 = 300_000;
const BIG: &str = r#"pipeline {
  agent any
  stages { stage('Noisy') { steps { sh 'seq 1 300000 | sed "s/^/row /"' } } }
}
"#;

/// Lines in the log's element now.
const COUNT: &str = "return document.querySelectorAll('#log .line').length";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_log_is_paged_from_its_end() {
    let site = Site::start(&[("big", BIG)]);
    let (status, _) = api_post(&site.server, "/api/v1/jobs/big/builds", &json!({}));
    assert_eq!(status, 201);
    wait_for("the build's end", || {
        build(&site.server, "big", 1)["status"] == "finished"
    });
    assert_eq!(build(&site.server, "big", 1)["result"], "SUCCESS");
    let browser = Browser::start().await;
    log_in(&browser, &site, TOKEN).await;
    let opened = Instant::now();
    browser.goto(&site.url("/jobs/big/1")).await;
    // textContent: no layout, so the wait itself does not slow the page.
    let last = format!("document.getElementById('log').textContent.includes('row {LINES}')");
    browser.until("the log's last line", &last).await;
    report_time("opening the build page at its log's end", opened);
    let count = |v: serde_json::Value| v.as_u64().unwrap();
    let shown = count(browser.client.execute(COUNT, vec![]).await.unwrap());
    // The log's last 5,000 lines at most: a few percent of the log, not all of it.
    assert!(
        (1_000..=5_000).contains(&shown),
        "{shown} of {LINES} lines in the page"
    );
    assert!(
        !browser.has("#log .line[id='L0']").await,
        "the log's start is not read"
    );
    // Load earlier: the page before, above.
    browser.click("#earlier").await;
    browser
        .until(
            "an earlier page",
            &format!("document.querySelectorAll('#log .line').length > {shown}"),
        )
        .await;
    let more = count(browser.client.execute(COUNT, vec![]).await.unwrap());
    // At most 5,000 more.
    assert!(
        more <= shown + 5_000,
        "{more} lines after one more page ({shown} before)"
    );
    // A stage's log keeps its newest lines only.
    browser.click("#graph .node[data-name=Noisy]").await;
    browser
        .until(
            "the stage's log",
            "document.querySelector('#log-title').innerText.includes('Noisy') && document.querySelectorAll('#log .line').length > 100",
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let stage_lines = count(browser.client.execute(COUNT, vec![]).await.unwrap());
    assert!(
        stage_lines <= 5_001,
        "{stage_lines} lines of the stage's log in the page"
    );
    browser.close().await;
}

/// Says how long a step took, for whoever reads the test's output.
fn report_time(what: &str, since: Instant) {
    eprintln!("{what}: {} ms", since.elapsed().as_millis());
}
