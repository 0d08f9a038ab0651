//! Rhai-side representations of Groovy things Rhai lacks (closures with an arity,
//! exceptions, regex patterns) and the conversions between Rhai values and [`Value`].

use crate::value::{Value, format_float};
use rhai::{
    Array, Dynamic, EvalAltResult, FnPtr, ImmutableString, Map, NativeCallContext, Position,
};
use std::ops::{Range, RangeInclusive};

/// The result type of runtime functions.
pub(crate) type RtResult<T> = Result<T, Box<EvalAltResult>>;

/// A Groovy closure: a Rhai function pointer and how many parameters the Groovy code
/// declared (`{ it -> }` and `{ }` both take one).
#[derive(Clone)]
pub(crate) struct GClosure {
    pub f: FnPtr,
    pub arity: usize,
}

/// A thrown Groovy exception: `error('x')`, `throw new Exception('x')`, a failed step.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GException {
    /// The Java class name, e.g. `hudson.AbortException`.
    pub class: String,
    pub message: String,
}

impl GException {
    pub fn new(class: &str, message: impl Into<String>) -> Self {
        GException {
            class: class.to_string(),
            message: message.into(),
        }
    }

    /// Groovy's `toString()` of an exception.
    pub fn render(&self) -> String {
        if self.message.is_empty() {
            self.class.clone()
        } else {
            format!("{}: {}", self.class, self.message)
        }
    }

    /// Whether `catch (Type e)` catches this exception; the hierarchy is the part of
    /// Java's that pipelines rely on.
    pub fn is_a(&self, ty: &str) -> bool {
        let simple = |s: &str| s.rsplit('.').next().unwrap_or(s).to_string();
        let ty = simple(ty);
        if matches!(ty.as_str(), "Throwable" | "Object") {
            return true;
        }
        let own = simple(&self.class);
        if own == ty {
            return true;
        }
        let parents: &[&str] = match own.as_str() {
            "AbortException" => &["IOException", "Exception"],
            "FlowInterruptedException" => &["InterruptedException", "Exception"],
            "Error" | "AssertionError" | "StackOverflowError" => &["Error"],
            "IllegalArgumentException"
            | "IllegalStateException"
            | "NullPointerException"
            | "NumberFormatException"
            | "IndexOutOfBoundsException"
            | "UnsupportedOperationException"
            | "MissingPropertyException"
            | "MissingMethodException" => &["RuntimeException", "Exception"],
            _ => &["Exception"],
        };
        parents.contains(&ty.as_str())
    }
}

/// A compiled-on-use regex pattern from `~/.../`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GPattern(pub String);

/// A runtime error with a message; its position is filled in by Rhai at the call site.
pub(crate) fn fail<T>(message: impl Into<String>) -> RtResult<T> {
    Err(Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(GException::new("java.lang.RuntimeException", message)),
        Position::NONE,
    )))
}

/// Throws a Groovy exception.
pub(crate) fn throw<T>(e: GException) -> RtResult<T> {
    Err(Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(e),
        Position::NONE,
    )))
}

/// Calls a Groovy closure with `args`, following Groovy's leniency: missing arguments are
/// null and extra ones are dropped, except that a one-parameter closure called with
/// several arguments gets them as a list.
pub(crate) fn call_closure(
    ctx: &NativeCallContext,
    c: &GClosure,
    mut args: Vec<Dynamic>,
) -> RtResult<Dynamic> {
    if c.arity == 1 && args.len() > 1 {
        args = vec![Dynamic::from_array(args)];
    }
    args.resize(c.arity, Dynamic::UNIT);
    c.f.call_raw(ctx, None, args)
}

/// `d` as a `T` when it holds one. `d` is cloned only then: `d.clone().try_cast()` on a
/// list or map that is not a `T` would copy all of it just to find out (a shared value is
/// cloned as before: that copies a pointer).
pub(crate) fn cast_to<T: rhai::Variant + Clone>(d: &Dynamic) -> Option<T> {
    if d.is_shared() || d.is::<T>() {
        d.clone().try_cast::<T>()
    } else {
        None
    }
}

/// The closure inside a value, if it is one.
pub(crate) fn as_closure(d: &Dynamic) -> Option<GClosure> {
    if d.is::<GClosure>() {
        return d.clone().try_cast::<GClosure>();
    }
    if d.is_fnptr() {
        return d
            .clone()
            .try_cast::<FnPtr>()
            .map(|f| GClosure { f, arity: 1 });
    }
    None
}

/// The integers of a range value, if `d` is one.
pub(crate) fn range_items(d: &Dynamic) -> Option<Array> {
    if let Some(r) = cast_to::<Range<i64>>(d) {
        return Some(r.map(Dynamic::from_int).collect());
    }
    if let Some(r) = cast_to::<RangeInclusive<i64>>(d) {
        return Some(r.map(Dynamic::from_int).collect());
    }
    None
}

/// A list view of a value: arrays, ranges; `None` for anything else.
pub(crate) fn as_list(d: &Dynamic) -> Option<Array> {
    if d.is_array() {
        return d.clone().into_array().ok();
    }
    range_items(d)
}

/// Groovy's `toString()` of a value; null is `null`.
pub(crate) fn groovy_str(d: &Dynamic) -> String {
    let mut out = String::new();
    write_str(&mut out, d);
    out
}

