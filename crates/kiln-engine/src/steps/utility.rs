//! Pipeline Utility Steps that read the workspace: `readProperties`, `findFiles`, `sha256`,
//! `sha1`. Every path is confined to the workspace.

use super::StepCall;
use super::workspace_path::confined;
use crate::error::StepError;
use kiln_script::Value;
use sha1::Digest as _;
use std::fmt::Write as _;

/// `readProperties(file:, text:, defaults:)`: a Java properties file as a map (`text` is read
/// after `file`, its keys winning; `defaults` fill keys neither has).
pub(crate) async fn read_properties(call: &StepCall<'_>) -> Result<Value, StepError> {
    let mut entries: Vec<(String, Value)> = match call.value("defaults")? {
        Some(Value::Map(m)) => m,
        None | Some(Value::Null) => Vec::new(),
        Some(other) => {
            return Err(StepError::failed(format!(
                "`defaults` of `readProperties` must be a map, not {}",
                other.kind()
            )));
        }
    };
    let mut sources = Vec::new();
    if let Some(file) = call.string("file")? {
        let path = confined(call, &file, "readProperties file")?;
        let bytes = call.executor()?.read_file(&path).await?;
        sources.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    if let Some(text) = call.string("text")? {
        sources.push(text);
    }
    if sources.is_empty() {
        return Err(StepError::failed("`readProperties` needs `file` or `text`"));
    }
    for text in &sources {
        for (k, v) in parse_properties(text) {
            match entries.iter_mut().find(|(key, _)| *key == k) {
                Some(entry) => entry.1 = Value::Str(v),
                None => entries.push((k, Value::Str(v))),
            }
        }
    }
    Ok(Value::Map(entries))
}

/// `findFiles(glob:, excludes:)`: the files below the current directory matching the Ant
/// glob (every file without one), as maps with `name`, `path`, `directory` and `length`.
pub(crate) async fn find_files(call: &StepCall<'_>) -> Result<Value, StepError> {
    let includes: Vec<String> = call.string("glob")?.into_iter().collect();
    let excludes: Vec<String> = call.string("excludes")?.into_iter().collect();
    let files = call
        .executor()?
        .list_files(&call.scope.cwd, &includes, &excludes)
        .await?;
    Ok(Value::List(
        files
            .into_iter()
            .map(|f| {
                let path = f.path.to_string_lossy().into_owned();
                let name = f
                    .path
                    .file_name()
                    .map_or_else(|| path.clone(), |n| n.to_string_lossy().into_owned());
                Value::Map(vec![
                    ("name".to_owned(), Value::Str(name)),
                    ("path".to_owned(), Value::Str(path)),
                    ("directory".to_owned(), Value::Bool(false)),
                    (
                        "length".to_owned(),
                        Value::Int(i64::try_from(f.size).unwrap_or(i64::MAX)),
                    ),
                ])
            })
            .collect(),
    ))
}

/// Which digest `sha256`/`sha1` computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Digest {
    Sha256,
    Sha1,
}

/// `sha256(file:)` / `sha1(file:)`: the file's digest in lower-case hex.
pub(crate) async fn digest(call: &StepCall<'_>, digest: Digest) -> Result<Value, StepError> {
    let file = call.req_string("file")?;
    let path = confined(call, &file, &format!("{} file", call.name))?;
    let bytes = call.executor()?.read_file(&path).await?;
    Ok(Value::Str(hex_digest(digest, &bytes)))
}

pub(crate) fn hex_digest(digest: Digest, bytes: &[u8]) -> String {
    let raw: Vec<u8> = match digest {
        Digest::Sha256 => sha2::Sha256::digest(bytes).to_vec(),
        Digest::Sha1 => sha1::Sha1::digest(bytes).to_vec(),
    };
    raw.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The entries of a Java properties text, in order: `key=value`, `key: value` or
/// `key value`; `#`/`!` comments; a trailing `\` continues a line; `\t`, `\n`, `\uXXXX`
/// and escaped separators in keys and values.
fn parse_properties(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(first) = lines.next() {
        let mut logical = first.trim_start().to_owned();
        if logical.is_empty() || logical.starts_with('#') || logical.starts_with('!') {
            continue;
        }
        while ends_continued(&logical) {
            logical.pop();
            match lines.next() {
                Some(next) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = split_entry(&logical);
        out.push((unescape(key), unescape(value)));
    }
    out
}

/// Whether a line ends with an odd number of backslashes.
fn ends_continued(line: &str) -> bool {
    line.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

/// The key (up to the first unescaped `=`, `:` or whitespace) and the value after the
/// separator and the whitespace around it.
fn split_entry(line: &str) -> (&str, &str) {
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' | ':' => return (&line[..i], line[i + 1..].trim_start()),
            c if c.is_whitespace() => {
                let rest = line[i..].trim_start();
                let rest = rest.strip_prefix(['=', ':']).map_or(rest, str::trim_start);
                return (&line[..i], rest);
            }
            _ => {}
        }
    }
    (line, "")
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => out.push_str(&hex),
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_java_properties() {
        let text = "# comment\n! also\nversion=1.2.3\nname : kiln ci\nempty\nurl http://x/y\\\n    /z\npath=C\\:\\\\tmp\\tx\nsnow=\\u2603\nkey\\ with\\ space=v\n";
        let got = parse_properties(text);
        let want: Vec<(String, String)> = [
            ("version", "1.2.3"),
            ("name", "kiln ci"),
            ("empty", ""),
            ("url", "http://x/y/z"),
            ("path", "C:\\tmp\tx"),
            ("snow", "\u{2603}"),
            ("key with space", "v"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn digests_in_hex() {
        assert_eq!(
            hex_digest(Digest::Sha256, b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex_digest(Digest::Sha1, b"abc"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }
}
