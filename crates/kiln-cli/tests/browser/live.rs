//! The dashboard and job pages follow the server-wide event stream (`GET /api/v1/events`):
//! builds triggered elsewhere appear and turn green without a reload or a re-read of the page.

use crate::kit::{Browser, Site, log_in};
use crate::support::{TOKEN, agent, api_post, build};
use serde_json::json;

const BRIEF: &str = "pipeline {\n  agent any\n  stages { stage('Work') { steps { sh 'sleep 2; echo worked' } } }\n}\n";

/// JavaScript that is true once the page's event stream is open and the table was read once
/// after opening it (what changed before the stream was open).
const FOLLOWING: &str =
    "typeof kiln !== 'undefined' && kiln.feed && kiln.feed.readyState === 1 && kiln.rereads >= 1";

/// Marks the live table: a reload or a re-read of the page replaces it and loses the mark.
const MARK: &str = "document.getElementById('live').kilnMark = 1; window.kilnMarker = 1;";
const MARKED: &str = "document.getElementById('live').kilnMark === 1 && window.kilnMarker === 1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_and_job_page_follow_the_event_stream() {
    let site = Site::start(&[("brief", BRIEF)]);
    let browser = Browser::start().await;
    log_in(&browser, &site, TOKEN).await;
    browser.until("the event stream", FOLLOWING).await;
    browser.client.execute(MARK, vec![]).await.unwrap();
    let (status, _) = api_post(&site.server, "/api/v1/jobs/brief/builds", &json!({}));
    assert_eq!(status, 201);
    browser
        .until(
            "the running build on the dashboard",
            "document.querySelector('tr[data-job=brief] .badge[data-state=RUNNING]')",
        )
        .await;
    browser
        .until(
            "the green build on the dashboard",
            "document.querySelector('tr[data-job=brief] td.status .badge[data-state=SUCCESS]') \
             && document.querySelector('tr[data-job=brief] .trend .dot.SUCCESS[data-number=\"1\"]') \
             && document.querySelector('tr[data-job=brief] td.last').innerText === '#1'",
        )
        .await;
    browser.until("no reload", MARKED).await;
    // The finished build's duration, shown live and after a reload: about the build's time
    // (the Jenkinsfile sleeps 2 seconds).
    let recorded = {
        let b = build(&site.server, "brief", 1);
        let ms = |k: &str| b[k].as_u64().unwrap_or_else(|| panic!("{k} in {b}"));
        (ms("finished_at_ms") - ms("started_at_ms")) as f64 / 1000.0
    };
    let live = browser.text("tr[data-job=brief] td.took").await;
    browser.goto(&site.url("/")).await;
    let served = browser.text("tr[data-job=brief] td.took").await;
    for shown in [&live, &served] {
        let secs = seconds(shown);
        assert!(
            (2.0..30.0).contains(&secs) && (secs - recorded).abs() <= 1.0,
            "the dashboard says {shown:?} for a build of {recorded}s"
        );
    }
    assert_eq!(live, served, "live and served durations");
    // The job page: a new build gets a row at the top, which turns green.
    browser.goto(&site.url("/jobs/brief")).await;
    browser
        .until("the job page's event stream", FOLLOWING)
        .await;
    browser.client.execute(MARK, vec![]).await.unwrap();
    let (status, _) = api_post(&site.server, "/api/v1/jobs/brief/builds", &json!({}));
    assert_eq!(status, 201);
    browser
        .until(
            "build 2 first, green",
            "document.querySelector('#live tr:first-child').dataset.number === '2' \
             && document.querySelector('#live tr[data-number=\"2\"] .badge[data-state=SUCCESS]')",
        )
        .await;
    browser.until("no reload", MARKED).await;
    // The dashboard's Build button of a job without parameters builds it and opens the build.
    browser.goto(&site.url("/")).await;
    // (after the page's table was read again, which replaces its rows)
    browser.until("the event stream", FOLLOWING).await;
    browser.click("tr[data-job=brief] button.build").await;
    browser
        .until("build 3's page", "location.pathname === '/jobs/brief/3'")
        .await;
    // The job page's rows: result, cause, commit, branch, start and duration.
    browser.goto(&site.url("/jobs/brief")).await;
    let cells: serde_json::Value = browser
        .client
        .execute(
            "const r = document.querySelector('#live tr[data-number=\"2\"]'); \
             return ['status', 'cause', 'commit', 'branch', 'started', 'took'].map(c => r.querySelector('td.' + c).innerText.trim());",
            vec![],
        )
        .await
        .unwrap();
    let cells: Vec<&str> = cells
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(cells[0], "SUCCESS", "{cells:?}");
    assert!(!cells[1].is_empty(), "{cells:?}");
    assert!(
        cells[2].len() == 12 && cells[2].chars().all(|c| c.is_ascii_hexdigit()),
        "{cells:?}"
    );
    assert!(!cells[3].is_empty() && !cells[4].is_empty(), "{cells:?}");
    assert!(cells[5].ends_with('s'), "{cells:?}");
    browser.close().await;
}

#[test]
fn the_event_stream_is_authorised_like_the_api() {
    let site = Site::start(&[("brief", BRIEF)]);
    let url = site.url("/api/v1/events");
    let status = |path: &str, token: Option<&str>| {
        let mut request = agent().get(&format!("{}{path}", site.server.url));
        if let Some(token) = token {
            request = request.header("authorization", &format!("Bearer {token}"));
        }
        let response = request.call().unwrap();
        let kind = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (response.status().as_u16(), kind)
    };
    assert_eq!(status("/api/v1/events", None).0, 401, "{url}");
    let (code, kind) = status("/api/v1/events?job=brief", Some("view-only"));
    assert_eq!(code, 200);
    assert!(kind.starts_with("text/event-stream"), "{kind}");
    assert_eq!(status("/api/v1/events?job=nope", Some(TOKEN)).0, 404);
    assert_eq!(status("/api/v1/events?jobs=brief", Some(TOKEN)).0, 400);
}

/// Seconds in a duration as the pages write it: `3.2s` or `1m 05s`.
fn seconds(text: &str) -> f64 {
    let text = text.trim();
    let parse = |s: &str| -> f64 {
        s.trim_end_matches('s')
            .parse()
            .unwrap_or_else(|_| panic!("not a duration: {text:?}"))
    };
    match text.split_once("m ") {
        Some((m, s)) => parse(m) * 60.0 + parse(s),
        None => {
            assert!(text.ends_with('s'), "not a duration: {text:?}");
            parse(text)
        }
    }
}
