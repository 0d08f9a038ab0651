//! Map methods: Java's `Map` plus the Groovy ones. A closure with two parameters gets the
//! key and the value; with one, an entry with `key` and `value`.

use super::Args;
use crate::runtime::omap;
use crate::runtime::types::{GClosure, RtResult, call_closure, fail, groovy_str, truthy};
use rhai::{Array, Dynamic, Map, NativeCallContext};

/// A map entry as Groovy code sees it: `e.key`, `e.value`.
fn entry(k: &str, v: &Dynamic) -> Dynamic {
    let mut e = Map::new();
    e.insert("key".into(), Dynamic::from(k.to_string()));
    e.insert("value".into(), v.clone());
    Dynamic::from_map(e)
}

/// The entries of a map, in its order.
pub(crate) fn entries(m: &Map) -> Array {
    omap::iter(m).iter().map(|(k, v)| entry(k, v)).collect()
}

fn call_entry(ctx: &NativeCallContext, c: &GClosure, k: &str, v: &Dynamic) -> RtResult<Dynamic> {
    if c.arity >= 2 {
        call_closure(ctx, c, vec![Dynamic::from(k.to_string()), v.clone()])
    } else {
        call_closure(ctx, c, vec![entry(k, v)])
    }
}

fn key(d: &Dynamic) -> String {
    groovy_str(d)
}

/// Calls a map method; `None` when there is no such method.
pub(super) fn call(ctx: &NativeCallContext, m: &mut Map, args: &Args) -> RtResult<Option<Dynamic>> {
    let n = args.len();
    Ok(Some(match (args.name, n) {
        ("size", 0) => Dynamic::from_int(omap::len(m) as i64),
        ("isEmpty", 0) => omap::is_empty(m).into(),
        ("containsKey", 1) => omap::contains(m, &key(&args.get(0))).into(),
        ("containsValue", 1) => omap::iter(m)
            .iter()
            .any(|(_, v)| crate::runtime::ops::eq(v, &args.get(0)))
            .into(),
        ("get" | "getAt", 1) => omap::get(m, &key(&args.get(0)))
            .cloned()
            .unwrap_or(Dynamic::UNIT),
        ("get" | "getOrDefault", 2) => omap::get(m, &key(&args.get(0)))
            .cloned()
            .unwrap_or_else(|| args.get(1)),
        ("put", 2) => omap::insert(m, &key(&args.get(0)), args.get(1)).unwrap_or(Dynamic::UNIT),
        ("putAll", 1) => {
            let more = args.get(0);
            if !more.is_map() {
                return fail("`putAll()` expects a map");
            }
            omap::extend(m, &more.cast::<Map>());
            Dynamic::UNIT
        }
        ("remove", 1) => omap::remove(m, &key(&args.get(0))).unwrap_or(Dynamic::UNIT),
        ("clear", 0) => {
            omap::clear(m);
            Dynamic::UNIT
        }
        ("keySet" | "keys", 0) => {
            Dynamic::from_array(omap::keys(m).into_iter().map(Dynamic::from).collect())
        }
        ("values", 0) => Dynamic::from_array(omap::iter(m).into_iter().map(|(_, v)| v).collect()),
        ("entrySet", 0) => Dynamic::from_array(entries(m)),
        ("plus", 1) => crate::runtime::ops::add(Dynamic::from_map(m.clone()), args.get(0))?,
        ("subMap", 1) => {
            let keys = crate::runtime::types::as_list(&args.get(0)).unwrap_or_default();
            let mut out = omap::new();
            for k in keys {
                let k = key(&k);
                if let Some(v) = omap::get(m, &k) {
                    omap::insert(&mut out, &k, v.clone());
                }
            }
            Dynamic::from_map(out)
        }
        ("each", 1) => {
            let c = args.closure(0)?;
            for (k, v) in omap::iter(m) {
                let _ = call_entry(ctx, &c, &k, &v)?;
            }
            Dynamic::from_map(m.clone())
        }
        ("eachWithIndex", 1) => {
            let c = args.closure(0)?;
            for (i, (k, v)) in omap::iter(m).into_iter().enumerate() {
                let _ = call_closure(ctx, &c, vec![entry(&k, &v), Dynamic::from_int(i as i64)])?;
            }
            Dynamic::from_map(m.clone())
        }
        ("collect", 1) => {
            let c = args.closure(0)?;
            let mut out = Array::new();
            for (k, v) in omap::iter(m) {
                out.push(call_entry(ctx, &c, &k, &v)?);
            }
            Dynamic::from_array(out)
        }
        ("findAll", 1) => {
            let c = args.closure(0)?;
            let mut out = omap::new();
            for (k, v) in omap::iter(m) {
                if truthy(&call_entry(ctx, &c, &k, &v)?) {
                    omap::insert(&mut out, &k, v);
                }
            }
            Dynamic::from_map(out)
        }
        ("find", 1) => {
            let c = args.closure(0)?;
            for (k, v) in omap::iter(m) {
                if truthy(&call_entry(ctx, &c, &k, &v)?) {
                    return Ok(Some(entry(&k, &v)));
                }
            }
            Dynamic::UNIT
        }
        ("any" | "every", 1) => {
            let every = args.name == "every";
            let c = args.closure(0)?;
            for (k, v) in omap::iter(m) {
                if truthy(&call_entry(ctx, &c, &k, &v)?) != every {
                    return Ok(Some((!every).into()));
                }
            }
            every.into()
        }
        ("count", 1) => {
            let c = args.closure(0)?;
            let mut count = 0;
            for (k, v) in omap::iter(m) {
                count += i64::from(truthy(&call_entry(ctx, &c, &k, &v)?));
            }
            Dynamic::from_int(count)
        }
        ("collectEntries", 1) => {
            let c = args.closure(0)?;
            let mut out = omap::new();
            for (k, v) in omap::iter(m) {
                let r = call_entry(ctx, &c, &k, &v)?;
                if r.is_map() {
                    omap::extend(&mut out, &r.cast::<Map>());
                } else if let Some(pair) =
                    crate::runtime::types::as_list(&r).filter(|p| p.len() == 2)
                {
                    omap::insert(&mut out, &groovy_str(&pair[0]), pair[1].clone());
                } else {
                    return fail(
                        "`collectEntries` expects the closure to return [key, value] or a map",
                    );
                }
            }
            Dynamic::from_map(out)
        }
        ("inject", 2) => {
            let c = args.closure(1)?;
            let mut acc = args.get(0);
            for (k, v) in omap::iter(m) {
                acc = call_closure(ctx, &c, vec![acc, entry(&k, &v)])?;
            }
            acc
        }
        (name, 0) => {
            // Groovy bean getters: `currentBuild.getResult()`, `e.getMessage()`.
            let Some(prop) = name
                .strip_prefix("get")
                .or_else(|| name.strip_prefix("is"))
                .filter(|p| !p.is_empty())
            else {
                return Ok(None);
            };
            let mut chars = prop.chars();
            let lowered: String = chars
                .next()
                .map(|c| c.to_lowercase().chain(chars).collect())
                .unwrap_or_default();
            match omap::get(m, &lowered) {
                Some(v) => v.clone(),
                None => return Ok(None),
            }
        }
        (name, _) => match omap::get(m, name).and_then(crate::runtime::types::as_closure) {
            // A closure stored in a map is callable as a method: `helpers.build('x')`.
            Some(c) => call_closure(ctx, &c, args.items.clone())?,
            None => return Ok(None),
        },
    }))
}
