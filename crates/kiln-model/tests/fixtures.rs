//! Fixture folders: every `ok/` pipeline lowers without errors (its model's shape is
//! snapshotted), every `err/` pipeline's rendered diagnostics are snapshotted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on bad fixtures"
)]

use kiln_diagnostics::{RenderOptions, SourceFile, render_all};
use std::path::Path;

/// The repository's example pipelines must lint clean too (checked here without keeping
/// copies; their output is not snapshotted, so examples can change freely).
fn examples() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&root)
        .expect("examples dir")
        .map(|e| e.expect("entry").path().join("Jenkinsfile"))
        .filter(|p| p.exists())
        .map(|p| {
            let name = p
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (
                format!("example-{name}"),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn fixtures(dir: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut out: Vec<(String, String)> = std::fs::read_dir(&root)
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "groovy"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

fn rendered(name: &str, text: &str) -> (bool, String) {
    let (_, diags) = kiln_model::load(text);
    let file = SourceFile::new(format!("{name}.groovy"), text);
    let has_errors = diags.iter().any(|d| d.is_error());
    (
        has_errors,
        render_all(&diags, &file, RenderOptions::default()),
    )
}

#[test]
fn ok_fixtures_have_no_errors() {
    let all = fixtures("ok");
    assert!(!all.is_empty());
    for (name, text) in all {
        let (has_errors, out) = rendered(&name, &text);
        assert!(!has_errors, "{name} should be valid:\n{out}");
        insta::assert_snapshot!(format!("ok-{name}"), out);
    }
}

#[test]
fn examples_have_no_errors() {
    let all = examples();
    assert!(all.len() >= 6, "examples missing");
    for (name, text) in all {
        let (has_errors, out) = rendered(&name, &text);
        assert!(!has_errors, "{name} should be valid:\n{out}");
    }
}

#[test]
fn err_fixtures_report_diagnostics() {
    let all = fixtures("err");
    assert!(!all.is_empty());
    for (name, text) in all {
        let (has_errors, out) = rendered(&name, &text);
        assert!(has_errors, "{name} should have errors");
        insta::assert_snapshot!(format!("err-{name}"), out);
    }
}
