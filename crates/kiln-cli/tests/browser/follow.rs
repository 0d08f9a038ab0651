//! The build page's log follows a running build's end while "Follow" is on, stops when the
//! user scrolls up or turns it off, and resumes when it is turned on again.

use crate::kit::{Browser, Site, log_in};
use crate::support::{TOKEN, api_post};
use fantoccini::actions::{WheelAction, WheelActions};
use serde_json::json;
use std::time::Duration;

/// Twenty lines a second for about a minute (the test cancels it when done).
const TICKER: &str = "pipeline {\n  agent any\n  stages { stage('Tick') { steps { sh 'for i in $(seq 1 1200); do echo tick $i; sleep 0.05; done' } } }\n}\n";

/// Watches the log: after each batch of lines the page added (and scrolled for), counts
/// whether the last line was inside the log's box (`seen.shown`) or not (`seen.hidden`).
const WATCH: &str = r#"
  const log = document.getElementById('log');
  window.seen = { shown: 0, hidden: 0 };
  window.lastShown = () => {
    const last = log.lastElementChild;
    if (!last) return false;
    const box = log.getBoundingClientRect(), line = last.getBoundingClientRect();
    return line.top >= box.top - 1 && line.bottom <= box.bottom + 1;
  };
  // (the shell traces its commands: `+ echo tick 7`, `tick 7`, `+ sleep 0.05`)
  window.lastTick = () => {
    for (let l = log.lastElementChild; l; l = l.previousElementSibling) {
      const m = /tick (\d+)/.exec(l.textContent);
      if (m) return Number(m[1]);
    }
    return 0;
  };
  new MutationObserver(() => { if (lastShown()) seen.shown++; else seen.hidden++; })
    .observe(log, { childList: true });
"#;

/// Waits until `more` ticks arrived after the last one now (counting from a fresh `seen`),
/// and returns (`seen.shown`, `seen.hidden`) of those batches.
async fn watch(browser: &Browser, more: u64) -> (u64, u64) {
    let now = browser
        .client
        .execute(
            "window.seen = { shown: 0, hidden: 0 }; return lastTick();",
            vec![],
        )
        .await
        .unwrap()
        .as_u64()
        .unwrap();
    browser
        .until(
            &format!("{more} more lines after tick {now}"),
            &format!("lastTick() >= {}", now + more),
        )
        .await;
    let seen = browser
        .client
        .execute("return [seen.shown, seen.hidden];", vec![])
        .await
        .unwrap();
    (seen[0].as_u64().unwrap(), seen[1].as_u64().unwrap())
}

async fn follow_checked(browser: &Browser) -> bool {
    browser
        .client
        .execute("return document.getElementById('follow').checked;", vec![])
        .await
        .unwrap()
        .as_bool()
        .unwrap()
}

async fn scroll_top(browser: &Browser) -> f64 {
    browser
        .client
        .execute("return document.getElementById('log').scrollTop;", vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_follows_its_end_until_the_user_scrolls_up() {
    let site = Site::start(&[("ticker", TICKER)]);
    let (status, _) = api_post(&site.server, "/api/v1/jobs/ticker/builds", &json!({}));
    assert_eq!(status, 201);
    let browser = Browser::start().await;
    log_in(&browser, &site, TOKEN).await;
    browser.goto(&site.url("/jobs/ticker/1")).await;
    browser.find("#log").await;
    browser.client.execute(WATCH, vec![]).await.unwrap();
    // Enough lines to overflow the log's box (70% of 900 px, about 35 lines).
    browser.until("80 lines", "lastTick() >= 80").await;
    browser
        .until(
            "a log taller than its box",
            "document.getElementById('log').scrollHeight > 2 * document.getElementById('log').clientHeight",
        )
        .await;
    assert!(follow_checked(&browser).await, "Follow starts on");

    // Follow on: every batch of new lines leaves the last line in view.
    let (shown, hidden) = watch(&browser, 30).await;
    assert!(
        shown > 0 && hidden == 0,
        "following: {shown} batches shown, {hidden} hidden"
    );

    // The user scrolls up with the mouse wheel over the log: Follow turns off, the view stays.
    let centre = browser
        .client
        .execute(
            "const log = document.getElementById('log'); log.scrollIntoView({ block: 'center' }); \
             const r = log.getBoundingClientRect(); \
             return [Math.round(r.left + r.width / 2), Math.round(r.top + r.height / 2)];",
            vec![],
        )
        .await
        .unwrap();
    let (x, y) = (centre[0].as_i64().unwrap(), centre[1].as_i64().unwrap());
    let mut wheel = WheelActions::new("wheel".to_owned());
    wheel.push(WheelAction::Scroll {
        duration: None,
        x,
        y,
        delta_x: 0,
        delta_y: -400,
    });
    browser.client.perform_actions(wheel).await.unwrap();
    browser
        .until(
            "Follow off after scrolling up",
            "!document.getElementById('follow').checked",
        )
        .await;
    // (a smooth scroll may still be moving)
    tokio::time::sleep(Duration::from_millis(500)).await;
    let top = scroll_top(&browser).await;
    let (shown, hidden) = watch(&browser, 30).await;
    assert!(
        shown == 0 && hidden > 0,
        "scrolled up: {shown} batches shown, {hidden} hidden"
    );
    assert_eq!(
        scroll_top(&browser).await,
        top,
        "the view stays where the user put it"
    );

    // Follow on again: the end at once, and it stays there as lines arrive.
    browser.click("#follow").await;
    assert!(follow_checked(&browser).await);
    browser
        .until("the last line after Follow is on", "lastShown()")
        .await;
    let (shown, hidden) = watch(&browser, 30).await;
    assert!(
        shown > 0 && hidden == 0,
        "following again: {shown} shown, {hidden} hidden"
    );

    // Follow off with the checkbox: the view stays put while lines arrive.
    browser.click("#follow").await;
    assert!(!follow_checked(&browser).await);
    let top = scroll_top(&browser).await;
    let (shown, hidden) = watch(&browser, 30).await;
    assert!(
        shown == 0 && hidden > 0,
        "Follow off: {shown} batches shown, {hidden} hidden"
    );
    assert_eq!(scroll_top(&browser).await, top);

    // And on once more: it resumes.
    browser.click("#follow").await;
    browser
        .until("the last line after Follow is on again", "lastShown()")
        .await;
    let (shown, hidden) = watch(&browser, 30).await;
    assert!(
        shown > 0 && hidden == 0,
        "resumed: {shown} shown, {hidden} hidden"
    );
    assert!(follow_checked(&browser).await);

    // Page Up in the log stops following too, and the view stays up.
    let key = String::from(char::from(fantoccini::key::Key::PageUp));
    browser.find("#log").await.send_keys(&key).await.unwrap();
    browser
        .until(
            "Follow off after Page Up",
            "!document.getElementById('follow').checked",
        )
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (shown, hidden) = watch(&browser, 20).await;
    assert!(
        shown == 0 && hidden > 0,
        "after Page Up: {shown} batches shown, {hidden} hidden"
    );
    browser.close().await;
    let (status, _) = api_post(
        &site.server,
        "/api/v1/jobs/ticker/builds/1/cancel",
        &json!({}),
    );
    assert!(status < 300, "cancel: {status}");
}
