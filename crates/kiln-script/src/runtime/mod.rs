//! The Groovy runtime: the helper functions translated scripts call, registered once into
//! a shared Rhai module. Helpers that need a build's state (globals, steps) live in
//! [`crate::run`] and are registered per evaluation.

pub(crate) mod artifactory;
pub(crate) mod delegate;
pub(crate) mod docker;
pub(crate) mod file;
pub(crate) mod format;
pub(crate) mod instance;
pub(crate) mod java;
pub(crate) mod json;
pub(crate) mod limits;
pub(crate) mod loaded;
pub(crate) mod methods;
pub(crate) mod omap;
pub(crate) mod ops;
pub(crate) mod plugin_globals;
pub(crate) mod regex;
pub(crate) mod types;
pub(crate) mod url;

use rhai::{
    Array, Dynamic, FnPtr, FuncRegistration, ImmutableString, Map, Module, NativeCallContext,
    Shared,
};
use types::{
    GClosure, GException, GPattern, RtResult, as_closure, as_list, call_closure, fail, groovy_str,
    kind, throw, truthy,
};

/// Registers a helper in a module; no helper is pure (closures may run anything).
macro_rules! reg {
    ($m:expr, $name:expr, $f:expr) => {
        FuncRegistration::new($name)
            .in_global_namespace()
            .with_purity(false)
            .with_volatility(true)
            .set_into_module($m, $f);
    };
}

fn pattern_text(p: &Dynamic) -> RtResult<String> {
    if let Some(p) = p.clone().try_cast::<GPattern>() {
        return Ok(p.0);
    }
    Ok(types::string_arg(p, "a regex")?.to_string())
}

/// The module with every Groovy helper.
pub(crate) fn module() -> Shared<Module> {
    let mut m = Module::new();
    m.set_custom_type::<GClosure>("Closure");
    m.set_custom_type::<GException>("Exception");
    m.set_custom_type::<GPattern>("Pattern");
    m.set_custom_type::<java::GObject>("Object");
    m.set_custom_type::<loaded::GLoaded>("Script");
    reg!(&mut m, "__kiln_script_this", || Dynamic::from(
        loaded::GScriptThis
    ));
    instance::register(&mut m);
    values(&mut m);
    operators(&mut m);
    access(&mut m);
    delegates(&mut m);
    exceptions(&mut m);
    m.into()
}

fn values(m: &mut Module) {
    reg!(m, "__kiln_str", |ctx: NativeCallContext,
                           d: Dynamic|
     -> RtResult<ImmutableString> {
        match d.clone().try_cast::<instance::GInstance>() {
            Some(this) => Ok(instance::text(&ctx, &this)?.into()),
            None => Ok(groovy_str(&d).into()),
        }
    });
    reg!(m, "__kiln_truthy", |d: Dynamic| truthy(&d));
    reg!(m, "__kiln_closure", |f: FnPtr, arity: i64| GClosure {
        f,
        arity: usize::try_from(arity).unwrap_or(0),
    });
    reg!(m, "__kiln_call_closure", |ctx: NativeCallContext,
                                    c: Dynamic,
                                    args: Array|
     -> RtResult<Dynamic> {
        match as_closure(&c) {
            Some(c) => call_closure(&ctx, &c, args),
            None => fail(format!("cannot call {} as a closure", kind(&c))),
        }
    });
    reg!(
        m,
        "__kiln_range",
        |ctx: NativeCallContext, a: Dynamic, b: Dynamic, inclusive: bool| {
            ops::range(&ctx, a, b, inclusive)
        }
    );
    reg!(m, "__kiln_iter", |d: Dynamic| ops::iterate(d));
    reg!(m, "__kiln_case", |ctx: NativeCallContext,
                            s: Dynamic,
                            c: Dynamic| {
        ops::case_matches(&ctx, &s, &c)
    });
    reg!(m, "__kiln_cast", |d: Dynamic, ty: ImmutableString| cast(
        d, &ty
    ));
    reg!(m, "__kiln_instanceof", |d: Dynamic, ty: ImmutableString| {
        instance_of(&d, &ty)
    });
    reg!(
        m,
        "__kiln_static",
        |ctx: NativeCallContext, name: ImmutableString, args: Array| {
            match java::static_call(&ctx, &name, &args) {
                Some(result) => result,
                None => static_call(&name, args),
            }
        }
    );
    reg!(
        m,
        "__kiln_new_object",
        |class: ImmutableString, args: Array| { java::new_object(&class, &args) }
    );
}

