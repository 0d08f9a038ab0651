//! String methods: Java's `String` plus the Groovy extensions pipelines use.

use super::Args;
use crate::runtime::types::{GException, RtResult, call_closure, fail, throw, truthy};
use crate::runtime::{limits, regex};
use rhai::{Array, Dynamic, NativeCallContext};

fn strings(items: impl IntoIterator<Item = String>) -> Dynamic {
    Dynamic::from_array(items.into_iter().map(Dynamic::from).collect())
}

fn char_index(s: &str, i: i64, what: &str) -> RtResult<usize> {
    let count = s.chars().count() as i64;
    if i < 0 || i > count {
        return throw(GException::new(
            "java.lang.StringIndexOutOfBoundsException",
            format!("{what}: index {i} out of range for length {count}"),
        ));
    }
    Ok(s.char_indices()
        .nth(i as usize)
        .map_or(s.len(), |(at, _)| at))
}

/// Parses an integer the way `toInteger()` does (surrounding whitespace is an error in
/// Java, but trimmed here since shell output often ends with a newline).
pub(crate) fn parse_int(s: &str) -> RtResult<Dynamic> {
    match s.trim().parse::<i64>() {
        Ok(i) => Ok(Dynamic::from_int(i)),
        Err(_) => throw(GException::new(
            "java.lang.NumberFormatException",
            format!("For input string: \"{s}\""),
        )),
    }
}

pub(crate) fn parse_float(s: &str) -> RtResult<Dynamic> {
    match s.trim().parse::<f64>() {
        Ok(f) => Ok(Dynamic::from_float(f)),
        Err(_) => throw(GException::new(
            "java.lang.NumberFormatException",
            format!("For input string: \"{s}\""),
        )),
    }
}

fn pad(ctx: &NativeCallContext, s: &str, args: &Args, left: bool) -> RtResult<Dynamic> {
    let width = limits::count(args.int(0)?);
    let fill = if args.len() > 1 {
        args.str(1)?
    } else {
        " ".to_string()
    };
    let len = s.chars().count();
    if len >= width || fill.is_empty() {
        return Ok(s.to_string().into());
    }
    let fill_len = fill.len().max(fill.chars().count());
    let bytes = (width - len)
        .checked_mul(fill_len)
        .and_then(|p| p.checked_add(s.len()));
    limits::string_len(ctx, "padding", bytes)?;
    let padding: String = fill.chars().cycle().take(width - len).collect();
    Ok(if left {
        format!("{padding}{s}")
    } else {
        format!("{s}{padding}")
    }
    .into())
}

