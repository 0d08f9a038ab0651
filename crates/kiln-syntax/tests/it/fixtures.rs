//! Fixture folders: every `tests/fixtures/ok/*.groovy` parses without a diagnostic, every
//! `err/*.groovy` with at least one; each gets an insta snapshot of the tree dump followed
//! by the rendered diagnostics. The snapshots are the parser's specification.

use kiln_diagnostics::{RenderOptions, SourceFile, render_all};
use std::path::{Path, PathBuf};

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "groovy"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

/// The snapshot text of one fixture: the tree, then the diagnostics.
pub fn snapshot_of(name: &str, text: &str) -> (String, usize) {
    let (file, diags) = kiln_syntax::parse(text);
    super::spans::check_file(&file, text);
    let source = SourceFile::new(name, text);
    let rendered = render_all(&diags, &source, RenderOptions::default());
    let out = format!(
        "{}\n--- diagnostics ---\n{}",
        kiln_syntax::dump(&file, text),
        rendered
    );
    (out, diags.len())
}

fn run(kind: &str) {
    for path in fixtures(kind) {
        let text = std::fs::read_to_string(&path).unwrap();
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let name = format!("{kind}/{stem}.groovy");
        let (snapshot, n_diags) = snapshot_of(&name, &text);
        if kind == "ok" {
            assert_eq!(n_diags, 0, "{name} must parse cleanly:\n{snapshot}");
        } else {
            assert!(n_diags > 0, "{name} must report at least one diagnostic");
        }
        insta::with_settings!({
            snapshot_path => "../fixtures/snapshots",
            prepend_module_to_snapshot => false,
            input_file => &path,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(format!("{kind}__{stem}"), snapshot);
        });
    }
}

#[test]
fn ok_fixtures() {
    run("ok");
}

#[test]
fn err_fixtures() {
    run("err");
}
