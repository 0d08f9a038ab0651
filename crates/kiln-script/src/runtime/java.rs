//! The JDK and Groovy classes scripts may use beyond values, kiln's whitelist:
//! `new JsonSlurper()` / `new JsonSlurperClassic()` (`parseText`), `new Date()`
//! (`format`, `time`), `new URL(spec)` (its parts, see `url`), `new File(path)` (a file
//! in the workspace, through steps: see `file`), `JsonOutput.toJson` / `prettyPrint`,
//! `System.currentTimeMillis()`, `String.format`, the number parsers and `Math`
//! (translate/call.rs `STATICS`), exceptions, lists and maps, and the classes the script
//! defines. Anything else is refused by the translation, naming the class.

use super::file;
use super::types::{RtResult, fail, groovy_str};
use super::url::{self, JavaUrl};
use kiln_diagnostics::{Diagnostic, Span};
use rhai::{Array, Dynamic, NativeCallContext};

/// An instance of one of the supported classes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum GObject {
    JsonSlurper,
    /// Milliseconds since the epoch.
    Date(i64),
    Url(Box<JavaUrl>),
    /// A path, relative to the workspace or absolute under it.
    File(String),
}

/// The classes `new` accepts besides exceptions, collections and the script's own.
pub(crate) const CLASSES: &[&str] = &["JsonSlurper", "JsonSlurperClassic", "Date", "URL", "File"];

/// What the error for an unsupported class says kiln offers instead.
pub(crate) const SUPPORTED_NOTE: &str = "kiln scripts can create the classes they define, exceptions (`new Exception('...')`), lists and maps (`[]`, `[:]`, `new ArrayList()`, `new HashMap()`), `JsonSlurper`, `JsonSlurperClassic`, `Date`, `URL` and `File` (in the workspace)";

/// The code of [`unknown_class`] diagnostics (a shared library's `src/` may define the
/// class, which only running the build can tell).
pub const UNKNOWN_CLASS: &str = "unknown-class";

/// The lint error for `new NAME(...)` of a class neither the file nor kiln defines.
pub(crate) fn unknown_class(class: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        UNKNOWN_CLASS,
        format!("`new {class}(...)`: class `{class}` is not defined in this Jenkinsfile and kiln does not provide it"),
    )
    .with_primary(span, "unknown class")
    .with_note(SUPPORTED_NOTE)
}

/// A version 4 UUID (`UUID.randomUUID().toString()`), from the standard library's
/// randomly seeded hasher: unique names, not secrets.
fn random_uuid() -> String {
    use std::hash::{BuildHasher, Hasher};
    let half = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_i64(now_millis());
        h.finish()
    };
    let bits = (u128::from(half()) << 64 | u128::from(half())) & !(0xf000 << 64) & !(0xc << 60);
    let bits = bits | (0x4000 << 64) | (0x8 << 60);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn now_millis() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// `new CLASS(args)`.
pub(crate) fn new_object(class: &str, args: &Array) -> RtResult<Dynamic> {
    match (class, args.as_slice()) {
        ("JsonSlurper" | "JsonSlurperClassic", []) => Ok(Dynamic::from(GObject::JsonSlurper)),
        ("Date", []) => Ok(Dynamic::from(GObject::Date(now_millis()))),
        ("Date", [ms]) if ms.is_int() => Ok(Dynamic::from(GObject::Date(ms.as_int().unwrap_or(0)))),
        ("URL", [spec]) => Ok(Dynamic::from(GObject::Url(Box::new(url::parse(
            &groovy_str(spec),
        )?)))),
        ("File", [path]) => Ok(Dynamic::from(GObject::File(path_of(path)))),
        ("File", [parent, child]) => Ok(Dynamic::from(GObject::File(format!(
            "{}/{}",
            path_of(parent).trim_end_matches('/'),
            groovy_str(child)
        )))),
        _ if class.contains('.') => fail(format!(
            "`new {class}(...)`: the class `{class}` is not provided by kiln"
        )),
        _ => fail(format!(
            "`new {class}(...)` with {} argument(s) is not supported",
            args.len()
        )),
    }
}

/// The path of a `File` argument (a `File` or a string).
fn path_of(d: &Dynamic) -> String {
    match d.clone().try_cast::<GObject>() {
        Some(GObject::File(p)) => p,
        _ => groovy_str(d),
    }
}

/// A method of a supported object; `None` when it has no such method.
pub(crate) fn call(
    ctx: &NativeCallContext,
    obj: &GObject,
    name: &str,
    args: &Array,
) -> RtResult<Option<Dynamic>> {
    let arg = |i: usize| args.get(i).cloned().unwrap_or(Dynamic::UNIT);
    match obj {
        GObject::File(path) => return file::call(ctx, path, name, args),
        GObject::Url(u) if JavaUrl::is_fetch(name) => return refuse_fetch(name),
        GObject::Url(u) if args.is_empty() => return Ok(u.part(name)),
        _ => {}
    }
    Ok(Some(match (obj, name, args.len()) {
        (GObject::JsonSlurper, "parseText", 1) => super::json::parse(&groovy_str(&arg(0)))?,
        (GObject::Date(ms), "format", 1) => format_date(*ms, &groovy_str(&arg(0)))?.into(),
        (GObject::Date(ms), "getTime", 0) => Dynamic::from_int(*ms),
        (GObject::Date(ms), "toString", 0) => {
            format_date(*ms, "EEE MMM dd HH:mm:ss 'UTC' yyyy")?.into()
        }
        _ => return Ok(None),
    }))
}