fn operators(m: &mut Module) {
    reg!(m, "__kiln_eq", |a: Dynamic, b: Dynamic| ops::eq(&a, &b));
    reg!(m, "__kiln_cmp", |a: Dynamic, b: Dynamic| -> RtResult<i64> {
        Ok(ops::compare(&a, &b)? as i64)
    });
    reg!(m, "__kiln_lt", |a: Dynamic, b: Dynamic| -> RtResult<bool> {
        Ok(ops::compare(&a, &b)?.is_lt())
    });
    reg!(m, "__kiln_le", |a: Dynamic, b: Dynamic| -> RtResult<bool> {
        Ok(ops::compare(&a, &b)?.is_le())
    });
    reg!(m, "__kiln_gt", |a: Dynamic, b: Dynamic| -> RtResult<bool> {
        Ok(ops::compare(&a, &b)?.is_gt())
    });
    reg!(m, "__kiln_ge", |a: Dynamic, b: Dynamic| -> RtResult<bool> {
        Ok(ops::compare(&a, &b)?.is_ge())
    });
    reg!(m, "__kiln_add", ops::add);
    reg!(m, "__kiln_sub", ops::sub);
    reg!(m, "__kiln_mul", |ctx: NativeCallContext,
                           a: Dynamic,
                           b: Dynamic| {
        ops::mul(&ctx, a, b)
    });
    reg!(m, "__kiln_div", ops::div);
    reg!(m, "__kiln_rem", ops::rem);
    reg!(m, "__kiln_pow", ops::pow);
    reg!(m, "__kiln_neg", ops::neg);
    reg!(m, "__kiln_in", |container: Dynamic, item: Dynamic| {
        ops::contains(&container, &item)
    });
    reg!(m, "__kiln_find", |s: Dynamic,
                            p: Dynamic|
     -> RtResult<Dynamic> {
        regex::find_all(&groovy_str(&s), &pattern_text(&p)?)
    });
    reg!(m, "__kiln_match", |s: Dynamic,
                             p: Dynamic|
     -> RtResult<bool> {
        regex::full_match(&groovy_str(&s), &pattern_text(&p)?)
    });
    reg!(m, "__kiln_bitnot", |d: Dynamic| -> RtResult<Dynamic> {
        if d.is_string() {
            return Ok(Dynamic::from(GPattern(groovy_str(&d))));
        }
        match d.as_int() {
            Ok(i) => Ok(Dynamic::from_int(!i)),
            Err(_) => fail(format!("cannot apply `~` to {}", kind(&d))),
        }
    });
    reg!(m, "__kiln_shl", |ctx: NativeCallContext,
                           a: Dynamic,
                           b: Dynamic|
     -> RtResult<Dynamic> {
        if let (Ok(x), Ok(y)) = (a.as_int(), b.as_int()) {
            return Ok(Dynamic::from_int(
                x.wrapping_shl(u32::try_from(y).unwrap_or(0)),
            ));
        }
        let mut a = a;
        methods::call_method(&ctx, &mut a, "leftShift", vec![b])
    });
    reg!(m, "__kiln_shr", |a: i64, b: i64| a
        .wrapping_shr(u32::try_from(b).unwrap_or(0)));
    reg!(m, "__kiln_bitand", |a: Dynamic, b: Dynamic| bits(
        a,
        b,
        |x, y| x & y,
        |x, y| x & y
    ));
    reg!(m, "__kiln_bitor", |a: Dynamic, b: Dynamic| bits(
        a,
        b,
        |x, y| x | y,
        |x, y| x | y
    ));
    reg!(m, "__kiln_bitxor", |a: Dynamic, b: Dynamic| bits(
        a,
        b,
        |x, y| x ^ y,
        |x, y| x ^ y
    ));
}

fn bits(
    a: Dynamic,
    b: Dynamic,
    int: impl Fn(i64, i64) -> i64,
    boolean: impl Fn(bool, bool) -> bool,
) -> RtResult<Dynamic> {
    if let (Ok(x), Ok(y)) = (a.as_int(), b.as_int()) {
        return Ok(Dynamic::from_int(int(x, y)));
    }
    if let (Ok(x), Ok(y)) = (a.as_bool(), b.as_bool()) {
        return Ok(Dynamic::from_bool(boolean(x, y)));
    }
    fail(format!(
        "cannot combine {} and {} bitwise",
        kind(&a),
        kind(&b)
    ))
}

