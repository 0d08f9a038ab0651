//! A small typed YAML writer: a tree of [`Yaml`] values whose map entries and list items
//! carry comments, written as block YAML. Strings are written plain only when YAML cannot
//! read them as anything else; otherwise double-quoted with escapes, or as a literal block
//! when they span lines. Its output is read back by kiln's own YAML reader in the tests.

use std::fmt::Write as _;

/// A YAML value to write.
#[derive(Clone, Debug, PartialEq)]
pub enum Yaml {
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<Item>),
    Map(Vec<Entry>),
}

/// A map entry: comment lines above it, its key and value.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub comments: Vec<String>,
    pub key: String,
    pub value: Yaml,
}

/// A list item with the comment lines above it.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub comments: Vec<String>,
    pub value: Yaml,
}

impl Yaml {
    pub fn str(s: impl Into<String>) -> Yaml {
        Yaml::Str(s.into())
    }

    /// A list of items without comments.
    pub fn list(values: impl IntoIterator<Item = Yaml>) -> Yaml {
        Yaml::List(values.into_iter().map(Item::new).collect())
    }
}

impl Entry {
    pub fn new(key: impl Into<String>, value: Yaml) -> Entry {
        Entry {
            comments: Vec::new(),
            key: key.into(),
            value,
        }
    }

    /// The entry with a comment line (or several, split at newlines) above it.
    pub fn comment(mut self, text: impl AsRef<str>) -> Entry {
        self.comments
            .extend(text.as_ref().lines().map(str::to_string));
        self
    }
}

impl Item {
    pub fn new(value: Yaml) -> Item {
        Item {
            comments: Vec::new(),
            value,
        }
    }

    pub fn comment(mut self, text: impl AsRef<str>) -> Item {
        self.comments
            .extend(text.as_ref().lines().map(str::to_string));
        self
    }
}

