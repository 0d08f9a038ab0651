//! The receiver of `x.with { }` / `x.tap { }` as the closure's delegate (Groovy's
//! `DELEGATE_FIRST`): inside the closure, a bare name that is no local variable is first
//! looked up on the receiver, then where it would be without `with`. The translator emits
//! the lookups; these helpers answer whether the receiver has the property or method.

use super::instance::GInstance;
use super::types::{RtResult, as_closure, call_closure};
use super::{methods, omap};
use rhai::{Array, Dynamic, Map, NativeCallContext};

/// What [`try_call`] answers when the receiver has no such method.
#[derive(Clone)]
pub(crate) struct NoMethod;

/// Whether reading `name` inside the closure means the receiver's property: a key of a
/// map, a field of an object of a script class.
pub(crate) fn has(d: &Dynamic, name: &str) -> bool {
    let d = d.flatten_clone();
    if let Some(m) = d.read_lock::<Map>() {
        return omap::get(&m, name).is_some();
    }
    if let Some(this) = d.read_lock::<GInstance>() {
        return this.get(name).is_some();
    }
    false
}

/// Whether `name = value` inside the closure sets the receiver's property: any key of a
/// map (Groovy puts it), a field of an object of a script class.
pub(crate) fn settable(d: &Dynamic, name: &str) -> bool {
    let d = d.flatten_clone();
    d.is_map()
        || d.read_lock::<GInstance>()
            .is_some_and(|this| this.get(name).is_some())
}

/// Calls method `name` of the receiver, or answers [`NoMethod`]: a method of a script
/// class's object, a closure held by a map under `name`, a Groovy method of the value.
pub(crate) fn try_call(
    ctx: &NativeCallContext,
    d: &mut Dynamic,
    name: &str,
    args: Array,
) -> RtResult<Dynamic> {
    if d.is_shared() {
        return super::methods::on_copy(d, |inner| try_call(ctx, inner, name, args));
    }
    if let Some(this) = d.clone().try_cast::<GInstance>() {
        if let Some(v) = super::instance::call(ctx, &this, name, &args)? {
            return Ok(v);
        }
    }
    let held = d
        .read_lock::<Map>()
        .and_then(|m| omap::get(&m, name).and_then(as_closure));
    if let Some(c) = held {
        return call_closure(ctx, &c, args);
    }
    Ok(methods::dispatch(ctx, d, name, args)?.unwrap_or_else(|| Dynamic::from(NoMethod)))
}
