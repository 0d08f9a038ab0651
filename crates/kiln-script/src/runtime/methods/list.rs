//! List methods: Java's `List` plus the Groovy collection methods pipelines use.
//! Methods that change the list (`add`, `<<`, `sort`, `unique`, `remove`) change it in place.

use super::Args;
use crate::runtime::omap;
use crate::runtime::ops;
use crate::runtime::types::{GClosure, RtResult, as_list, call_closure, fail, groovy_str, truthy};
use rhai::{Array, Dynamic, Map, NativeCallContext};
use std::cmp::Ordering;

fn test(ctx: &NativeCallContext, c: &GClosure, x: &Dynamic) -> RtResult<bool> {
    Ok(truthy(&call_closure(ctx, c, vec![x.clone()])?))
}

/// Sorts with a fallible comparison; the first error wins.
fn sort_by(
    items: &mut Array,
    mut cmp: impl FnMut(&Dynamic, &Dynamic) -> RtResult<Ordering>,
) -> RtResult<()> {
    let mut err = None;
    items.sort_by(|a, b| match cmp(a, b) {
        Ok(o) => o,
        Err(e) => {
            err.get_or_insert(e);
            Ordering::Equal
        }
    });
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn sort(ctx: &NativeCallContext, items: &mut Array, args: &Args) -> RtResult<()> {
    match args.trailing_closure() {
        Some(c) if c.arity == 2 => sort_by(items, |a, b| {
            let r = call_closure(ctx, &c, vec![a.clone(), b.clone()])?;
            Ok(r.as_int().unwrap_or(0).cmp(&0))
        }),
        Some(c) => {
            let mut keyed = Vec::with_capacity(items.len());
            for x in items.iter() {
                keyed.push((call_closure(ctx, &c, vec![x.clone()])?, x.clone()));
            }
            let mut err = None;
            keyed.sort_by(|a, b| {
                ops::compare(&a.0, &b.0).unwrap_or_else(|e| {
                    err.get_or_insert(e);
                    Ordering::Equal
                })
            });
            if let Some(e) = err {
                return Err(e);
            }
            *items = keyed.into_iter().map(|(_, x)| x).collect();
            Ok(())
        }
        None => sort_by(items, ops::compare),
    }
}

fn unique(items: &mut Array) {
    let mut out: Array = Vec::with_capacity(items.len());
    for x in items.drain(..) {
        if !out.iter().any(|y| ops::eq(&x, y)) {
            out.push(x);
        }
    }
    *items = out;
}

fn flatten(items: &[Dynamic], out: &mut Array) {
    for x in items {
        match as_list(x) {
            Some(inner) => flatten(&inner, out),
            None => out.push(x.clone()),
        }
    }
}

fn extreme(
    ctx: &NativeCallContext,
    items: &[Dynamic],
    args: &Args,
    want: Ordering,
) -> RtResult<Dynamic> {
    let closure = args.trailing_closure();
    let mut best: Option<(Dynamic, Dynamic)> = None;
    for x in items {
        let key = match &closure {
            Some(c) => call_closure(ctx, c, vec![x.clone()])?,
            None => x.clone(),
        };
        let better = match &best {
            None => true,
            Some((k, _)) => ops::compare(&key, k)? == want,
        };
        if better {
            best = Some((key, x.clone()));
        }
    }
    Ok(best.map_or(Dynamic::UNIT, |(_, x)| x))
}

fn sum(ctx: &NativeCallContext, items: &[Dynamic], args: &Args) -> RtResult<Dynamic> {
    let closure = args.trailing_closure();
    let mut total: Option<Dynamic> = (args.len() == 1 && closure.is_none()).then(|| args.get(0));
    for x in items {
        let v = match &closure {
            Some(c) => call_closure(ctx, c, vec![x.clone()])?,
            None => x.clone(),
        };
        total = Some(match total {
            None => v,
            Some(t) => ops::add(t, v)?,
        });
    }
    Ok(total.unwrap_or(Dynamic::UNIT))
}

fn remove(items: &mut Array, what: &Dynamic) -> Dynamic {
    if let Ok(i) = what.as_int() {
        let len = items.len() as i64;
        let i = if i < 0 { i + len } else { i };
        return match usize::try_from(i) {
            Ok(i) if i < items.len() => items.remove(i),
            _ => Dynamic::UNIT,
        };
    }
    match items.iter().position(|x| ops::eq(x, what)) {
        Some(i) => {
            let _ = items.remove(i);
            true.into()
        }
        None => false.into(),
    }
}

/// `collectEntries`: the closure returns `[key, value]` or a map.
fn collect_entries(
    ctx: &NativeCallContext,
    items: &[Dynamic],
    c: Option<GClosure>,
) -> RtResult<Dynamic> {
    let mut out = omap::new();
    for x in items {
        let r = match &c {
            Some(c) => call_closure(ctx, c, vec![x.clone()])?,
            None => x.clone(),
        };
        if r.is_map() {
            omap::extend(&mut out, &r.cast::<Map>());
        } else if let Some(pair) = as_list(&r).filter(|p| p.len() == 2) {
            omap::insert(&mut out, &groovy_str(&pair[0]), pair[1].clone());
        } else {
            return fail("`collectEntries` expects the closure to return [key, value] or a map");
        }
    }
    Ok(Dynamic::from_map(out))
}

fn slice(items: &[Dynamic], from: i64, to: i64) -> RtResult<Dynamic> {
    let len = items.len() as i64;
    if from < 0 || to > len || from > to {
        return fail(format!("subList({from}, {to}) out of range for size {len}"));
    }
    Ok(Dynamic::from_array(
        items[from as usize..to as usize].to_vec(),
    ))
}

/// Calls a list method; `None` when there is no such method.
pub(super) fn call(
    ctx: &NativeCallContext,
    items: &mut Array,
    args: &Args,
) -> RtResult<Option<Dynamic>> {
    let n = args.len();
    let list = |v: Array| Dynamic::from_array(v);
    Ok(Some(match (args.name, n) {
        ("size", 0) => Dynamic::from_int(items.len() as i64),
        ("isEmpty", 0) => items.is_empty().into(),
        ("contains", 1) => items.iter().any(|x| ops::eq(x, &args.get(0))).into(),
        ("containsAll", 1) => {
            let want = as_list(&args.get(0)).unwrap_or_default();
            want.iter()
                .all(|w| items.iter().any(|x| ops::eq(x, w)))
                .into()
        }
        ("add" | "push", 1) => {
            items.push(args.get(0));
            true.into()
        }
        ("add", 2) => {
            let i = usize::try_from(args.int(0)?).unwrap_or(0).min(items.len());
            items.insert(i, args.get(1));
            Dynamic::UNIT
        }
        ("leftShift", 1) => {
            items.push(args.get(0));
            list(items.clone())
        }
        ("addAll", 1) => {
            items.extend(as_list(&args.get(0)).unwrap_or_default());
            true.into()
        }
        ("remove" | "removeAt", 1) => remove(items, &args.get(0)),
        ("removeAll", 1) => {
            let gone = as_list(&args.get(0)).unwrap_or_default();
            let before = items.len();
            items.retain(|x| !gone.iter().any(|g| ops::eq(x, g)));
            (items.len() != before).into()
        }
        ("pop", 0) => items.pop().unwrap_or(Dynamic::UNIT),
        ("clear", 0) => {
            items.clear();
            Dynamic::UNIT
        }
        ("get" | "getAt", 1) => super::index(&list(items.clone()), &args.get(0))?,
        ("first" | "head", 0) => match items.first() {
            Some(x) => x.clone(),
            None => return fail("cannot access first() element from an empty list"),
        },
        ("last", 0) => match items.last() {
            Some(x) => x.clone(),
            None => return fail("cannot access last() element from an empty list"),
        },
        ("tail", 0) => list(items.iter().skip(1).cloned().collect()),
        ("take", 1) => list(
            items
                .iter()
                .take(usize::try_from(args.int(0)?).unwrap_or(0))
                .cloned()
                .collect(),
        ),
        ("drop", 1) => list(
            items
                .iter()
                .skip(usize::try_from(args.int(0)?).unwrap_or(0))
                .cloned()
                .collect(),
        ),
        ("subList", 2) => slice(items, args.int(0)?, args.int(1)?)?,
        ("indexOf", 1) => Dynamic::from_int(
            items
                .iter()
                .position(|x| ops::eq(x, &args.get(0)))
                .map_or(-1, |i| i as i64),
        ),
        ("sort", 0 | 1) => {
            sort(ctx, items, args)?;
            list(items.clone())
        }
        ("unique", 0) => {
            unique(items);
            list(items.clone())
        }
        ("reverse", 0) => list(items.iter().rev().cloned().collect()),
        ("sum", 0 | 1) => sum(ctx, items, args)?,
        ("max", 0 | 1) => extreme(ctx, items, args, Ordering::Greater)?,
        ("min", 0 | 1) => extreme(ctx, items, args, Ordering::Less)?,
        ("flatten", 0) => {
            let mut out = Array::new();
            flatten(items, &mut out);
            list(out)
        }
        ("join", 0 | 1) => {
            let sep = if n == 1 { args.str(0)? } else { String::new() };
            items
                .iter()
                .map(groovy_str)
                .collect::<Vec<_>>()
                .join(&sep)
                .into()
        }
        ("plus", 1) => ops::add(list(items.clone()), args.get(0))?,
        ("minus", 1) => ops::sub(list(items.clone()), args.get(0))?,
        ("intersect", 1) => {
            let other = as_list(&args.get(0)).unwrap_or_default();
            list(
                items
                    .iter()
                    .filter(|x| other.iter().any(|o| ops::eq(x, o)))
                    .cloned()
                    .collect(),
            )
        }
        ("toList" | "asList" | "toSet" | "asImmutable" | "toArray", 0) => {
            let mut out = items.clone();
            if args.name == "toSet" {
                unique(&mut out);
            }
            list(out)
        }
        ("each", 1) => {
            let c = args.closure(0)?;
            for x in items.iter() {
                let _ = call_closure(ctx, &c, vec![x.clone()])?;
            }
            list(items.clone())
        }
        ("eachWithIndex", 1) => {
            let c = args.closure(0)?;
            for (i, x) in items.iter().enumerate() {
                let _ = call_closure(ctx, &c, vec![x.clone(), Dynamic::from_int(i as i64)])?;
            }
            list(items.clone())
        }
        ("collect", 0) => list(items.clone()),
        ("collect", 1) => {
            let c = args.closure(0)?;
            let mut out = Array::with_capacity(items.len());
            for x in items.iter() {
                out.push(call_closure(ctx, &c, vec![x.clone()])?);
            }
            list(out)
        }
        ("collectMany", 1) => {
            let c = args.closure(0)?;
            let mut out = Array::new();
            for x in items.iter() {
                let r = call_closure(ctx, &c, vec![x.clone()])?;
                out.extend(as_list(&r).unwrap_or_else(|| vec![r]));
            }
            list(out)
        }
        ("findAll", 0 | 1) => {
            let mut out = Array::new();
            for x in items.iter() {
                let keep = match args.trailing_closure() {
                    Some(c) => test(ctx, &c, x)?,
                    None => truthy(x),
                };
                if keep {
                    out.push(x.clone());
                }
            }
            list(out)
        }
        ("find", 0 | 1) => {
            for x in items.iter() {
                let hit = match args.trailing_closure() {
                    Some(c) => test(ctx, &c, x)?,
                    None => truthy(x),
                };
                if hit {
                    return Ok(Some(x.clone()));
                }
            }
            Dynamic::UNIT
        }
        ("findIndexOf", 1) => {
            let c = args.closure(0)?;
            for (i, x) in items.iter().enumerate() {
                if test(ctx, &c, x)? {
                    return Ok(Some(Dynamic::from_int(i as i64)));
                }
            }
            Dynamic::from_int(-1)
        }
        ("findResult", 1) => {
            let c = args.closure(0)?;
            for x in items.iter() {
                let r = call_closure(ctx, &c, vec![x.clone()])?;
                if !r.is_unit() {
                    return Ok(Some(r));
                }
            }
            Dynamic::UNIT
        }
        ("any" | "every", 0 | 1) => {
            let every = args.name == "every";
            for x in items.iter() {
                let hit = match args.trailing_closure() {
                    Some(c) => test(ctx, &c, x)?,
                    None => truthy(x),
                };
                if hit != every {
                    return Ok(Some((!every).into()));
                }
            }
            every.into()
        }
        ("count", 1) => {
            let mut count = 0;
            for x in items.iter() {
                let hit = match as_closure_arg(args) {
                    Some(c) => test(ctx, &c, x)?,
                    None => ops::eq(x, &args.get(0)),
                };
                count += i64::from(hit);
            }
            Dynamic::from_int(count)
        }
        ("inject", 2) => {
            let c = args.closure(1)?;
            let mut acc = args.get(0);
            for x in items.iter() {
                acc = call_closure(ctx, &c, vec![acc, x.clone()])?;
            }
            acc
        }
        ("groupBy", 1) => {
            let c = args.closure(0)?;
            let mut out = omap::new();
            for x in items.iter() {
                let key = groovy_str(&call_closure(ctx, &c, vec![x.clone()])?);
                if !omap::contains(&out, &key) {
                    omap::insert(&mut out, &key, Dynamic::from_array(Array::new()));
                }
                if let Some(mut group) = out
                    .get_mut(key.as_str())
                    .and_then(|slot| slot.write_lock::<Array>())
                {
                    group.push(x.clone());
                }
            }
            Dynamic::from_map(out)
        }
        ("collectEntries", 0 | 1) => collect_entries(ctx, items, args.trailing_closure())?,
        ("withIndex", 0) => list(
            items
                .iter()
                .enumerate()
                .map(|(i, x)| list(vec![x.clone(), Dynamic::from_int(i as i64)]))
                .collect(),
        ),
        _ => return Ok(None),
    }))
}

fn as_closure_arg(args: &Args) -> Option<GClosure> {
    crate::runtime::types::as_closure(&args.get(0))
}
