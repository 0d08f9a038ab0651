//! The writer's escaping, proved by reading its output back with kiln's YAML reader: any
//! string, as a key or a value, one-line or multi-line, nested in lists and maps, reads back
//! as written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_import::yaml_out::{Entry, Item, Yaml, write_document};
use kiln_yaml::{Node, NodeKind};
use proptest::prelude::*;

fn string_at<'a>(node: &'a Node, key: &str) -> &'a str {
    match &node.get(key).unwrap().kind {
        NodeKind::Str(s) => s,
        other => panic!("{key}: {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn any_string_reads_back_as_written(key in "\\PC{1,12}", value in any::<String>(), line in "[ -~\\n\\t#:'\"\\\\]{0,40}", lines in "(\\PC|\\n| |\\r){0,30}") {
        let doc = write_document(&[
            Entry::new(key.clone(), Yaml::Str(value.clone())).comment(&line),
            Entry::new(
                "nested",
                Yaml::List(vec![Item::new(Yaml::Map(vec![
                    Entry::new("text", Yaml::Str(line.clone())),
                    Entry::new("other", Yaml::Str(value.clone())),
                    Entry::new("lines", Yaml::Str(lines.clone())),
                ]))]),
            ),
        ]);
        let tree = kiln_yaml::parse_tree(&doc).map_err(|e| TestCaseError::fail(format!("{e:?}\n{doc}")))?;
        if key != "nested" {
            prop_assert_eq!(string_at(&tree, &key), value.as_str(), "{}", doc);
        }
        let NodeKind::Seq(items) = &tree.get("nested").unwrap().kind else { panic!("{doc}") };
        prop_assert_eq!(string_at(&items[0], "text"), line.as_str(), "{}", doc);
        prop_assert_eq!(string_at(&items[0], "other"), value.as_str(), "{}", doc);
        prop_assert_eq!(string_at(&items[0], "lines"), lines.as_str(), "{}", doc);
    }
}
