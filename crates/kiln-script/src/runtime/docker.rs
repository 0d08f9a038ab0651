//! The `docker` global of docker-workflow scripts: `docker.image('x').inside('-u root') { }`,
//! `docker.build('repo/app:1', '-f Dockerfile .')`, `docker.withRegistry(url, id) { }`,
//! `img.push('tag')`, `img.withRun { c -> }`.
//!
//! Its objects (the global, images, containers) are maps marked with [`DOCKER_KEY`], so a
//! script reads `img.id` as a property; every method call on one goes to the host as the
//! step [`DOCKER_STEP`], with the method under `$method`, the object under `$receiver` and
//! the method's arguments as the step's positional ones. The host does the work and
//! answers with new objects (maps again).

use super::types::{RtResult, as_closure};
use rhai::{Array, Dynamic, ImmutableString, Map, NativeCallContext};

/// The step the host serves for every method of a docker object.
pub const DOCKER_STEP: &str = "__kiln_docker";

/// The key marking a docker object, and what it holds: `docker`, `image` or `container`.
pub const DOCKER_KEY: &str = "$docker";

/// The objects of the `docker` global.
pub(crate) const DOCKER: HostObjects = HostObjects {
    key: DOCKER_KEY,
    global: "docker",
};

/// A kind of object the host serves (docker's, Artifactory's): maps marked with `key`.
pub(crate) struct HostObjects {
    pub key: &'static str,
    /// What the mark of the global object says (its name in scripts).
    pub global: &'static str,
}

impl HostObjects {
    /// The value of the global's bare name.
    pub(crate) fn global(&self) -> Dynamic {
        let mut m = Map::new();
        m.insert(self.key.into(), Dynamic::from(self.global));
        Dynamic::from_map(m)
    }

    /// Whether `target` is one of these objects.
    pub(crate) fn marks(&self, target: &Dynamic) -> bool {
        target
            .read_lock::<Map>()
            .is_some_and(|m| m.contains_key(self.key))
    }
}

/// `target.name(args)` on a docker object: the host's [`DOCKER_STEP`] with the method,
/// the object and the arguments (a trailing closure is the step's body).
pub(crate) fn call(
    ctx: &NativeCallContext,
    target: &mut Dynamic,
    name: &str,
    args: Array,
) -> RtResult<Dynamic> {
    host_object_call(ctx, target, name, args, DOCKER_STEP)
}

/// A method of an object the host serves (docker's, Artifactory's): the host's `step`
/// with the method under `$method`, the object under `$receiver` and the arguments. When
/// the host answers with a map holding [`RECEIVER_UPDATE`], that map replaces the object
/// (a method that configures it, as `rtMaven.deployer server: s, ...` does) and the
/// answer is its [`RESULT`] entry.
pub(crate) fn host_object_call(
    ctx: &NativeCallContext,
    target: &mut Dynamic,
    name: &str,
    mut args: Array,
    step: &str,
) -> RtResult<Dynamic> {
    let body = match args.last() {
        Some(last) if as_closure(last).is_some() => args.pop().unwrap_or(Dynamic::UNIT),
        _ => Dynamic::UNIT,
    };
    let mut named = Map::new();
    // Named arguments (`inside(args: '-u root')`) come first as one map.
    if let Some(first) = args.first() {
        if first.is_map() && !DOCKER.marks(first) && !super::artifactory::ARTIFACTORY.marks(first) {
            if let Some(m) = args.remove(0).try_cast::<Map>() {
                named = m;
            }
        }
    }
    named.insert("$method".into(), Dynamic::from(name.to_owned()));
    named.insert("$receiver".into(), target.flatten_clone());
    let answer = ctx.call_fn::<Dynamic>(
        "__kiln_call",
        (ImmutableString::from(step), named, args, body, 0_i64, 0_i64),
    )?;
    let update = answer
        .read_lock::<Map>()
        .and_then(|m| m.get(RECEIVER_UPDATE).cloned());
    match update {
        Some(receiver) => {
            let result = answer
                .read_lock::<Map>()
                .and_then(|m| m.get(RESULT).cloned())
                .unwrap_or(Dynamic::UNIT);
            *target = receiver;
            Ok(result)
        }
        None => Ok(answer),
    }
}

/// The key of a host's answer that replaces the object a method was called on.
pub const RECEIVER_UPDATE: &str = "$kiln_receiver";
/// The key of a host's answer holding the method's value, beside [`RECEIVER_UPDATE`].
pub const RESULT: &str = "$kiln_result";
