//! Groovy's methods on strings, lists, maps, numbers and exceptions (the GDK subset
//! pipelines use), dispatched by receiver type and method name.
//!
//! Every method call in a translated script goes through [`call_method`]: the receiver by
//! reference (so `list.add(x)` and `map.put(k, v)` change the variable), the method name,
//! and the arguments in an array, closures as [`GClosure`]s.

mod list;
mod map;
mod string;

use super::ops;
use super::types::{
    GClosure, GException, RtResult, as_closure, as_list, call_closure, cast_to, fail, groovy_str,
    kind, range_items, string_arg, truthy,
};
use rhai::{Array, Dynamic, Map, NativeCallContext};

pub(crate) use map::entries;
pub(crate) use string::{parse_float, parse_int};

/// The arguments of one method call, with accessors that report type errors by name.
pub(crate) struct Args<'a> {
    pub name: &'a str,
    pub items: Array,
}

impl Args<'_> {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn get(&self, i: usize) -> Dynamic {
        self.items.get(i).cloned().unwrap_or(Dynamic::UNIT)
    }

    pub fn str(&self, i: usize) -> RtResult<String> {
        let arg = self.items.get(i).unwrap_or(&Dynamic::UNIT);
        if let Ok(s) = arg.as_immutable_string_ref() {
            return Ok(s.to_string());
        }
        Ok(string_arg(arg, &format!("`{}()`", self.name))?.to_string())
    }

    pub fn int(&self, i: usize) -> RtResult<i64> {
        super::types::int_arg(&self.get(i), &format!("`{}()`", self.name))
    }

    pub fn closure(&self, i: usize) -> RtResult<GClosure> {
        match as_closure(&self.get(i)) {
            Some(c) => Ok(c),
            None => fail(format!("`{}()` expects a closure", self.name)),
        }
    }

    /// The last argument when it is a closure.
    pub fn trailing_closure(&self) -> Option<GClosure> {
        self.items.last().and_then(as_closure)
    }
}

/// Runs `f` on a copy of a shared value and writes the copy back, so that the shared cell
/// is not locked while closures passed to a method run (they may read the same variable).
pub(crate) fn on_copy<T>(shared: &mut Dynamic, f: impl FnOnce(&mut Dynamic) -> T) -> T {
    let mut inner = shared.flatten_clone();
    let out = f(&mut inner);
    if let Some(mut cell) = shared.write_lock::<Dynamic>() {
        *cell = inner;
    }
    out
}

/// Calls `name` on `target` with `args`.
pub(crate) fn call_method(
    ctx: &NativeCallContext,
    target: &mut Dynamic,
    name: &str,
    args: Array,
) -> RtResult<Dynamic> {
    if target.is_shared() {
        return on_copy(target, |inner| call_method(ctx, inner, name, args));
    }
    if let Some(class) = cast_to::<super::instance::GClassRef>(target) {
        return super::instance::call_static(ctx, &class, name, &args);
    }
    if let Some(loaded) = cast_to::<super::loaded::GLoaded>(target) {
        if let Some(v) = super::loaded::call(ctx, &loaded, name, &args)? {
            return Ok(v);
        }
        return fail(format!(
            "`{}` has no function `{name}` taking {} argument(s)",
            loaded.path,
            args.len()
        ));
    }
    if let Some(this) = cast_to::<super::instance::GInstance>(target) {
        if let Some(v) = super::instance::call(ctx, &this, name, &args)? {
            return Ok(v);
        }
        if name == "toString" && args.is_empty() {
            return Ok(this.default_text().into());
        }
    }
    if super::docker::DOCKER.marks(target) {
        return super::docker::call(ctx, target, name, args);
    }
    if super::artifactory::ARTIFACTORY.marks(target) {
        let step = super::artifactory::ARTIFACTORY_STEP;
        return super::docker::host_object_call(ctx, target, name, args, step);
    }
    let count = args.len();
    let found = dispatch(ctx, target, name, args)?;
    match found {
        Some(v) => Ok(v),
        None if target.is_unit() => fail(format!("cannot invoke method `{name}()` on null object")),
        None => fail(format!(
            "no method `{name}()` with {count} argument(s) on {}",
            kind(target)
        )),
    }
}