fn write_str(out: &mut String, d: &Dynamic) {
    if d.is_unit() {
        out.push_str("null");
    } else if d.is_string() {
        if let Ok(s) = d.clone().into_immutable_string() {
            out.push_str(&s);
        }
    } else if let Ok(i) = d.as_int() {
        out.push_str(&i.to_string());
    } else if let Ok(f) = d.as_float() {
        out.push_str(&format_float(f));
    } else if let Ok(b) = d.as_bool() {
        out.push_str(if b { "true" } else { "false" });
    } else if let Ok(c) = d.as_char() {
        out.push(c);
    } else if let Some(items) = as_list(d) {
        out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write_str(out, item);
        }
        out.push(']');
    } else if d.is_map() {
        let map = d.clone().cast::<Map>();
        if super::omap::is_empty(&map) {
            out.push_str("[:]");
            return;
        }
        out.push('[');
        for (i, (k, v)) in super::omap::iter(&map).iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(k);
            out.push(':');
            write_str(out, v);
        }
        out.push(']');
    } else if let Some(e) = cast_to::<GException>(d) {
        out.push_str(&e.render());
    } else if let Some(p) = cast_to::<GPattern>(d) {
        out.push_str(&p.0);
    } else if let Some(o) = cast_to::<super::java::GObject>(d) {
        out.push_str(&super::java::to_text(&o));
    } else if let Some(this) = cast_to::<super::instance::GInstance>(d) {
        out.push_str(&this.default_text());
    } else if as_closure(d).is_some() {
        out.push_str("Closure");
    } else {
        out.push_str(&d.to_string());
    }
}

/// Groovy truth: null, false, 0, "", empty collections are false.
pub(crate) fn truthy(d: &Dynamic) -> bool {
    if d.is_unit() {
        return false;
    }
    if let Ok(b) = d.as_bool() {
        return b;
    }
    if let Ok(i) = d.as_int() {
        return i != 0;
    }
    if let Ok(f) = d.as_float() {
        return f != 0.0;
    }
    if d.is_string() {
        return d
            .clone()
            .into_immutable_string()
            .is_ok_and(|s| !s.is_empty());
    }
    if d.is_array() {
        return d.read_lock::<Array>().is_some_and(|a| !a.is_empty());
    }
    if d.is_map() {
        return d
            .read_lock::<Map>()
            .is_some_and(|m| !super::omap::is_empty(&m));
    }
    if let Some(items) = range_items(d) {
        return !items.is_empty();
    }
    true
}

/// A string argument, or a type error naming what was expected.
pub(crate) fn string_arg(d: &Dynamic, what: &str) -> RtResult<ImmutableString> {
    if d.is_string() {
        return d
            .clone()
            .into_immutable_string()
            .or_else(|_| fail("bad string"));
    }
    if let Ok(c) = d.as_char() {
        return Ok(c.to_string().into());
    }
    fail(format!("{what} expects a string, got {}", kind(d)))
}

/// An integer argument (floats are truncated like Java's `intValue()`).
pub(crate) fn int_arg(d: &Dynamic, what: &str) -> RtResult<i64> {
    if let Ok(i) = d.as_int() {
        return Ok(i);
    }
    if let Ok(f) = d.as_float() {
        return Ok(f as i64);
    }
    fail(format!("{what} expects a number, got {}", kind(d)))
}

/// A user-facing name of a value's type.
pub(crate) fn kind(d: &Dynamic) -> &'static str {
    if d.is_unit() {
        "null"
    } else if d.is_string() || d.is_char() {
        "a string"
    } else if d.is_int() || d.is_float() {
        "a number"
    } else if d.is_bool() {
        "a boolean"
    } else if d.is_array() || range_items(d).is_some() {
        "a list"
    } else if d.is_map() {
        "a map"
    } else if d.is::<GException>() {
        "an exception"
    } else if as_closure(d).is_some() {
        "a closure"
    } else if d.is::<GPattern>() {
        "a pattern"
    } else {
        "an object"
    }
}

/// Converts a script value to a [`Value`]; closures are registered through `closure`.
pub(crate) fn to_value(d: &Dynamic, closure: &mut dyn FnMut(GClosure) -> Value) -> Value {
    let d = d.flatten_clone();
    if d.is_unit() {
        Value::Null
    } else if let Ok(b) = d.as_bool() {
        Value::Bool(b)
    } else if let Ok(i) = d.as_int() {
        Value::Int(i)
    } else if let Ok(f) = d.as_float() {
        Value::Float(f)
    } else if d.is_string() || d.is_char() {
        Value::Str(groovy_str(&d))
    } else if let Some(items) = as_list(&d) {
        Value::List(items.iter().map(|x| to_value(x, closure)).collect())
    } else if d.is_map() {
        let map = d.cast::<Map>();
        Value::Map(
            super::omap::iter(&map)
                .into_iter()
                .map(|(k, v)| (k, to_value(&v, closure)))
                .collect(),
        )
    } else if let Some(c) = as_closure(&d) {
        closure(c)
    } else if let Some(this) = cast_to::<super::instance::GInstance>(&d) {
        Value::Map(
            this.fields()
                .iter()
                .map(|(k, v)| (k.to_string(), to_value(v, closure)))
                .collect(),
        )
    } else {
        Value::Str(groovy_str(&d))
    }
}

/// Converts a plain value to a script value (closures, which only exist inside a
/// running script, become null).
pub(crate) fn from_value(v: &Value) -> Dynamic {
    match v {
        Value::Null | Value::Closure(_) => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Int(i) => Dynamic::from_int(*i),
        Value::Float(f) => Dynamic::from_float(*f),
        Value::Str(s) => Dynamic::from(s.clone()),
        Value::List(items) => Dynamic::from_array(items.iter().map(from_value).collect()),
        Value::Map(entries) => Dynamic::from_map(super::omap::from_pairs(
            entries.iter().map(|(k, v)| (k.clone(), from_value(v))),
        )),
    }
}

/// Converts a value without closures.
pub(crate) fn to_plain_value(d: &Dynamic) -> Value {
    to_value(d, &mut |_| Value::Null)
}
