//! One fixture per diagnostic code: `tests/fixtures/codes/CODE.groovy` is a pipeline that
//! makes kiln-model report CODE. Its rendered diagnostics are snapshotted, and a test fails
//! when a code that kiln-model's source names has no fixture (or a fixture names a code the
//! source no longer has).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on bad fixtures"
)]

use kiln_diagnostics::{RenderOptions, SourceFile, render_all};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Every `.rs` file below `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The diagnostic codes kiln-model's source names: every string literal shaped like a code
/// (`lower-case-words-with-dashes`), with the file that names it.
fn codes_in_source() -> Vec<(String, String)> {
    let mut files = Vec::new();
    sources(&root().join("src"), &mut files);
    let mut codes = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.strip_prefix(root()).unwrap().display().to_string();
        for literal in string_literals(&text) {
            if is_code(&literal) {
                codes.push((literal, name.clone()));
            }
        }
    }
    codes.sort();
    codes.dedup_by(|a, b| a.0 == b.0);
    codes
}

/// The string literals of Rust source (`"..."` with escapes), outside line comments and
/// char literals. Raw strings are not used by kiln-model's source.
fn string_literals(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '\'' => {
                let mut ahead = chars.clone();
                match (ahead.next(), ahead.next()) {
                    // `'\x'`, `'\''`: skip to the closing quote after the escape.
                    (Some('\\'), _) => {
                        chars.next();
                        chars.next();
                        for c in chars.by_ref() {
                            if c == '\'' {
                                break;
                            }
                        }
                    }
                    (Some(_), Some('\'')) => {
                        chars.next();
                        chars.next();
                    }
                    // A lifetime.
                    _ => {}
                }
            }
            '"' => {
                let mut literal = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => literal.extend(chars.next()),
                        '"' => break,
                        c => literal.push(c),
                    }
                }
                out.push(literal);
            }
            _ => {}
        }
    }
    out
}

fn is_code(s: &str) -> bool {
    let words: Vec<&str> = s.split('-').collect();
    words.len() >= 2
        && words[0]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase())
        && words.iter().all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

fn fixtures() -> Vec<(String, String)> {
    let dir = root().join("tests/fixtures/codes");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/codes")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "groovy"))
        .map(|p| {
            let code = p.file_stem().unwrap().to_string_lossy().into_owned();
            (code, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_code_has_a_fixture_and_every_fixture_a_code() {
    let fixtures: BTreeSet<String> = fixtures().into_iter().map(|(code, _)| code).collect();
    let source = codes_in_source();
    let missing: Vec<String> = source
        .iter()
        .filter(|(code, _)| !fixtures.contains(code))
        .map(|(code, file)| {
            format!("`{code}` (named in {file}): add tests/fixtures/codes/{code}.groovy")
        })
        .collect();
    assert!(
        missing.is_empty(),
        "diagnostic codes without a fixture:\n{}",
        missing.join("\n")
    );
    let known: BTreeSet<&str> = source.iter().map(|(code, _)| code.as_str()).collect();
    let stale: Vec<&String> = fixtures
        .iter()
        .filter(|c| !known.contains(c.as_str()))
        .collect();
    assert!(
        stale.is_empty(),
        "fixtures for codes kiln-model no longer names: {stale:?}"
    );
}

#[test]
fn each_fixture_reports_its_code() {
    let all = fixtures();
    assert!(!all.is_empty());
    let mut wrong = Vec::new();
    for (code, text) in all {
        let (_, diags) = kiln_model::load(&text);
        let reported: Vec<&str> = diags.iter().map(|d| d.code).collect();
        if !reported.contains(&code.as_str()) {
            wrong.push(format!("{code}.groovy reports {reported:?}"));
            continue;
        }
        let file = SourceFile::new(format!("{code}.groovy"), text.as_str());
        let rendered = render_all(&diags, &file, RenderOptions::default());
        insta::assert_snapshot!(
            format!("code-{code}"),
            format!("codes: {}\n\n{rendered}", reported.join(", "))
        );
    }
    assert!(
        wrong.is_empty(),
        "fixtures that do not report the code they are named after:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn literals_are_found_past_escapes_comments_and_chars() {
    let text = r#"let a = "x\"y"; // "not-this"
        let q = '"'; let e = '\''; fn f<'a>() { g("missing-axes") }"#;
    assert_eq!(string_literals(text), ["x\"y", "missing-axes"]);
}

#[test]
fn the_code_pattern_takes_codes_only() {
    for code in ["unknown-directive", "missing-axis-name", "yaml-syntax"] {
        assert!(is_code(code), "{code}");
    }
    for other in [
        "stages",
        "Unknown-x",
        "a--b",
        "-a",
        "a-",
        "a b-c",
        "kiln.dev/job",
    ] {
        assert!(!is_code(other), "{other}");
    }
}