/// Groovy's methods of plain values (strings, lists, maps, numbers, exceptions, Java
/// objects, closures): `None` when `target` has no method `name` taking these arguments.
pub(crate) fn dispatch(
    ctx: &NativeCallContext,
    target: &mut Dynamic,
    name: &str,
    args: Array,
) -> RtResult<Option<Dynamic>> {
    let args = Args { name, items: args };
    if let Some(v) = common(ctx, target, &args)? {
        return Ok(Some(v));
    }
    Ok(if target.is_string() || target.is_char() {
        string::call(ctx, &groovy_str(target), &args)?
    } else if target.is_array() {
        let mut items = std::mem::take(target).into_array().unwrap_or_default();
        let out = list::call(ctx, &mut items, &args);
        *target = Dynamic::from_array(items);
        out?
    } else if let Some(mut items) = range_items(target) {
        list::call(ctx, &mut items, &args)?
    } else if target.is_map() {
        let mut m = std::mem::take(target).try_cast::<Map>().unwrap_or_default();
        let out = map::call(ctx, &mut m, &args);
        *target = Dynamic::from_map(m);
        out?
    } else if target.is_int() || target.is_float() {
        number(ctx, target, &args)?
    } else if let Some(e) = cast_to::<GException>(target) {
        exception(&e, &args)
    } else if let Some(o) = cast_to::<super::java::GObject>(target) {
        super::java::call(ctx, &o, name, &args.items)?
    } else if let Some(c) = as_closure(target) {
        closure(ctx, &c, &args)?
    } else {
        None
    })
}

/// Methods every value has.
fn common(ctx: &NativeCallContext, target: &Dynamic, args: &Args) -> RtResult<Option<Dynamic>> {
    Ok(Some(match (args.name, args.len()) {
        ("toString", 0) => groovy_str(target).into(),
        ("equals", 1) => ops::eq(target, &args.get(0)).into(),
        ("asBoolean", 0) => truthy(target).into(),
        ("compareTo", 1) => {
            let ord = ops::compare(target, &args.get(0))?;
            Dynamic::from_int(ord as i64)
        }
        ("is", 1) => ops::eq(target, &args.get(0)).into(),
        ("isCase", 1) => ops::case_matches(ctx, &args.get(0), target)?.into(),
        ("with", 1) => {
            let c = args.closure(0)?;
            call_closure(ctx, &c, vec![target.clone()])?
        }
        ("tap", 1) => {
            let c = args.closure(0)?;
            let _ = call_closure(ctx, &c, vec![target.clone()])?;
            target.clone()
        }
        ("getClass", 0) => fail("`getClass()` is not supported in kiln scripts")?,
        _ => return Ok(None),
    }))
}

fn number(ctx: &NativeCallContext, target: &Dynamic, args: &Args) -> RtResult<Option<Dynamic>> {
    let int = target.as_int().ok();
    let float = target.as_float().ok().or(int.map(|i| i as f64));
    let Some(x) = float else { return Ok(None) };
    Ok(Some(match (args.name, args.len()) {
        ("toInteger" | "intValue" | "toLong" | "longValue" | "asType", 0) => {
            Dynamic::from_int(int.unwrap_or(x as i64))
        }
        ("toDouble" | "doubleValue" | "toFloat" | "floatValue" | "toBigDecimal", 0) => {
            Dynamic::from_float(x)
        }
        ("abs", 0) => match int {
            Some(i) => Dynamic::from_int(i.abs()),
            None => Dynamic::from_float(x.abs()),
        },
        ("round", 0) => Dynamic::from_int(x.round() as i64),
        ("intdiv", 1) => {
            let d = args.int(0)?;
            if d == 0 {
                return fail("division by zero");
            }
            Dynamic::from_int(int.unwrap_or(x as i64) / d)
        }
        ("plus", 1) => ops::add(target.clone(), args.get(0))?,
        ("minus", 1) => ops::sub(target.clone(), args.get(0))?,
        ("multiply", 1) => ops::mul(ctx, target.clone(), args.get(0))?,
        ("div", 1) => ops::div(target.clone(), args.get(0))?,
        ("mod", 1) => ops::rem(target.clone(), args.get(0))?,
        ("power", 1) => ops::pow(target.clone(), args.get(0))?,
        ("times", 1) => {
            let c = args.closure(0)?;
            for i in 0..int.unwrap_or(0) {
                let _ = call_closure(ctx, &c, vec![Dynamic::from_int(i)])?;
            }
            Dynamic::UNIT
        }
        ("upto" | "downto", 2) => {
            let (from, to, c) = (int.unwrap_or(x as i64), args.int(0)?, args.closure(1)?);
            let steps: Vec<i64> = if args.name == "upto" {
                (from..=to).collect()
            } else {
                (to..=from).rev().collect()
            };
            for i in steps {
                let _ = call_closure(ctx, &c, vec![Dynamic::from_int(i)])?;
            }
            Dynamic::UNIT
        }
        _ => return Ok(None),
    }))
}