/// A property; those of a `File` read through steps.
fn property(ctx: &NativeCallContext, t: &Dynamic, name: &str) -> RtResult<Dynamic> {
    if let Some(java::GObject::File(path)) = t.clone().try_cast::<java::GObject>() {
        if let Some(v) = file::property(ctx, &path, name)? {
            return Ok(v);
        }
    }
    methods::property(t, name)
}

fn access(m: &mut Module) {
    reg!(
        m,
        "__kiln_prop",
        |ctx: NativeCallContext, t: Dynamic, name: ImmutableString| { property(&ctx, &t, &name) }
    );
    reg!(m, "__kiln_sprop", |ctx: NativeCallContext,
                             t: Dynamic,
                             name: ImmutableString|
     -> RtResult<Dynamic> {
        if t.is_unit() {
            return Ok(Dynamic::UNIT);
        }
        property(&ctx, &t, &name)
    });
    reg!(m, "__kiln_spread", |t: Dynamic,
                              name: ImmutableString|
     -> RtResult<Dynamic> {
        let Some(items) = as_list(&t) else {
            return if t.is_unit() {
                Ok(Dynamic::UNIT)
            } else {
                fail("`*.` needs a list")
            };
        };
        let out = items
            .iter()
            .map(|x| {
                if x.is_unit() {
                    Ok(Dynamic::UNIT)
                } else {
                    methods::property(x, &name)
                }
            })
            .collect::<RtResult<Array>>()?;
        Ok(Dynamic::from_array(out))
    });
    reg!(m, "__kiln_index", |t: Dynamic, i: Dynamic| methods::index(
        &t, &i
    ));
    reg!(m, "__kiln_m", |ctx: NativeCallContext,
                         t: Dynamic,
                         name: ImmutableString,
                         args: Array| {
        let mut t = t;
        methods::call_method(&ctx, &mut t, &name, args)
    });
    reg!(m, "__kiln_mm", |ctx: NativeCallContext,
                          t: &mut Dynamic,
                          name: ImmutableString,
                          args: Array| {
        mutate(&ctx, t, &name, args)
    });
    reg!(
        m,
        "__kiln_safe_m",
        |ctx: NativeCallContext, t: Dynamic, name: ImmutableString, args: Array| {
            if t.is_unit() {
                return Ok(Dynamic::UNIT);
            }
            let mut t = t;
            methods::call_method(&ctx, &mut t, &name, args)
        }
    );
    reg!(m, "__kiln_spread_m", |ctx: NativeCallContext,
                                t: Dynamic,
                                name: ImmutableString,
                                args: Array|
     -> RtResult<Dynamic> {
        let Some(items) = as_list(&t) else {
            return if t.is_unit() {
                Ok(Dynamic::UNIT)
            } else {
                fail("`*.` needs a list")
            };
        };
        let mut out = Array::with_capacity(items.len());
        for mut x in items {
            out.push(if x.is_unit() {
                Dynamic::UNIT
            } else {
                methods::call_method(&ctx, &mut x, &name, args.clone())?
            });
        }
        Ok(Dynamic::from_array(out))
    });
}

/// The lookups of a `with`/`tap` closure on its receiver (see [`delegate`]).
fn delegates(m: &mut Module) {
    m.set_custom_type::<delegate::NoMethod>("NoMethod");
    reg!(m, "__kiln_dhas", |d: Dynamic, name: ImmutableString| {
        delegate::has(&d, &name)
    });
    reg!(
        m,
        "__kiln_dsettable",
        |d: Dynamic, name: ImmutableString| { delegate::settable(&d, &name) }
    );
    reg!(m, "__kiln_dtry", |ctx: NativeCallContext,
                            d: &mut Dynamic,
                            name: ImmutableString,
                            args: Array| {
        delegate::try_call(&ctx, d, &name, args)
    });
    reg!(m, "__kiln_dmissing", |r: Dynamic| r
        .is::<delegate::NoMethod>());
}

