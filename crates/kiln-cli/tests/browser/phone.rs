//! The pages at a phone's viewport (390x844 CSS pixels): no page scrolls sideways, the stage
//! graph and the log are readable, and the buttons can be reached and pressed.

use crate::kit::{Browser, Site, log_in};
use crate::support::{TOKEN, api_post};
use crate::{GATE, PARAMS, all_leaves};
use serde_json::json;

/// What sticks out of the page sideways: the page's scroll width, its width, and the first
/// elements outside it that are not inside a box that scrolls on its own.
const OVERFLOW: &str = r#"
const w = document.documentElement.clientWidth;
const wide = [...document.querySelectorAll('body *')]
  .filter(e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.right > w + 1 && !(e.parentElement && e.parentElement.closest('.scroll, .graph, pre')); })
  .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className);
return { scroll: document.documentElement.scrollWidth, width: w, wide };
"#;

/// Whether the element can be pressed: scrolled into view, it lies within the page's width,
/// is at least 32 pixels tall, and nothing covers its centre.
const REACHABLE: &str = r#"
const e = document.querySelector(arguments[0]);
if (!e) return 'missing';
e.scrollIntoView({ block: 'center' });
const r = e.getBoundingClientRect();
const w = document.documentElement.clientWidth;
if (r.left < 0 || r.right > w) return 'outside the page: ' + r.left + '..' + r.right + ' of ' + w;
if (r.height < 32) return 'too small: ' + r.height + 'px tall';
const top = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
if (!top || !(top === e || e.contains(top))) return 'covered by ' + (top && top.tagName);
return 'ok';
"#;

async fn fits(browser: &Browser, page: &str) {
    let answer = browser.client.execute(OVERFLOW, vec![]).await.unwrap();
    let (scroll, width) = (answer["scroll"].as_u64(), answer["width"].as_u64());
    assert!(
        scroll.is_some() && scroll <= width,
        "{page} scrolls sideways at a phone's width: {answer}"
    );
    assert_eq!(width, Some(390), "{page}: the viewport is not a phone's");
}

async fn reachable(browser: &Browser, css: &str) {
    let answer = browser
        .client
        .execute(REACHABLE, vec![json!(css)])
        .await
        .unwrap();
    assert_eq!(answer, json!("ok"), "`{css}` cannot be pressed on a phone");
}

/// A number the page's script computes.
async fn number(browser: &Browser, js: &str) -> f64 {
    let value = browser
        .client
        .execute(&format!("return {js};"), vec![])
        .await
        .unwrap();
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{js} gave {value}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_are_usable_on_a_phone() {
    let site = Site::start(&[("params", PARAMS), ("gate", GATE)]);
    let browser = Browser::start_phone().await;
    log_in(&browser, &site, TOKEN).await;
    fits(&browser, "the dashboard").await;
    reachable(&browser, "tr[data-job=params] button.build").await;
    browser.screenshot("phone-dashboard").await;

    browser.goto(&site.url("/jobs/params")).await;
    browser.find("#build-form").await;
    fits(&browser, "the job page").await;
    reachable(&browser, "label[for=param-LOUD]").await;
    reachable(&browser, "#build-form button[type=submit]").await;
    browser.click("#build-form button[type=submit]").await;
    browser
        .until("the build page", "location.pathname === '/jobs/params/1'")
        .await;
    browser
        .until("every stage green", &all_leaves("SUCCESS"))
        .await;
    browser
        .until(
            "the log",
            "document.querySelector('#log').innerText.includes('greeting=hi')",
        )
        .await;
    fits(&browser, "the build page").await;
    // The graph scrolls in its own box, its names as large as on a desktop; the log wraps
    // its lines in a readable size.
    let graph_right = number(
        &browser,
        "document.getElementById('graph').getBoundingClientRect().right",
    )
    .await;
    assert!(
        graph_right <= 390.0,
        "the graph's box ends at {graph_right}"
    );
    let label = number(
        &browser,
        "parseFloat(getComputedStyle(document.querySelector('#graph text')).fontSize)",
    )
    .await;
    assert!(label >= 12.0, "graph labels are {label}px");
    let log = number(
        &browser,
        "parseFloat(getComputedStyle(document.getElementById('log')).fontSize)",
    )
    .await;
    assert!(log >= 12.0, "the log is {log}px");
    let log_box = number(
        &browser,
        "document.getElementById('log').scrollWidth - document.getElementById('log').clientWidth",
    )
    .await;
    assert!(log_box <= 1.0, "log lines scroll sideways by {log_box}px");
    reachable(&browser, "#rebuild").await;
    reachable(&browser, "label:has(> #follow)").await;
    reachable(&browser, "#graph .node[data-name=Unit]").await;
    browser.screenshot("phone-build").await;

    let (status, _) = api_post(&site.server, "/api/v1/jobs/gate/builds", &json!({}));
    assert_eq!(status, 201);
    browser.goto(&site.url("/jobs/gate/1")).await;
    browser.find("#input-form").await;
    fits(&browser, "a build waiting for input").await;
    reachable(&browser, "#input-TARGET").await;
    reachable(&browser, "#proceed").await;
    reachable(&browser, "#abort").await;
    browser.screenshot("phone-input").await;
    browser.click("#proceed").await;
    browser
        .until(
            "the SUCCESS badge",
            "document.querySelector('#state .badge').dataset.state === 'SUCCESS'",
        )
        .await;
    browser.close().await;
}
