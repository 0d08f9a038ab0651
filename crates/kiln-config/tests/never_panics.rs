//! Whatever the file holds, loading reports diagnostics inside the text and never panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

const EXAMPLE: &str = include_str!("../../../examples/kiln.yaml");

fn check(text: &str) {
    if let Err(e) = kiln_config::parse("kiln.yaml", text) {
        for d in e.diagnostics() {
            let span = d.primary_span();
            assert!(span.end as usize <= text.len(), "{d:?} outside the text");
        }
        let _ = e.to_string();
    }
}

proptest! {
    #[test]
    fn arbitrary_text(text in "\\PC{0,200}") {
        check(&text);
    }

    #[test]
    fn yaml_like_text(text in "([a-z_]{1,8}: ?|- |  |\\[|\\]|\\{|\\}|,|[0-9]{1,3}|\\*/?|H|\\n|&a|\\*a|'|\"){0,60}") {
        check(&text);
    }

    #[test]
    fn the_example_with_a_line_removed_or_truncated(line in 0usize..120, cut in 0usize..4000) {
        let lines: Vec<&str> = EXAMPLE.lines().collect();
        let without: Vec<&str> = lines.iter().enumerate().filter(|(i, _)| *i != line).map(|(_, l)| *l).collect();
        check(&without.join("\n"));
        let cut = cut.min(EXAMPLE.len());
        if EXAMPLE.is_char_boundary(cut) {
            check(&EXAMPLE[..cut]);
        }
    }
}

#[test]
fn cron_never_panics_on_odd_specs() {
    for spec in [
        "H(59-0) * * * *",
        "H/1000 * * * *",
        "* * * * *,",
        "4294967296 * * * *",
        "-1 * * * *",
        "H(0-59)/60 * * * *",
        "0 0 * * 7-7",
        "@",
        "H H H H H H",
    ] {
        let _ = kiln_config::cron::Schedule::parse(spec, "job");
    }
    let s = kiln_config::cron::Schedule::parse("* * * * *", "job").unwrap();
    assert_eq!(s.next_after(u64::MAX), None);
}
