//! Groovy operators on script values: equality across number types, comparison,
//! arithmetic with string concatenation, membership, ranges.

use super::limits;
use super::types::{
    GClosure, GPattern, RtResult, as_closure, as_list, call_closure, cast_to, fail, groovy_str,
    kind, truthy,
};
use rhai::{Array, Dynamic, Map, NativeCallContext};
use std::cmp::Ordering;

fn number(d: &Dynamic) -> Option<f64> {
    if let Ok(i) = d.as_int() {
        return Some(i as f64);
    }
    d.as_float().ok()
}

fn text(d: &Dynamic) -> Option<String> {
    if d.is_string() || d.is_char() {
        Some(groovy_str(d))
    } else {
        None
    }
}

/// Groovy `==`: numbers compare by value across int and float, lists and maps by content.
pub(crate) fn eq(a: &Dynamic, b: &Dynamic) -> bool {
    let (a, b) = (a.flatten_clone(), b.flatten_clone());
    if a.is_unit() || b.is_unit() {
        return a.is_unit() && b.is_unit();
    }
    if let (Ok(x), Ok(y)) = (a.as_int(), b.as_int()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (number(&a), number(&b)) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (text(&a), text(&b)) {
        return x == y;
    }
    if let (Ok(x), Ok(y)) = (a.as_bool(), b.as_bool()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (as_list(&a), as_list(&b)) {
        return x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| eq(p, q));
    }
    if a.is_map() && b.is_map() {
        let (x, y) = (a.cast::<Map>(), b.cast::<Map>());
        return super::omap::same_entries(&x, &y, eq);
    }
    if let (Some(x), Some(y)) = (
        cast_to::<super::types::GException>(&a),
        cast_to::<super::types::GException>(&b),
    ) {
        return x == y;
    }
    // Objects of the script's classes (an enum's constants among them) are the same object.
    if let (Some(x), Some(y)) = (
        cast_to::<super::instance::GInstance>(&a),
        cast_to::<super::instance::GInstance>(&b),
    ) {
        return x == y;
    }
    false
}

/// Groovy `<=>`: numbers, strings, booleans; null sorts first.
pub(crate) fn compare(a: &Dynamic, b: &Dynamic) -> RtResult<Ordering> {
    let (a, b) = (a.flatten_clone(), b.flatten_clone());
    match (a.is_unit(), b.is_unit()) {
        (true, true) => return Ok(Ordering::Equal),
        (true, false) => return Ok(Ordering::Less),
        (false, true) => return Ok(Ordering::Greater),
        _ => {}
    }
    if let (Ok(x), Ok(y)) = (a.as_int(), b.as_int()) {
        return Ok(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (number(&a), number(&b)) {
        return Ok(x.partial_cmp(&y).unwrap_or(Ordering::Equal));
    }
    if let (Some(x), Some(y)) = (text(&a), text(&b)) {
        return Ok(x.cmp(&y));
    }
    if let (Ok(x), Ok(y)) = (a.as_bool(), b.as_bool()) {
        return Ok(x.cmp(&y));
    }
    fail(format!("cannot compare {} with {}", kind(&a), kind(&b)))
}

fn overflow<T>() -> RtResult<T> {
    fail("integer overflow")
}

/// Groovy `+`: numbers, string concatenation when either side is a string, list
/// concatenation or append, map merge.
pub(crate) fn add(a: Dynamic, b: Dynamic) -> RtResult<Dynamic> {
    let (a, b) = (a.flatten(), b.flatten());
    if a.is_string() || a.is_char() || b.is_string() || b.is_char() {
        if a.is_unit() {
            return fail("cannot add a string to null");
        }
        let mut s = groovy_str(&a);
        s.push_str(&groovy_str(&b));
        return Ok(s.into());
    }
    if let (Ok(x), Ok(y)) = (a.as_int(), b.as_int()) {
        return x
            .checked_add(y)
            .map(Dynamic::from_int)
            .map_or_else(overflow, Ok);
    }
    if let (Some(x), Some(y)) = (number(&a), number(&b)) {
        return Ok(Dynamic::from_float(x + y));
    }
    if let Some(mut items) = as_list(&a) {
        match as_list(&b) {
            Some(more) => items.extend(more),
            None => items.push(b),
        }
        return Ok(Dynamic::from_array(items));
    }
    if a.is_map() && b.is_map() {
        let mut m = a.cast::<Map>();
        super::omap::extend(&mut m, &b.cast::<Map>());
        return Ok(Dynamic::from_map(m));
    }
    fail(format!("cannot add {} and {}", kind(&a), kind(&b)))
}

/// Groovy `-`: numbers, list difference, removal of a substring.
pub(crate) fn sub(a: Dynamic, b: Dynamic) -> RtResult<Dynamic> {
    let (a, b) = (a.flatten(), b.flatten());
    if let (Ok(x), Ok(y)) = (a.as_int(), b.as_int()) {
        return x
            .checked_sub(y)
            .map(Dynamic::from_int)
            .map_or_else(overflow, Ok);
    }
    if let (Some(x), Some(y)) = (number(&a), number(&b)) {
        return Ok(Dynamic::from_float(x - y));
    }
    if let Some(items) = as_list(&a) {
        let remove = as_list(&b).unwrap_or_else(|| vec![b.clone()]);
        let kept: Array = items
            .into_iter()
            .filter(|x| !remove.iter().any(|r| eq(x, r)))
            .collect();
        return Ok(Dynamic::from_array(kept));
    }
    if let (Some(x), Some(y)) = (text(&a), text(&b)) {
        return Ok(x.replacen(&y, "", 1).into());
    }
    fail(format!("cannot subtract {} from {}", kind(&b), kind(&a)))
}

/// Groovy `*`: numbers, repeated strings and lists; the size of a repeat is checked
/// against the script limits before anything is allocated.
pub(crate) fn mul(ctx: &NativeCallContext, a: Dynamic, b: Dynamic) -> RtResult<Dynamic> {
    let (a, b) = (a.flatten(), b.flatten());
    if let (Ok(x), Ok(y)) = (a.as_int(), b.as_int()) {
        return x
            .checked_mul(y)
            .map(Dynamic::from_int)
            .map_or_else(overflow, Ok);
    }
    if let (Some(x), Some(y)) = (number(&a), number(&b)) {
        return Ok(Dynamic::from_float(x * y));
    }
    if let (Some(s), Ok(n)) = (text(&a), b.as_int()) {
        return repeat_string(ctx, &s, n).map(Dynamic::from);
    }
    if let (Some(items), Ok(n)) = (as_list(&a), b.as_int()) {
        let n = limits::count(n);
        limits::list_len(ctx, "`*` on a list", items.len().checked_mul(n))?;
        let mut out = Array::with_capacity(items.len() * n);
        for _ in 0..n {
            out.extend(items.iter().cloned());
        }
        return Ok(Dynamic::from_array(out));
    }
    fail(format!("cannot multiply {} by {}", kind(&a), kind(&b)))
}

/// `s * n` and `s.multiply(n)`, checked against the string limit first.
pub(crate) fn repeat_string(ctx: &NativeCallContext, s: &str, n: i64) -> RtResult<String> {
    let n = limits::count(n);
    limits::string_len(ctx, "`*` on a string", s.len().checked_mul(n))?;
    Ok(s.repeat(n))
}

/// Groovy `/`: integer division that does not divide evenly gives a decimal, as Groovy's
/// BigDecimal result prints.
pub(crate) fn div(a: Dynamic, b: Dynamic) -> RtResult<Dynamic> {
    let (a, b) = (a.flatten(), b.flatten());
    if let (Ok(x), Ok(y)) = (a.as_int(), b.as_int()) {
        if y == 0 {
            return fail("division by zero");
        }
        if x % y == 0 {
            return Ok(Dynamic::from_int(x / y));
        }
        return Ok(Dynamic::from_float(x as f64 / y as f64));
    }
    if let (Some(x), Some(y)) = (number(&a), number(&b)) {
        return Ok(Dynamic::from_float(x / y));
    }
    fail(format!("cannot divide {} by {}", kind(&a), kind(&b)))
}

/// Groovy `%`.
pub(crate) fn rem(a: Dynamic, b: Dynamic) -> RtResult<Dynamic> {
    let (a, b) = (a.flatten(), b.flatten());
    if let (Ok(x), Ok(y)) = (a.as_int(), b.as_int()) {
        if y == 0 {
            return fail("division by zero");
        }
        return Ok(Dynamic::from_int(x % y));
    }
    if let (Some(x), Some(y)) = (number(&a), number(&b)) {
        return Ok(Dynamic::from_float(x % y));
    }
    fail(format!("cannot take {} modulo {}", kind(&a), kind(&b)))
}

/// Groovy `**`.
pub(crate) fn pow(a: Dynamic, b: Dynamic) -> RtResult<Dynamic> {
    let (a, b) = (a.flatten(), b.flatten());
    if let (Ok(x), Ok(y)) = (a.as_int(), b.as_int()) {
        if let Ok(y) = u32::try_from(y) {
            return x
                .checked_pow(y)
                .map(Dynamic::from_int)
                .map_or_else(overflow, Ok);
        }
    }
    if let (Some(x), Some(y)) = (number(&a), number(&b)) {
        return Ok(Dynamic::from_float(x.powf(y)));
    }
    fail(format!("cannot raise {} to {}", kind(&a), kind(&b)))
}

/// Unary minus.
pub(crate) fn neg(a: Dynamic) -> RtResult<Dynamic> {
    let a = a.flatten();
    if let Ok(x) = a.as_int() {
        return x
            .checked_neg()
            .map(Dynamic::from_int)
            .map_or_else(overflow, Ok);
    }
    if let Ok(x) = a.as_float() {
        return Ok(Dynamic::from_float(-x));
    }
    fail(format!("cannot negate {}", kind(&a)))
}

/// Groovy `in` / `contains`: list membership, map key, substring, range.
pub(crate) fn contains(container: &Dynamic, item: &Dynamic) -> RtResult<bool> {
    let container = container.flatten_clone();
    if let Some(items) = as_list(&container) {
        return Ok(items.iter().any(|x| eq(x, item)));
    }
    if container.is_map() {
        let key = groovy_str(item);
        return Ok(super::omap::contains(&container.cast::<Map>(), &key));
    }
    if let Some(s) = text(&container) {
        return Ok(s.contains(&groovy_str(item)));
    }
    if container.is_unit() {
        return Ok(false);
    }
    fail(format!("cannot look for a value in {}", kind(&container)))
}

/// A range `from..to` (inclusive) or `from..<to`; descending ranges count down. A range
/// longer than the list limit is refused where it is written: iterating it could not
/// finish within the operations limit, and turning it into a list would exceed the limit.
pub(crate) fn range(
    ctx: &NativeCallContext,
    from: Dynamic,
    to: Dynamic,
    inclusive: bool,
) -> RtResult<Dynamic> {
    let (Ok(a), Ok(b)) = (from.as_int(), to.as_int()) else {
        return fail("ranges need integer bounds");
    };
    let span = i128::from(a.max(b)) - i128::from(a.min(b)) + i128::from(inclusive);
    limits::list_len(ctx, "the range", usize::try_from(span).ok())?;
    if a <= b {
        return Ok(if inclusive {
            Dynamic::from(a..=b)
        } else {
            Dynamic::from(a..b)
        });
    }
    let end = if inclusive { b } else { b + 1 };
    Ok(Dynamic::from_array(
        (end..=a).rev().map(Dynamic::from_int).collect(),
    ))
}

/// Whether a `case` value matches the switch subject: equality, membership in a list or
/// range, a regex pattern, a closure returning true.
pub(crate) fn case_matches(
    ctx: &NativeCallContext,
    subject: &Dynamic,
    case: &Dynamic,
) -> RtResult<bool> {
    if let Some(p) = cast_to::<GPattern>(case) {
        return super::regex::full_match(&groovy_str(subject), &p.0);
    }
    if let Some(c) = as_closure(case) {
        let c: GClosure = c;
        return Ok(truthy(&call_closure(ctx, &c, vec![subject.clone()])?));
    }
    if let Some(items) = as_list(case) {
        return Ok(items.iter().any(|x| eq(x, subject)));
    }
    Ok(eq(subject, case))
}

/// What `for (x in value)` iterates: lists and ranges as they are, map entries as
/// `key`/`value` maps, string characters, a single value once.
pub(crate) fn iterate(v: Dynamic) -> Dynamic {
    let v = v.flatten();
    if v.is_array() || super::types::range_items(&v).is_some() {
        return v;
    }
    if v.is_map() {
        return Dynamic::from_array(super::methods::entries(&v.cast::<Map>()));
    }
    if v.is_string() {
        return Dynamic::from_array(
            groovy_str(&v)
                .chars()
                .map(|c| Dynamic::from(c.to_string()))
                .collect(),
        );
    }
    if v.is_unit() {
        return Dynamic::from_array(Array::new());
    }
    Dynamic::from_array(vec![v])
}