fn exception(e: &GException, args: &Args) -> Option<Dynamic> {
    Some(match (args.name, args.len()) {
        ("getMessage" | "getLocalizedMessage", 0) => e.message.clone().into(),
        ("getCause", 0) => Dynamic::UNIT,
        ("printStackTrace", 0) => Dynamic::UNIT,
        ("getStackTrace", 0) => Dynamic::from_array(Array::new()),
        _ => return None,
    })
}

fn closure(ctx: &NativeCallContext, c: &GClosure, args: &Args) -> RtResult<Option<Dynamic>> {
    Ok(Some(match args.name {
        "call" => call_closure(ctx, c, args.items.clone())?,
        _ => return Ok(None),
    }))
}

/// Groovy property access `target.name` on a value that is not a pipeline global.
pub(crate) fn property(target: &Dynamic, name: &str) -> RtResult<Dynamic> {
    let target = target.flatten_clone();
    if target.is_map() {
        let m = target.cast::<Map>();
        return Ok(super::omap::get(&m, name).cloned().unwrap_or(Dynamic::UNIT));
    }
    if let Some(o) = cast_to::<super::java::GObject>(&target) {
        return super::java::property(&o, name);
    }
    if let Some(this) = cast_to::<super::instance::GInstance>(&target) {
        return match this.get(name) {
            Some(v) => Ok(v),
            None => this.no_property(name),
        };
    }
    if let Some(e) = cast_to::<GException>(&target) {
        return match name {
            "message" | "localizedMessage" => Ok(e.message.into()),
            "cause" => Ok(Dynamic::UNIT),
            _ => fail(format!("no property `{name}` on an exception")),
        };
    }
    if let Some(items) = as_list(&target) {
        // Groovy spreads a property over a list: `[[a: 1], [a: 2]].a` is `[1, 2]`.
        return match name {
            "size" => Ok(Dynamic::from_int(items.len() as i64)),
            "empty" => Ok(items.is_empty().into()),
            _ => items
                .iter()
                .map(|x| property(x, name))
                .collect::<RtResult<Array>>()
                .map(Dynamic::from_array),
        };
    }
    if target.is_unit() {
        return fail(format!("cannot get property `{name}` on null object"));
    }
    if target.is_string() && matches!(name, "empty" | "length") {
        let s = groovy_str(&target);
        return Ok(if name == "empty" {
            s.is_empty().into()
        } else {
            Dynamic::from_int(s.chars().count() as i64)
        });
    }
    fail(format!("no property `{name}` on {}", kind(&target)))
}

/// Groovy indexing `target[index]` for reading: negative indexes count from the end,
/// out-of-range indexes give null, ranges give slices.
pub(crate) fn index(target: &Dynamic, index: &Dynamic) -> RtResult<Dynamic> {
    let target = target.flatten_clone();
    let index = index.flatten_clone();
    if target.is_map() {
        let key = groovy_str(&index);
        return Ok(super::omap::get(&target.cast::<Map>(), &key)
            .cloned()
            .unwrap_or(Dynamic::UNIT));
    }
    if target.is_unit() {
        return fail("cannot index a null object");
    }
    let (items, is_string): (Array, bool) = if let Some(items) = as_list(&target) {
        (items, false)
    } else if target.is_string() {
        let chars = groovy_str(&target)
            .chars()
            .map(|c| Dynamic::from(c.to_string()))
            .collect();
        (chars, true)
    } else {
        return fail(format!("cannot index {}", kind(&target)));
    };
    let len = items.len() as i64;
    let norm = |i: i64| if i < 0 { i + len } else { i };
    if let Some(range) = as_list(&index) {
        let mut out = Array::new();
        for i in range {
            let i = norm(i.as_int().unwrap_or(0));
            match usize::try_from(i).ok().and_then(|i| items.get(i)) {
                Some(x) => out.push(x.clone()),
                None => return fail(format!("index {i} out of range for size {len}")),
            }
        }
        if is_string {
            return Ok(out.iter().map(groovy_str).collect::<String>().into());
        }
        return Ok(Dynamic::from_array(out));
    }
    let Ok(i) = index.as_int() else {
        return fail(format!("cannot index a list with {}", kind(&index)));
    };
    let got = usize::try_from(norm(i)).ok().and_then(|i| items.get(i));
    match got {
        Some(x) => Ok(x.clone()),
        None if is_string => fail(format!("string index {i} out of range")),
        None => Ok(Dynamic::UNIT),
    }
}
