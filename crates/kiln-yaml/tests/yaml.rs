//! kiln-yaml's behaviour: spans of keys and values, typed scalars, empty documents,
//! syntax and type errors with their place, and the unknown-fields walk.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_diagnostics::SourceFile;
use kiln_yaml::{NodeKind, parse_tree, parse_typed, unknown_fields};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

fn kinds(text: &str) -> kiln_yaml::Node {
    parse_tree(text).unwrap()
}

#[test]
fn spans_point_at_keys_and_values() {
    let text = "server:\n  listen: 0.0.0.0:80\njobs:\n  - name: a\n    capacity: lots\n";
    let root = kinds(text);
    let NodeKind::Map(entries) = &root.kind else {
        panic!("not a map: {root:?}")
    };
    let (k, v) = &entries[1];
    assert_eq!(&text[k.span.range()], "jobs");
    let NodeKind::Seq(items) = &v.kind else {
        panic!()
    };
    let NodeKind::Map(job) = &items[0].kind else {
        panic!()
    };
    assert_eq!(&text[job[1].0.span.range()], "capacity");
    assert_eq!(&text[job[1].1.span.range()], "lots");
}

#[test]
fn spans_are_bytes_in_non_ascii_text() {
    let text = "naïve: ünïcode\nnext: value\n";
    let root = kinds(text);
    let next = root.get("next").unwrap();
    assert_eq!(&text[next.span.range()], "value");
}

#[test]
fn tree_keeps_positions_of_keys_and_values() {
    let text = "spec:\n  containers:\n  - name: maven\n    image: maven:3\n";
    let tree = parse_tree(text).unwrap();
    let spec = tree.get("spec").unwrap();
    let containers = spec.get("containers").unwrap();
    let NodeKind::Seq(items) = &containers.kind else {
        panic!("not a sequence: {containers:?}")
    };
    let image = items[0].get("image").unwrap();
    let at = SourceFile::new("pod.yaml", text).line_col(image.span.start);
    assert_eq!((at.line, at.col), (4, 12));
    assert_eq!(image.span.start, text.find("maven:3").unwrap() as u32);
}

#[test]
fn scalars_are_typed() {
    let root = kinds("a: 2\nb: '2'\nc: true\nd: ~\ne: 1.5\n");
    let NodeKind::Map(e) = root.kind else {
        panic!()
    };
    let got: Vec<_> = e.iter().map(|(_, v)| v.kind.clone()).collect();
    assert_eq!(
        got,
        vec![
            NodeKind::Int(2),
            NodeKind::Str("2".into()),
            NodeKind::Bool(true),
            NodeKind::Null,
            NodeKind::Float(1.5)
        ]
    );
}

#[test]
fn keys_and_scalars_have_text_and_nodes_become_json() {
    let root = kinds("1: x\ntrue: [2, 18446744073709551615, {a: ~}]\n");
    assert_eq!(root.get("1").unwrap().scalar_text().as_deref(), Some("x"));
    assert_eq!(
        root.get("true").unwrap().to_json(),
        serde_json::json!([2, 18446744073709551615u64, {"a": null}])
    );
    assert_eq!(root.kind.describe(), "a mapping");
    assert_eq!(NodeKind::Null.describe(), "nothing");
}

#[test]
fn duplicate_keys_are_kept() {
    let root = kinds("a: 1\na: 2\n");
    let NodeKind::Map(e) = &root.kind else {
        panic!()
    };
    assert_eq!(e.len(), 2);
}

#[test]
fn empty_and_comment_only_documents_are_empty_maps() {
    assert_eq!(kinds("").kind, NodeKind::Map(vec![]));
    assert_eq!(kinds("# nothing\n").kind, NodeKind::Map(vec![]));
}

#[test]
fn syntax_errors_have_a_place() {
    let err = parse_tree("a: [1, 2\nb: 3\n").unwrap_err().diagnostic();
    assert_eq!(err.code, "yaml-syntax");
    assert!(err.message.starts_with("invalid YAML: "), "{}", err.message);
}

#[test]
fn syntax_errors_have_positions() {
    let err = parse_tree("spec:\n  containers: [a, b\n").unwrap_err();
    assert!(err.span.is_some() && err.line_col.is_some(), "{err:?}");
    assert!(!err.reason.contains(" at line "), "{}", err.reason);
    assert!(err.to_string().contains(" at line "), "{err}");
}

/// The part of a Kubernetes pod the typed tests read; like k8s-openapi's types, unknown
/// fields are dropped silently and absent ones are not serialized.
#[derive(Debug, Default, Deserialize, Serialize)]
struct Pod {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata: Option<Meta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spec: Option<Spec>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    containers: Vec<Container>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    volumes: Option<Vec<Volume>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node_selector: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Container {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    image_pull_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ports: Option<Vec<BTreeMap<String, i32>>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Volume {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    empty_dir: Option<BTreeMap<String, String>>,
}

#[test]
fn type_errors_point_at_the_node() {
    let text = "spec:\n  containers:\n  - name: a\n    image: x\n    ports: 80\n";
    let err = parse_typed::<Pod>(text).unwrap_err();
    let pos = err.line_col.unwrap();
    assert_eq!(pos.line, 5, "{err:?}");
    assert_eq!(&text[err.span.unwrap().range()], "80");
}

#[test]
fn unknown_fields_are_found_with_their_path() {
    let text = "spec:\n  containers:\n  - name: a\n    image: x\n    imagePullPolice: Always\n  nodeSelectr:\n    a: b\n";
    let tree = parse_tree(text).unwrap();
    let pod: Pod = parse_typed(text).unwrap();
    let mut out = Vec::new();
    unknown_fields(&tree, &serde_json::to_value(&pod).unwrap(), "", &mut out);
    let file = SourceFile::new("pod.yaml", text);
    let found: Vec<_> = out
        .iter()
        .map(|u| {
            (
                u.path.as_str(),
                u.key.as_str(),
                file.line_col(u.span.start).line,
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("spec.containers[0]", "imagePullPolice", 5),
            ("spec", "nodeSelectr", 6)
        ]
    );
}

#[test]
fn null_values_and_empty_maps_are_not_unknown() {
    let text = "metadata:\n  labels: {}\nspec:\n  volumes:\n  - name: w\n    emptyDir: {}\n  hostname: null\n  containers: []\n";
    let tree = parse_tree(text).unwrap();
    let pod: Pod = parse_typed(text).unwrap();
    let mut out = Vec::new();
    unknown_fields(&tree, &serde_json::to_value(&pod).unwrap(), "", &mut out);
    assert_eq!(out, []);
}

#[test]
fn every_document_of_a_stream_is_read() {
    let docs: Vec<serde_json::Value> = kiln_yaml::parse_documents("a: 1\n---\nb: [x]\n").unwrap();
    assert_eq!(
        docs,
        [serde_json::json!({"a": 1}), serde_json::json!({"b": ["x"]})]
    );
}
