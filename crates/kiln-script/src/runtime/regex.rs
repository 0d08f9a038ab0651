//! Groovy's regex operators and string methods (`=~`, `==~`, `split`, `replaceAll`) on the
//! `regex` crate. Java regex syntax and Rust's agree on what pipelines write (classes,
//! groups, anchors, quantifiers); look-around and back-references are not supported.

use super::types::{RtResult, fail};
use regex::Regex;
use rhai::{Array, Dynamic};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// How many compiled patterns are kept; the cache is emptied when it is full.
const CACHE_SIZE: usize = 256;

/// Compiled regexes by source text, so that a pattern in a loop compiles once.
fn cache() -> &'static Mutex<HashMap<String, Regex>> {
    // A process-wide cache of pure values (compiled patterns keyed by their text): it
    // holds no state that could differ between builds.
    static CACHE: std::sync::OnceLock<Mutex<HashMap<String, Regex>>> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

pub(crate) fn compile(pattern: &str) -> RtResult<Regex> {
    let mut cache = cache().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(re) = cache.get(pattern) {
        return Ok(re.clone());
    }
    let re = match Regex::new(pattern) {
        Ok(re) => re,
        Err(e) => return fail(format!("invalid regular expression `{pattern}`: {e}")),
    };
    if cache.len() >= CACHE_SIZE {
        cache.clear();
    }
    cache.insert(pattern.to_string(), re.clone());
    Ok(re)
}

/// `text ==~ pattern` and `text.matches(pattern)`: the whole text matches.
pub(crate) fn full_match(text: &str, pattern: &str) -> RtResult<bool> {
    let re = compile(&format!(r"\A(?:{pattern})\z"))?;
    Ok(re.is_match(text))
}

/// `text =~ pattern`: every match; each is the matched text, or a list of the text and
/// its groups when the pattern has groups (what `m[0][1]` reads in Groovy).
pub(crate) fn find_all(text: &str, pattern: &str) -> RtResult<Dynamic> {
    let re = compile(pattern)?;
    let groups = re.captures_len() > 1;
    let mut out = Array::new();
    for caps in re.captures_iter(text) {
        if groups {
            let item: Array = caps
                .iter()
                .map(|g| g.map_or(Dynamic::UNIT, |m| Dynamic::from(m.as_str().to_string())))
                .collect();
            out.push(Dynamic::from_array(item));
        } else if let Some(m) = caps.get(0) {
            out.push(Dynamic::from(m.as_str().to_string()));
        }
    }
    Ok(Dynamic::from_array(out))
}

/// `text.find(pattern)`: the first match or null.
pub(crate) fn find_first(text: &str, pattern: &str) -> RtResult<Dynamic> {
    let re = compile(pattern)?;
    Ok(re
        .find(text)
        .map_or(Dynamic::UNIT, |m| Dynamic::from(m.as_str().to_string())))
}

/// Converts Java's replacement syntax (`$1`, `\$`) to the regex crate's (`${1}`, `$$`).
fn replacement(java: &str) -> String {
    let mut out = String::with_capacity(java.len());
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            '$' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    out.push_str("$$");
                } else {
                    out.push_str(&format!("${{{digits}}}"));
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// `text.replaceAll(pattern, replacement)` / `replaceFirst`.
pub(crate) fn replace(text: &str, pattern: &str, with: &str, all: bool) -> RtResult<String> {
    let re = compile(pattern)?;
    let with = replacement(with);
    Ok(if all {
        re.replace_all(text, with.as_str()).into_owned()
    } else {
        re.replace(text, with.as_str()).into_owned()
    })
}

/// Java's `String.split(regex)`: trailing empty strings are removed.
pub(crate) fn split(text: &str, pattern: &str) -> RtResult<Array> {
    let re = compile(pattern)?;
    let mut parts: Vec<&str> = re.split(text).collect();
    if text.is_empty() {
        return Ok(vec![Dynamic::from(String::new())]);
    }
    // A zero-width match at the start does not produce a leading empty string.
    if parts.first() == Some(&"")
        && re
            .find(text)
            .is_some_and(|m| m.is_empty() && m.start() == 0)
    {
        parts.remove(0);
    }
    while parts.last() == Some(&"") {
        parts.pop();
    }
    Ok(parts
        .into_iter()
        .map(|p| Dynamic::from(p.to_string()))
        .collect())
}