/// Mutating methods plus `putAt`, the assignment `target[key] = value`.
pub(crate) fn mutate(
    ctx: &NativeCallContext,
    t: &mut Dynamic,
    name: &str,
    args: Array,
) -> RtResult<Dynamic> {
    if name != "putAt" {
        return methods::call_method(ctx, t, name, args);
    }
    let (key, value) = match <[Dynamic; 2]>::try_from(args) {
        Ok([k, v]) => (k, v),
        Err(_) => return fail("putAt expects a key and a value"),
    };
    if t.is_shared() {
        let mut inner = t.flatten_clone();
        let out = mutate(ctx, &mut inner, name, vec![key, value]);
        if let Some(mut cell) = t.write_lock::<Dynamic>() {
            *cell = inner;
        }
        return out;
    }
    if let Some(this) = t.clone().try_cast::<instance::GInstance>() {
        return this.set(&groovy_str(&key), value);
    }
    if t.is_map() {
        if let Some(mut map) = t.write_lock::<Map>() {
            omap::insert(&mut map, &groovy_str(&key), value.clone());
        }
        return Ok(value);
    }
    if t.is_array() {
        let Ok(i) = key.as_int() else {
            return fail(format!("a list index must be a number, not {}", kind(&key)));
        };
        if let Some(mut items) = t.write_lock::<Array>() {
            let len = items.len() as i64;
            let i = if i < 0 { i + len } else { i };
            let Ok(i) = usize::try_from(i) else {
                return fail(format!("index {i} out of range for size {len}"));
            };
            if i >= items.len() {
                items.resize(i + 1, Dynamic::UNIT);
            }
            items[i] = value.clone();
        }
        return Ok(value);
    }
    if t.is_unit() {
        return fail(format!(
            "cannot set property `{}` on null object",
            groovy_str(&key)
        ));
    }
    fail(format!("cannot set `{}` on {}", groovy_str(&key), kind(t)))
}

fn exceptions(m: &mut Module) {
    reg!(
        m,
        "__kiln_new_exception",
        |class: ImmutableString, args: Array| {
            let message = args.first().map(groovy_str).unwrap_or_default();
            GException::new(&class, message)
        }
    );
    reg!(m, "__kiln_throwable", |d: Dynamic| -> RtResult<Dynamic> {
        if d.is::<GException>() || d.is_map() {
            return Ok(d);
        }
        if d.is_string() {
            // Groovy cannot throw a string; Jenkins users mean `error(...)`.
            return Ok(Dynamic::from(GException::new(
                "hudson.AbortException",
                groovy_str(&d),
            )));
        }
        fail(format!("cannot throw {}", kind(&d)))
    });
    reg!(m, "__kiln_exception", |d: Dynamic| exception_of(&d));
    reg!(m, "__kiln_exception_is", |e: Dynamic,
                                    types: Array|
     -> bool {
        let Some(e) = e.try_cast::<GException>() else {
            return false;
        };
        types.iter().any(|t| e.is_a(&groovy_str(t)))
    });
}

/// What a `catch` binds: thrown exceptions as they are, Rhai's own errors (reported as
/// maps) as `RuntimeException`s with their message.
pub(crate) fn exception_of(d: &Dynamic) -> GException {
    if let Some(e) = d.clone().try_cast::<GException>() {
        return e;
    }
    if d.is_map() {
        let m = d.clone().cast::<Map>();
        let message = m.get("message").map(groovy_str).unwrap_or_default();
        return GException::new("java.lang.RuntimeException", message);
    }
    GException::new("java.lang.RuntimeException", groovy_str(d))
}

fn cast(d: Dynamic, ty: &str) -> RtResult<Dynamic> {
    let d = d.flatten();
    if d.is_unit() {
        return Ok(d);
    }
    match ty {
        "String" | "GString" | "CharSequence" => Ok(groovy_str(&d).into()),
        "Integer" | "int" | "Long" | "long" | "Short" | "short" | "Byte" | "byte"
        | "BigInteger" => {
            if d.is_string() {
                return methods::parse_int(&groovy_str(&d));
            }
            Ok(Dynamic::from_int(types::int_arg(&d, "`as Integer`")?))
        }
        "Double" | "double" | "Float" | "float" | "BigDecimal" | "Number" => {
            if d.is_string() {
                return methods::parse_float(&groovy_str(&d));
            }
            match d.as_int() {
                Ok(i) => Ok(Dynamic::from_float(i as f64)),
                Err(_) if d.is_float() => Ok(d),
                Err(_) => fail(format!("cannot convert {} to a number", kind(&d))),
            }
        }
        "Boolean" | "boolean" => Ok(truthy(&d).into()),
        "TreeMap" | "SortedMap" if d.is_map() => {
            // Sorted by key: the map without its insertion order.
            let mut m = d.cast::<Map>();
            let _ = m.remove(omap::ORDER);
            Ok(Dynamic::from_map(m))
        }
        "Map" | "HashMap" | "LinkedHashMap" if d.is_map() => Ok(d),
        "List" | "ArrayList" | "LinkedList" | "Collection" | "String[]" => match as_list(&d) {
            Some(items) => Ok(Dynamic::from_array(items)),
            None => Ok(Dynamic::from_array(vec![d])),
        },
        "Set" | "HashSet" | "LinkedHashSet" | "TreeSet" => {
            let mut items = as_list(&d).unwrap_or_else(|| vec![d]);
            let mut out = Array::new();
            for x in items.drain(..) {
                if !out.iter().any(|y| ops::eq(&x, y)) {
                    out.push(x);
                }
            }
            Ok(Dynamic::from_array(out))
        }
        "Object" => Ok(d),
        _ => fail(format!("cannot convert {} to {ty}", kind(&d))),
    }
}