/// Groovy's `stripIndent()`: removes the common leading whitespace of non-blank lines.
fn strip_indent(s: &str) -> String {
    let indent = s
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    s.lines()
        .map(|l| l.get(indent..).unwrap_or(l.trim_start()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Calls a string method; `None` when there is no such method.
pub(super) fn call(ctx: &NativeCallContext, s: &str, args: &Args) -> RtResult<Option<Dynamic>> {
    let n = args.len();
    Ok(Some(match (args.name, n) {
        ("trim" | "strip", 0) => s.trim().to_string().into(),
        ("stripIndent", 0) => strip_indent(s).into(),
        ("stripMargin", 0) => s
            .lines()
            .map(|l| l.trim_start().strip_prefix('|').unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n")
            .into(),
        ("size" | "length", 0) => Dynamic::from_int(s.chars().count() as i64),
        ("isEmpty", 0) => s.is_empty().into(),
        ("isBlank", 0) => s.trim().is_empty().into(),
        ("toLowerCase", 0) => s.to_lowercase().into(),
        ("toUpperCase", 0) => s.to_uppercase().into(),
        ("capitalize", 0) => {
            let mut c = s.chars();
            match c.next() {
                Some(f) => format!("{}{}", f.to_uppercase(), c.as_str()).into(),
                None => String::new().into(),
            }
        }
        ("reverse", 0) => s.chars().rev().collect::<String>().into(),
        ("toInteger" | "toLong" | "asInteger" | "toBigInteger", 0) => parse_int(s)?,
        ("toDouble" | "toFloat" | "toBigDecimal", 0) => parse_float(s)?,
        ("toBoolean", 0) => matches!(s.trim().to_lowercase().as_str(), "true" | "y" | "1").into(),
        ("isInteger" | "isLong" | "isNumber", 0) => {
            let t = s.trim();
            (t.parse::<i64>().is_ok() || (args.name == "isNumber" && t.parse::<f64>().is_ok()))
                .into()
        }
        ("contains", 1) => s.contains(&args.str(0)?).into(),
        ("startsWith", 1) => s.starts_with(&args.str(0)?).into(),
        ("endsWith", 1) => s.ends_with(&args.str(0)?).into(),
        ("equalsIgnoreCase", 1) => (s.to_lowercase() == args.str(0)?.to_lowercase()).into(),
        ("indexOf", 1) => Dynamic::from_int(
            s.find(&args.str(0)?)
                .map_or(-1, |b| s[..b].chars().count() as i64),
        ),
        ("lastIndexOf", 1) => Dynamic::from_int(
            s.rfind(&args.str(0)?)
                .map_or(-1, |b| s[..b].chars().count() as i64),
        ),
        ("charAt", 1) => {
            let at = char_index(s, args.int(0)?, "charAt")?;
            s[at..]
                .chars()
                .next()
                .map(|c| c.to_string())
                .unwrap_or_default()
                .into()
        }
        ("substring", 1) => {
            let from = char_index(s, args.int(0)?, "substring")?;
            s[from..].to_string().into()
        }
        ("substring", 2) => {
            let from = char_index(s, args.int(0)?, "substring")?;
            let to = char_index(s, args.int(1)?, "substring")?;
            if to < from {
                return fail("substring: end index before begin index");
            }
            s[from..to].to_string().into()
        }
        ("take", 1) => s
            .chars()
            .take(usize::try_from(args.int(0)?).unwrap_or(0))
            .collect::<String>()
            .into(),
        ("drop", 1) => s
            .chars()
            .skip(usize::try_from(args.int(0)?).unwrap_or(0))
            .collect::<String>()
            .into(),
        ("padLeft", 1 | 2) => pad(ctx, s, args, true)?,
        ("padRight", 1 | 2) => pad(ctx, s, args, false)?,
        ("replace", 2) => s.replace(&args.str(0)?, &args.str(1)?).into(),
        ("replaceAll", 2) => regex::replace(s, &args.str(0)?, &args.str(1)?, true)?.into(),
        ("replaceFirst", 2) => regex::replace(s, &args.str(0)?, &args.str(1)?, false)?.into(),
        ("matches", 1) => regex::full_match(s, &args.str(0)?)?.into(),
        ("find", 1) => regex::find_first(s, &args.str(0)?)?,
        ("split", 0) => strings(s.split_whitespace().map(str::to_string)),
        ("split", 1) => Dynamic::from_array(regex::split(s, &args.str(0)?)?),
        ("tokenize", 0) => strings(s.split_whitespace().map(str::to_string)),
        ("tokenize", 1) => {
            let delims: Vec<char> = args.str(0)?.chars().collect();
            strings(
                s.split(|c| delims.contains(&c))
                    .filter(|p| !p.is_empty())
                    .map(str::to_string),
            )
        }
        ("readLines" | "lines", 0) => strings(s.lines().map(str::to_string)),
        ("toList" | "toCharArray" | "chars", 0) => strings(s.chars().map(|c| c.to_string())),
        ("count", 1) => {
            let needle = args.str(0)?;
            Dynamic::from_int(if needle.is_empty() {
                0
            } else {
                s.matches(&needle).count() as i64
            })
        }
        ("plus", 1) => format!("{s}{}", crate::runtime::types::groovy_str(&args.get(0))).into(),
        ("minus", 1) => s.replacen(&args.str(0)?, "", 1).into(),
        ("multiply", 1) => crate::runtime::ops::repeat_string(ctx, s, args.int(0)?)?.into(),
        ("each" | "eachLine", 1) => {
            let c = args.closure(0)?;
            let items: Vec<String> = if args.name == "each" {
                s.chars().map(|c| c.to_string()).collect()
            } else {
                s.lines().map(str::to_string).collect()
            };
            for item in items {
                let _ = call_closure(ctx, &c, vec![item.into()])?;
            }
            s.to_string().into()
        }
        ("getAt", 1) => super::index(&Dynamic::from(s.to_string()), &args.get(0))?,
        ("format", _) => fail("`format()` is not supported; use a GString")?,
        ("any", 1) | ("every", 1) | ("collect", 1) | ("findAll", 1) => {
            let mut chars: Array = s.chars().map(|c| Dynamic::from(c.to_string())).collect();
            let out = super::list::call(ctx, &mut chars, args)?;
            if args.name == "findAll" {
                out.map(|v| {
                    super::as_list(&v)
                        .map(|l| {
                            l.iter()
                                .map(crate::runtime::types::groovy_str)
                                .collect::<String>()
                                .into()
                        })
                        .unwrap_or(v)
                })
            } else {
                out
            }
            .unwrap_or(Dynamic::UNIT)
        }
        ("asBoolean", 0) => truthy(&Dynamic::from(s.to_string())).into(),
        _ => return Ok(None),
    }))
}
