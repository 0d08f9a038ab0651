//! Every `groovy` example in docs/pipeline-language.md must be a valid pipeline.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on bad fixtures"
)]

use kiln_diagnostics::{RenderOptions, SourceFile, render_all};

#[test]
fn language_reference_examples_lint_clean() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/pipeline-language.md"
    ))
    .expect("docs/pipeline-language.md");
    let mut blocks = 0;
    let mut rest = doc.as_str();
    while let Some(start) = rest.find("```groovy\n") {
        let body = &rest[start + 10..];
        let end = body.find("```").expect("closed code block");
        let code = &body[..end];
        let (_, diags) = kiln_model::load(code);
        let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).cloned().collect();
        assert!(
            errors.is_empty(),
            "example {} has errors:\n{}",
            blocks + 1,
            render_all(
                &errors,
                &SourceFile::new("example", code),
                RenderOptions::default()
            )
        );
        blocks += 1;
        rest = &body[end + 3..];
    }
    assert!(
        blocks >= 4,
        "expected the reference's examples, found {blocks}"
    );
}
