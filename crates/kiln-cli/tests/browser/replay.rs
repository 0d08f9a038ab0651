//! Replay takes its parameters from the edited text, as Jenkins does: a parameter the edit
//! drops is not passed, one it adds gets its default.

use crate::kit::Site;
use crate::support::{api_post, build, wait_for};
use serde_json::json;

const GREET: &str = "pipeline {\n  agent any\n  parameters { string(name: 'WHO', defaultValue: 'world') }\n  stages { stage('Hi') { steps { echo \"hello ${params.WHO}\" } } }\n}\n";

const EDITED: &str = "pipeline {\n  agent any\n  parameters { string(name: 'GREETING', defaultValue: 'hey') }\n  stages { stage('Hi') { steps { echo \"greeting=${params.GREETING}\" } } }\n}\n";

fn finished(site: &Site, n: u64) -> serde_json::Value {
    wait_for(&format!("build {n} to finish"), || {
        build(&site.server, "greet", n)["status"] == "finished"
    });
    build(&site.server, "greet", n)
}

#[test]
fn a_replay_whose_edit_drops_and_adds_a_parameter_runs_with_the_edited_parameters() {
    let site = Site::start(&[("greet", GREET)]);
    let (status, body) = api_post(
        &site.server,
        "/api/v1/jobs/greet/builds",
        &json!({ "params": { "WHO": "again" } }),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(finished(&site, 1)["result"], "SUCCESS");
    let (status, body) = api_post(
        &site.server,
        "/api/v1/jobs/greet/builds/1/replay",
        &json!({ "jenkinsfile": EDITED }),
    );
    assert_eq!(status, 201, "{body}");
    let replayed = finished(&site, 2);
    assert_eq!(replayed["result"], "SUCCESS", "{replayed}");
    assert_eq!(
        replayed["params"],
        json!({ "GREETING": "hey" }),
        "{replayed}"
    );
    let out = crate::support::kiln(&site.server, &["logs", "greet#2"]);
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("greeting=hey"), "{log}");
    // Rebuilding the replay keeps its text and its parameters.
    let (status, body) = api_post(
        &site.server,
        "/api/v1/jobs/greet/builds/2/rebuild",
        &json!({}),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(finished(&site, 3)["params"], json!({ "GREETING": "hey" }));
}
