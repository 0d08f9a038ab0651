//! An input's parameters as controls of their kinds, and `submitterParameter`.

use crate::kit::{Browser, Site, log_in};
use crate::support::{TOKEN, api_post, build};
use serde_json::json;

const RELEASE: &str = r#"pipeline {
  agent any
  stages {
    stage('Release') {
      input {
        message 'Release?'
        submitterParameter 'APPROVER'
        parameters {
          booleanParam(name: 'FAST', defaultValue: true, description: 'Skip the slow checks')
          choice(name: 'REGION', choices: ['eu', 'us'])
          text(name: 'NOTES', defaultValue: 'first line')
          password(name: 'PIN', defaultValue: 'pin-4321')
        }
      }
      steps { sh 'echo "approver=$APPROVER fast=$FAST region=$REGION pin=${#PIN}"; echo "notes=$NOTES"' }
    }
  }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_parameters_are_controls_of_their_kinds_and_the_approver_is_named() {
    let site = Site::start(&[("release", RELEASE)]);
    let (status, _) = api_post(&site.server, "/api/v1/jobs/release/builds", &json!({}));
    assert_eq!(status, 201);
    let browser = Browser::start().await;
    log_in(&browser, &site, TOKEN).await;
    browser.goto(&site.url("/jobs/release/1")).await;
    browser.find("#input-form").await;
    let kinds = browser
        .client
        .execute(
            "return ['FAST', 'REGION', 'NOTES', 'PIN'].map(n => { const e = document.getElementById('input-' + n); return e.tagName + ':' + (e.type || ''); })",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        kinds,
        json!([
            "INPUT:checkbox",
            "SELECT:select-one",
            "TEXTAREA:textarea",
            "INPUT:password"
        ])
    );
    assert!(
        browser
            .text("#input-form")
            .await
            .contains("Skip the slow checks")
    );
    assert!(browser.text("#input-form").await.contains("APPROVER"));
    // The password's default reaches neither the page nor the API.
    let source = browser.client.source().await.unwrap();
    assert!(!source.contains("pin-4321"));
    assert!(
        !build(&site.server, "release", 1)
            .to_string()
            .contains("pin-4321")
    );
    // A choice not offered, and the approver's own variable, are refused.
    for params in [
        json!({ "REGION": "mars" }),
        json!({ "APPROVER": "mallory" }),
    ] {
        let (status, body) = api_post(
            &site.server,
            "/api/v1/jobs/release/builds/1/input",
            &json!({ "action": "approve", "params": params }),
        );
        assert_eq!(status, 400, "{params}: {body}");
    }
    browser.screenshot("input-controls").await;
    browser.click("#input-FAST").await;
    browser.click("#input-REGION option[value=us]").await;
    browser.fill("#input-NOTES", "shipped").await;
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
            "document.querySelector('#log').innerText.includes('approver=admin fast=false region=us pin=8')",
        )
        .await;
    assert!(browser.text("#log").await.contains("notes=shipped"));
    browser.close().await;
}