/// Writes a top-level mapping as a YAML document.
pub fn write_document(entries: &[Entry]) -> String {
    let mut out = String::new();
    write_map(&mut out, entries, 0, None);
    out
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn write_comments(out: &mut String, comments: &[String], indent: usize) {
    for c in comments {
        pad(out, indent);
        if c.is_empty() {
            out.push_str("#\n");
        } else {
            let _ = writeln!(out, "# {c}");
        }
    }
}

/// Writes `entries` at `indent`; with `first` the first entry goes after that prefix
/// (`- `) on the current line instead of on a line of its own.
fn write_map(out: &mut String, entries: &[Entry], indent: usize, mut first: Option<&str>) {
    for entry in entries {
        if let Some(prefix) = first.take() {
            out.push_str(prefix);
        } else {
            write_comments(out, &entry.comments, indent);
            pad(out, indent);
        }
        out.push_str(&scalar(&entry.key));
        out.push(':');
        write_value(out, &entry.value, indent);
    }
}

/// Writes a value after `key:` (or `-`), `indent` being the key's.
fn write_value(out: &mut String, value: &Yaml, indent: usize) {
    match value {
        Yaml::Map(entries) if entries.is_empty() => out.push_str(" {}\n"),
        Yaml::List(items) if items.is_empty() => out.push_str(" []\n"),
        Yaml::Map(entries) => {
            out.push('\n');
            write_map(out, entries, indent + 2, None);
        }
        Yaml::List(items) => {
            out.push('\n');
            write_list(out, items, indent + 2);
        }
        Yaml::Str(s) if s.contains('\n') && block_safe(s) => write_block(out, s, indent + 2),
        Yaml::Str(s) => {
            let _ = writeln!(out, " {}", scalar(s));
        }
        Yaml::Int(i) => {
            let _ = writeln!(out, " {i}");
        }
        Yaml::Bool(b) => {
            let _ = writeln!(out, " {b}");
        }
    }
}

fn write_list(out: &mut String, items: &[Item], indent: usize) {
    for item in items {
        write_comments(out, &item.comments, indent);
        match &item.value {
            Yaml::Map(entries) if !entries.is_empty() => {
                // The first entry shares the `- ` line: its comments go above that line.
                if let Some(e) = entries.first() {
                    write_comments(out, &e.comments, indent);
                }
                pad(out, indent);
                write_map(out, entries, indent + 2, Some("- "));
            }
            other => {
                pad(out, indent);
                out.push('-');
                write_value(out, other, indent);
            }
        }
    }
}

/// Whether a multi-line string can be a literal block: some text, only printable characters besides
/// newlines and tabs, and no line of nothing but spaces before text (which YAML would read
/// as indentation).
fn block_safe(s: &str) -> bool {
    !s.trim_end_matches('\n').is_empty()
        && s.chars()
            .all(|c| c == '\n' || c == '\t' || (printable(c) && c != '\u{feff}'))
        && s.lines()
            .all(|l| !l.chars().all(|c| c == ' ') || l.is_empty())
}

fn write_block(out: &mut String, s: &str, indent: usize) {
    let trailing = s.len() - s.trim_end_matches('\n').len();
    let chomp = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    // An explicit indentation when the first line with text starts with a space (YAML
    // would take its spaces for the block's indentation).
    let first = s.split('\n').find(|l| !l.is_empty()).unwrap_or("");
    let indicator = if first.starts_with(' ') { "2" } else { "" };
    let _ = writeln!(out, " |{indicator}{chomp}");
    let body = s.trim_end_matches('\n');
    for line in body.split('\n') {
        if !line.is_empty() {
            pad(out, indent);
            out.push_str(line);
        }
        out.push('\n');
    }
    // `|+` keeps the blank lines after the text: one per extra newline.
    for _ in 1..trailing {
        out.push('\n');
    }
}

/// A string as a one-line scalar: plain when nothing else can be read into it.
pub fn scalar(s: &str) -> String {
    if plain_safe(s) {
        s.to_string()
    } else {
        quoted(s)
    }
}

const RESERVED: &[&str] = &[
    "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
];

fn plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '/' || first == '_')
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '@' | '+' | ' ')
        })
        && !s.ends_with(' ')
        && !s.contains(" #")
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str())
        && !s.eq_ignore_ascii_case(".inf")
        && !s.eq_ignore_ascii_case(".nan")
}

/// Whether YAML allows `c` as written (its printable set, without line breaks).
fn printable(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        || u32::from(c) >= 0x10000
}

/// A double-quoted scalar with YAML's escapes.
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if !printable(c) || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_nested_maps_lists_and_comments() {
        let doc = write_document(&[
            Entry::new("a", Yaml::str("plain")).comment("first\nsecond"),
            Entry::new(
                "jobs",
                Yaml::List(vec![
                    Item::new(Yaml::Map(vec![
                        Entry::new("name", Yaml::str("x")).comment("job x"),
                        Entry::new("count", Yaml::Int(3)),
                    ])),
                    Item::new(Yaml::str("true")).comment("a string"),
                ]),
            ),
            Entry::new("empty", Yaml::Map(vec![])),
        ]);
        insta::assert_snapshot!(doc, @r#"
        # first
        # second
        a: plain
        jobs:
          # job x
          - name: x
            count: 3
          # a string
          - "true"
        empty: {}
        "#);
    }

    #[test]
    fn quotes_what_yaml_would_read_otherwise() {
        for (s, out) in [
            ("main", "main"),
            ("release/*", "\"release/*\""),
            ("yes", "\"yes\""),
            ("123", "\"123\""),
            ("a: b", "\"a: b\""),
            ("x #y", "\"x #y\""),
            ("say \"hi\"", "\"say \\\"hi\\\"\""),
            ("", "\"\""),
            ("tab\there", "\"tab\\there\""),
        ] {
            assert_eq!(scalar(s), out, "{s:?}");
        }
    }
}
