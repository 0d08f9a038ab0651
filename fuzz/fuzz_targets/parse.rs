//! Feeds arbitrary bytes (as UTF-8 text) to the parser: it must never panic, and every
//! span it reports must lie inside the input.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (file, diags) = kiln_syntax::parse(&text);
    let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
    assert!(file.span.end <= len);
    for d in &diags {
        for label in &d.labels {
            assert!(label.span.start <= label.span.end && label.span.end <= len);
        }
    }
    let _ = kiln_syntax::dump(&file, &text);
    let (expr, _) = kiln_syntax::parse_expression(&text, 3);
    assert!(expr.span.end <= len + 3);
});