fn instance_of(d: &Dynamic, ty: &str) -> bool {
    match ty {
        "String" | "GString" | "CharSequence" => d.is_string() || d.is_char(),
        "Integer" | "int" | "Long" | "long" | "Short" | "short" | "Byte" | "byte"
        | "BigInteger" => d.is_int(),
        "Double" | "double" | "Float" | "float" | "BigDecimal" => d.is_float(),
        "Number" => d.is_int() || d.is_float(),
        "Boolean" | "boolean" => d.is_bool(),
        "List" | "ArrayList" | "LinkedList" | "Collection" | "String[]" | "Set" | "HashSet"
        | "LinkedHashSet" | "TreeSet" => as_list(d).is_some(),
        "Map" | "HashMap" | "LinkedHashMap" | "TreeMap" => d.is_map(),
        "Closure" => as_closure(d).is_some(),
        "Exception" | "Throwable" => d.is::<GException>(),
        "Object" => !d.is_unit(),
        _ => false,
    }
}

fn static_call(name: &str, args: Array) -> RtResult<Dynamic> {
    let arg = |i: usize| args.get(i).cloned().unwrap_or(Dynamic::UNIT);
    let num = |i: usize| -> RtResult<f64> {
        let d = arg(i);
        d.as_int()
            .map(|x| x as f64)
            .or_else(|_| d.as_float())
            .or_else(|_| fail(format!("`{name}` expects numbers")))
    };
    let both_int = args.iter().all(|a| a.is_int());
    Ok(match name {
        "Integer.parseInt" | "Integer.valueOf" | "Long.parseLong" | "Long.valueOf" => {
            if arg(0).is_int() {
                arg(0)
            } else {
                methods::parse_int(&groovy_str(&arg(0)))?
            }
        }
        "Double.parseDouble" | "Double.valueOf" | "Float.parseFloat" | "Float.valueOf" => {
            Dynamic::from_float(num(0).or_else(|_| {
                methods::parse_float(&groovy_str(&arg(0)))?
                    .as_float()
                    .or_else(|_| fail("not a number"))
            })?)
        }
        "Boolean.parseBoolean" | "Boolean.valueOf" => groovy_str(&arg(0))
            .trim()
            .eq_ignore_ascii_case("true")
            .into(),
        "String.valueOf" => groovy_str(&arg(0)).into(),
        "Math.max" | "Math.min" if both_int => {
            let (a, b) = (arg(0).as_int().unwrap_or(0), arg(1).as_int().unwrap_or(0));
            Dynamic::from_int(if name == "Math.max" {
                a.max(b)
            } else {
                a.min(b)
            })
        }
        "Math.max" => Dynamic::from_float(num(0)?.max(num(1)?)),
        "Math.min" => Dynamic::from_float(num(0)?.min(num(1)?)),
        "Math.abs" if both_int => Dynamic::from_int(arg(0).as_int().unwrap_or(0).abs()),
        "Math.abs" => Dynamic::from_float(num(0)?.abs()),
        "Math.round" => Dynamic::from_int(num(0)?.round() as i64),
        "Math.floor" => Dynamic::from_float(num(0)?.floor()),
        "Math.ceil" => Dynamic::from_float(num(0)?.ceil()),
        "Math.pow" => Dynamic::from_float(num(0)?.powf(num(1)?)),
        "Math.sqrt" => Dynamic::from_float(num(0)?.sqrt()),
        _ => {
            return throw(GException::new(
                "groovy.lang.MissingMethodException",
                format!("no static method `{name}`"),
            ));
        }
    })
}
