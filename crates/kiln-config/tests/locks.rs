//! `locks:`: the lockable resources, their labels, and the mistakes reported in them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_config::{LockConfig, parse};
use kiln_diagnostics::RenderOptions;

fn lock(name: &str, labels: &[&str], description: Option<&str>) -> LockConfig {
    LockConfig {
        name: name.into(),
        labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        description: description.map(str::to_owned),
    }
}

#[test]
fn locks_decode_with_labels_as_a_list_or_a_string() {
    let cfg = parse(
        "kiln.yaml",
        "locks:\n  - name: db\n  - name: phone-1\n    labels: [phone, android]\n    description: the test phone\n  - name: phone-2\n    labels: phone ios\n",
    )
    .unwrap();
    assert_eq!(
        cfg.locks,
        vec![
            lock("db", &[], None),
            lock("phone-1", &["phone", "android"], Some("the test phone")),
            lock("phone-2", &["phone", "ios"], None),
        ]
    );
}

#[test]
fn lock_mistakes_are_reported_where_they_were_written() {
    let err = parse(
        "kiln.yaml",
        "locks:\n  - name: db\n  - name: db\n  - labels: [x]\n  - name: q\n    label: x\n",
    )
    .expect_err("the configuration should be refused");
    let rendered = err.render(RenderOptions::default());
    let expected = r#"error: duplicate lock name `db`
  --> kiln.yaml:3:11
   |
 2 |   - name: db
   |           -- first used here
 3 |   - name: db
   |           ^^ used again here

error: missing `locks[2].name`
  --> kiln.yaml:4:5
   |
 4 |   - labels: [x]
   |     ^^^^^^^^^^^ a lock needs `name`

error: unknown key `label`
  --> kiln.yaml:6:5
   |
 6 |     label: x
   |     ^^^^^ did you mean `labels`?

error: could not load kiln.yaml: 3 errors
"#;
    assert_eq!(rendered, expected, "\n--- got ---\n{rendered}");
}