fn refuse_fetch<T>(name: &str) -> RtResult<T> {
    fail(format!(
        "`URL.{name}` would read from the network, which kiln scripts may not do: use the `httpRequest` step or `sh 'curl ...'`"
    ))
}

/// A property of a supported object (`File` properties, which read through steps, are
/// in [`file::property`]).
pub(crate) fn property(obj: &GObject, name: &str) -> RtResult<Dynamic> {
    match (obj, name) {
        (GObject::Date(ms), "time") => Ok(Dynamic::from_int(*ms)),
        (GObject::Url(_), _) if JavaUrl::is_fetch(name) => refuse_fetch(name),
        (GObject::Url(u), _) => match u.part(name) {
            Some(v) => Ok(v),
            None => fail(format!("no property `{name}` on a URL")),
        },
        _ => fail(format!("no property `{name}` on {}", class_name(obj))),
    }
}

pub(crate) fn class_name(obj: &GObject) -> &'static str {
    match obj {
        GObject::JsonSlurper => "a JsonSlurper",
        GObject::Date(_) => "a Date",
        GObject::Url(_) => "a URL",
        GObject::File(_) => "a File",
    }
}

/// Groovy's `toString()` of an object.
pub(crate) fn to_text(obj: &GObject) -> String {
    match obj {
        GObject::Date(ms) => format_date(*ms, "EEE MMM dd HH:mm:ss 'UTC' yyyy").unwrap_or_default(),
        GObject::JsonSlurper => "groovy.json.JsonSlurper".to_string(),
        GObject::Url(u) => u.spec.clone(),
        GObject::File(p) => p.clone(),
    }
}

/// Static methods of these classes; `None` when `name` is not one of them.
pub(crate) fn static_call(
    ctx: &NativeCallContext,
    name: &str,
    args: &Array,
) -> Option<RtResult<Dynamic>> {
    let arg = |i: usize| args.get(i).cloned().unwrap_or(Dynamic::UNIT);
    Some(match name {
        "System.currentTimeMillis" => Ok(Dynamic::from_int(now_millis())),
        "UUID.randomUUID" => Ok(random_uuid().into()),
        "JsonOutput.toJson" => Ok(super::json::to_text(&arg(0)).into()),
        "JsonOutput.prettyPrint" => super::json::pretty(&groovy_str(&arg(0))),
        "String.format" => match args.split_first() {
            Some((f, rest)) => super::format::format(ctx, &groovy_str(f), rest).map(Dynamic::from),
            None => fail("`String.format` needs a format"),
        },
        _ => return None,
    })
}

/// `Date.format(pattern)` with Java's `SimpleDateFormat` letters, in UTC.
fn format_date(ms: i64, pattern: &str) -> RtResult<String> {
    let ts = match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t,
        Err(e) => return fail(format!("not a date: {e}")),
    };
    let zoned = ts.to_zoned(jiff::tz::TimeZone::UTC);
    let mut out = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let end = chars[i + 1..]
                .iter()
                .position(|&x| x == '\'')
                .map_or(chars.len(), |p| i + 1 + p);
            if end == i + 1 {
                out.push('\'');
            }
            out.extend(&chars[i + 1..end.min(chars.len())]);
            i = end + 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        i += run;
        let field = |spec: &str| zoned.strftime(spec).to_string();
        let text = match (c, run) {
            ('y', 2) => field("%y"),
            ('y', _) => field("%Y"),
            ('M', 1) => zoned.month().to_string(),
            ('M', 2) => field("%m"),
            ('M', 3) => field("%b"),
            ('M', _) => field("%B"),
            ('d', 1) => zoned.day().to_string(),
            ('d', _) => field("%d"),
            ('H', 1) => zoned.hour().to_string(),
            ('H', _) => field("%H"),
            ('h', _) => field("%I"),
            ('m', 1) => zoned.minute().to_string(),
            ('m', _) => field("%M"),
            ('s', 1) => zoned.second().to_string(),
            ('s', _) => field("%S"),
            ('S', _) => format!("{:03}", zoned.millisecond()),
            ('a', _) => field("%p"),
            ('E', 1..=3) => field("%a"),
            ('E', _) => field("%A"),
            ('z', _) => "UTC".to_string(),
            ('Z', _) => "+0000".to_string(),
            ('X', _) => "Z".to_string(),
            (c, n) if c.is_ascii_alphabetic() => {
                return fail(format!(
                    "date pattern letter `{}` is not supported",
                    c.to_string().repeat(n)
                ));
            }
            (c, n) => c.to_string().repeat(n),
        };
        out.push_str(&text);
    }
    Ok(out)
}
