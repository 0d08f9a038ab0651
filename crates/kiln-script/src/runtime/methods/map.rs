//! Map methods: Java's `Map` plus the Groovy ones. A closure with two parameters gets the
//! key and the value; with one, an entry with `key` and `value`.

use super::Args;
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
    m.iter().map(|(k, v)| entry(k, v)).collect()
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
        ("size", 0) => Dynamic::from_int(m.len() as i64),
        ("isEmpty", 0) => m.is_empty().into(),
        ("containsKey", 1) => m.contains_key(key(&args.get(0)).as_str()).into(),
        ("containsValue", 1) => m
            .values()
            .any(|v| crate::runtime::ops::eq(v, &args.get(0)))
            .into(),
        ("get" | "getAt", 1) => m
            .get(key(&args.get(0)).as_str())
            .cloned()
            .unwrap_or(Dynamic::UNIT),
        ("get" | "getOrDefault", 2) => m
            .get(key(&args.get(0)).as_str())
            .cloned()
            .unwrap_or_else(|| args.get(1)),
        ("put", 2) => m
            .insert(key(&args.get(0)).into(), args.get(1))
            .unwrap_or(Dynamic::UNIT),
        ("putAll", 1) => {
            let more = args.get(0);
            if !more.is_map() {
                return fail("`putAll()` expects a map");
            }
            m.extend(more.cast::<Map>());
            Dynamic::UNIT
        }
        ("remove", 1) => m
            .remove(key(&args.get(0)).as_str())
            .unwrap_or(Dynamic::UNIT),
        ("clear", 0) => {
            m.clear();
            Dynamic::UNIT
        }
        ("keySet" | "keys", 0) => {
            Dynamic::from_array(m.keys().map(|k| Dynamic::from(k.to_string())).collect())
        }
        ("values", 0) => Dynamic::from_array(m.values().cloned().collect()),
        ("entrySet", 0) => Dynamic::from_array(entries(m)),
        ("plus", 1) => crate::runtime::ops::add(Dynamic::from_map(m.clone()), args.get(0))?,
        ("subMap", 1) => {
            let keys = crate::runtime::types::as_list(&args.get(0)).unwrap_or_default();
            let mut out = Map::new();
            for k in keys {
                let k = key(&k);
                if let Some(v) = m.get(k.as_str()) {
                    out.insert(k.into(), v.clone());
                }
            }
            Dynamic::from_map(out)
        }
        ("each", 1) => {
            let c = args.closure(0)?;
            for (k, v) in m.iter() {
                let _ = call_entry(ctx, &c, k, v)?;
            }
            Dynamic::from_map(m.clone())
        }
        ("eachWithIndex", 1) => {
            let c = args.closure(0)?;
            for (i, (k, v)) in m.iter().enumerate() {
                let _ = call_closure(ctx, &c, vec![entry(k, v), Dynamic::from_int(i as i64)])?;
            }
            Dynamic::from_map(m.clone())
        }
        ("collect", 1) => {
            let c = args.closure(0)?;
            let mut out = Array::new();
            for (k, v) in m.iter() {
                out.push(call_entry(ctx, &c, k, v)?);
            }
            Dynamic::from_array(out)
        }
        ("findAll", 1) => {
            let c = args.closure(0)?;
            let mut out = Map::new();
            for (k, v) in m.iter() {
                if truthy(&call_entry(ctx, &c, k, v)?) {
                    out.insert(k.clone(), v.clone());
                }
            }
            Dynamic::from_map(out)
        }
        ("find", 1) => {
            let c = args.closure(0)?;
            for (k, v) in m.iter() {
                if truthy(&call_entry(ctx, &c, k, v)?) {
                    return Ok(Some(entry(k, v)));
                }
            }
            Dynamic::UNIT
        }
        ("any" | "every", 1) => {
            let every = args.name == "every";
            let c = args.closure(0)?;
            for (k, v) in m.iter() {
                if truthy(&call_entry(ctx, &c, k, v)?) != every {
                    return Ok(Some((!every).into()));
                }
            }
            every.into()
        }
        ("count", 1) => {
            let c = args.closure(0)?;
            let mut count = 0;
            for (k, v) in m.iter() {
                count += i64::from(truthy(&call_entry(ctx, &c, k, v)?));
            }
            Dynamic::from_int(count)
        }
        ("collectEntries", 1) => {
            let c = args.closure(0)?;
            let mut out = Map::new();
            for (k, v) in m.iter() {
                let r = call_entry(ctx, &c, k, v)?;
                if r.is_map() {
                    out.extend(r.cast::<Map>());
                } else if let Some(pair) =
                    crate::runtime::types::as_list(&r).filter(|p| p.len() == 2)
                {
                    out.insert(groovy_str(&pair[0]).into(), pair[1].clone());
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
            for (k, v) in m.iter() {
                acc = call_closure(ctx, &c, vec![acc, entry(k, v)])?;
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
            match m.get(lowered.as_str()) {
                Some(v) => v.clone(),
                None => return Ok(None),
            }
        }
        (name, _) => match m.get(name).and_then(crate::runtime::types::as_closure) {
            // A closure stored in a map is callable as a method: `helpers.build('x')`.
            Some(c) => call_closure(ctx, &c, args.items.clone())?,
            None => return Ok(None),
        },
    }))
}
