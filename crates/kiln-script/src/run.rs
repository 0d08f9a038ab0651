//! One evaluation: the build's globals moved out of the [`ScriptContext`] for its
//! duration, the helpers that read and write them, step dispatch, and the sandbox clock.

use crate::context::ScriptContext;
use crate::engine::Limits;
use crate::host::{Bridge, EnvAccess, step_failure};
use crate::memory::MemoryMeter;
use crate::runtime::types::{
    GClosure, GException, RtResult, as_closure, call_closure, fail, from_value, groovy_str, throw,
};
use crate::runtime::{methods, mutate};
use crate::translate::names;
use crate::unit::Unit;
use kiln_diagnostics::Span;
use rhai::{
    AST, Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map, NativeCallContext, Position,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Functions defined by blocks evaluated earlier in the same context, so later blocks
/// can call them (and call closures those blocks stored in variables).
#[derive(Clone, Default)]
pub(crate) struct Library {
    pub ast: Option<AST>,
    pub units: Vec<Arc<Unit>>,
}

impl Library {
    pub fn function_names(&self) -> impl Iterator<Item = &str> {
        self.units
            .iter()
            .flat_map(|u| u.user_functions.iter().map(String::as_str))
    }

    /// Adds the functions of `unit`, once.
    pub fn add(&mut self, unit: &Arc<Unit>) {
        if !unit.ast.has_functions() || self.units.iter().any(|u| Arc::ptr_eq(u, unit)) {
            return;
        }
        let functions = unit.ast.clone_functions_only();
        self.ast = Some(match self.ast.take() {
            Some(lib) => lib.merge(&functions),
            None => functions,
        });
        self.units.push(unit.clone());
    }
}

/// The build state an evaluation reads and writes.
pub(crate) struct Globals {
    pub env: BTreeMap<String, String>,
    pub params: BTreeMap<String, crate::Value>,
    pub current_build: Map,
    pub globals: BTreeMap<String, crate::Value>,
    pub vars: BTreeMap<String, Dynamic>,
}

/// Why the progress callback stopped a script.
pub(crate) const TIMEOUT: &str = "timeout";
pub(crate) const CANCELLED: &str = "cancelled";

/// Everything one evaluation's helpers share.
pub(crate) struct RunState {
    pub globals: Mutex<Globals>,
    pub bridge: Option<Bridge>,
    cancel: Arc<AtomicBool>,
    started: Instant,
    host_nanos: AtomicU64,
    time_limit: Duration,
    deadline: Option<Instant>,
    memory: MemoryMeter,
    /// The file and position of the last statement library code ran.
    last_statement: Mutex<Option<(String, Position)>>,
    /// What calling a name that is neither a function nor a step says, by name, as the
    /// host words it ([`StepHost::missing_step`](crate::StepHost::missing_step)).
    pub missing: HashMap<String, String>,
}

impl RunState {
    /// Moves the build state out of `ctx`; [`RunState::restore`] puts it back.
    pub fn take(ctx: &mut ScriptContext, limits: &Limits, bridge: Option<Bridge>) -> Self {
        let started = Instant::now();
        // The total-time limit counts steps too, so it is a deadline like the build's.
        let total = limits.total_time.and_then(|t| started.checked_add(t));
        let deadline = match (ctx.deadline, total) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let globals = Globals {
            env: std::mem::take(&mut ctx.env),
            params: std::mem::take(&mut ctx.params),
            current_build: ctx.current_build.to_map(),
            globals: std::mem::take(&mut ctx.globals),
            vars: std::mem::take(&mut ctx.vars),
        };
        RunState {
            globals: Mutex::new(globals),
            bridge,
            cancel: ctx.cancel.clone(),
            started,
            host_nanos: AtomicU64::new(0),
            time_limit: limits.time_limit,
            deadline,
            memory: MemoryMeter::new(limits.max_memory),
            last_statement: Mutex::new(None),
            missing: HashMap::new(),
        }
    }

    pub fn restore(self, ctx: &mut ScriptContext) {
        let g = self
            .globals
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        ctx.env = g.env;
        ctx.params = g.params;
        ctx.current_build.read_back(&g.current_build);
        ctx.globals = g.globals;
        ctx.vars = g.vars;
    }

    /// Notes the statement library code is about to run (see `library::track_statements`).
    pub fn set_last_statement(&self, source: Option<&str>, pos: Position) {
        if pos.is_none() {
            return;
        }
        let mut last = self
            .last_statement
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let source = source.unwrap_or("");
        match last.as_mut() {
            Some((file, at)) if file == source => *at = pos,
            _ => *last = Some((source.to_string(), pos)),
        }
    }

    pub fn last_statement(&self) -> Option<(String, Position)> {
        self.last_statement
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Globals> {
        self.globals.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add_host_time(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.host_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The progress check: cancellation on every operation, time every 256.
    pub fn check(&self, ops: u64) -> Option<Dynamic> {
        if self.cancel.load(Ordering::Relaxed) {
            return Some(Dynamic::from(CANCELLED));
        }
        if ops % 256 != 0 {
            return None;
        }
        let now = Instant::now();
        if self.deadline.is_some_and(|d| now >= d) {
            return Some(Dynamic::from(TIMEOUT));
        }
        let host = Duration::from_nanos(self.host_nanos.load(Ordering::Relaxed));
        let script_time = now
            .saturating_duration_since(self.started)
            .saturating_sub(host);
        (script_time > self.time_limit).then(|| Dynamic::from(TIMEOUT))
    }

    /// The memory bound, at a variable read: the scope's values and the binding's.
    fn check_memory(&self, level: usize, scope: &rhai::Scope) -> RtResult<()> {
        self.memory.on_read(
            level,
            |m, limit| {
                for (_, _, v) in scope.iter_raw() {
                    m.add(v, limit);
                }
            },
            |m, limit| {
                for v in self.lock().vars.values() {
                    m.add(v, limit);
                }
            },
        )
    }

    /// A bare name: script variables, then `env`/`params`/`currentBuild`, other globals,
    /// environment variables and parameters (Jenkins resolves `BRANCH_NAME` through env).
    fn global(&self, name: &str) -> RtResult<Dynamic> {
        let g = self.lock();
        if let Some(v) = g.vars.get(name) {
            return Ok(v.clone());
        }
        match name {
            "env" => {
                let m: Map = g
                    .env
                    .iter()
                    .map(|(k, v)| (k.as_str().into(), Dynamic::from(v.clone())))
                    .collect();
                return Ok(Dynamic::from_map(m));
            }
            "params" => {
                let m: Map = g
                    .params
                    .iter()
                    .map(|(k, v)| (k.as_str().into(), from_value(v)))
                    .collect();
                return Ok(Dynamic::from_map(m));
            }
            "currentBuild" => return Ok(Dynamic::from_map(g.current_build.clone())),
            _ => {}
        }
        if let Some(v) = g.globals.get(name) {
            return Ok(from_value(v));
        }
        if name == "docker" {
            return Ok(crate::runtime::docker::DOCKER.global());
        }
        if name == "Artifactory" {
            return Ok(crate::runtime::artifactory::ARTIFACTORY.global());
        }
        if let Some(v) = g.env.get(name) {
            return Ok(Dynamic::from(v.clone()));
        }
        if let Some(v) = g.params.get(name) {
            return Ok(from_value(v));
        }
        throw(GException::new(
            "groovy.lang.MissingPropertyException",
            crate::runtime::plugin_globals::missing_property_message(name),
        ))
    }

    fn property(&self, root: &str, name: &str) -> RtResult<Dynamic> {
        {
            let g = self.lock();
            let shadowed = g.vars.contains_key(root);
            match root {
                "env" if !shadowed => {
                    return Ok(g
                        .env
                        .get(name)
                        .map_or(Dynamic::UNIT, |v| Dynamic::from(v.clone())));
                }
                "params" if !shadowed => {
                    return Ok(g.params.get(name).map_or(Dynamic::UNIT, from_value));
                }
                "currentBuild" if !shadowed => {
                    return Ok(g.current_build.get(name).cloned().unwrap_or(Dynamic::UNIT));
                }
                _ => {}
            }
        }
        methods::property(&self.global(root)?, name)
    }

    fn set(&self, name: &str, value: Dynamic) -> RtResult<Dynamic> {
        if matches!(name, "env" | "params" | "currentBuild") {
            return fail(format!("cannot assign to `{name}`"));
        }
        self.lock()
            .vars
            .insert(name.to_string(), value.flatten_clone());
        Ok(value)
    }

    /// `root.a.b = value`, `root[i] = value` for a global root.
    fn set_path(
        &self,
        ctx: &NativeCallContext,
        root: &str,
        keys: Array,
        value: Dynamic,
    ) -> RtResult<Dynamic> {
        let value = value.flatten();
        {
            let mut g = self.lock();
            let shadowed = g.vars.contains_key(root);
            match (root, keys.as_slice()) {
                ("env", [key]) if !shadowed => {
                    let key = groovy_str(key);
                    if value.is_unit() {
                        g.env.remove(&key);
                    } else {
                        g.env.insert(key, groovy_str(&value));
                    }
                    return Ok(value);
                }
                ("currentBuild", [key]) if !shadowed => {
                    g.current_build
                        .insert(groovy_str(key).into(), value.clone());
                    return Ok(value);
                }
                ("env" | "params" | "currentBuild", _) if !shadowed => {
                    return fail(format!("cannot assign to this part of `{root}`"));
                }
                _ => {}
            }
        }
        let Some((last, init)) = keys.split_last() else {
            return self.set(root, value);
        };
        let mut target = self.global(root)?;
        let mut parents = Vec::new();
        for k in init {
            let child = methods::index(&target, k)?;
            parents.push((target, k.clone()));
            target = child;
        }
        let _ = mutate(ctx, &mut target, "putAt", vec![last.clone(), value.clone()])?;
        while let Some((mut parent, k)) = parents.pop() {
            let _ = mutate(ctx, &mut parent, "putAt", vec![k, target])?;
            target = parent;
        }
        let _ = self.set(root, target)?;
        Ok(value)
    }

    /// A mutating method on a global: `results << x`, `env.LIST.add(x)`.
    fn mutate_global(
        &self,
        ctx: &NativeCallContext,
        root: &str,
        keys: Array,
        method: &str,
        args: Array,
    ) -> RtResult<Dynamic> {
        let mut target = self.global(root)?;
        for k in &keys {
            target = methods::index(&target, k)?;
        }
        let out = mutate(ctx, &mut target, method, args)?;
        if keys.is_empty() {
            let _ = self.set(root, target)?;
        } else {
            let _ = self.set_path(ctx, root, keys, target)?;
        }
        Ok(out)
    }

    fn closure_var(&self, name: &str) -> Option<GClosure> {
        self.lock().vars.get(name).and_then(as_closure)
    }

    /// A call of a name that is not a local: a function of an earlier block, a closure in a
    /// script variable, a step, or a built-in.
    fn call(
        &self,
        ctx: &NativeCallContext,
        name: &str,
        named: Map,
        positional: Array,
        body: Dynamic,
        span: Span,
    ) -> RtResult<Dynamic> {
        self.call_or_mismatch(ctx, name, named, positional, body, span, None)
    }

    /// [`Self::call`]; `mismatch` is the argument count of a call no definition of the
    /// script's function `name` takes (it goes to a step of that name, or fails saying so).
    #[expect(clippy::too_many_arguments, reason = "the parts of a step call")]
    fn call_or_mismatch(
        &self,
        ctx: &NativeCallContext,
        name: &str,
        named: Map,
        positional: Array,
        body: Dynamic,
        span: Span,
        mismatch: Option<usize>,
    ) -> RtResult<Dynamic> {
        let mut args: Vec<Dynamic> = Vec::with_capacity(positional.len() + 2);
        if !named.is_empty() {
            args.push(Dynamic::from_map(named.clone()));
        }
        args.extend(positional.iter().cloned());
        if !body.is_unit() {
            args.push(body.clone());
        }
        let function = names::function(name);
        let mut call_args = args.clone();
        let mut refs: Vec<&mut Dynamic> = call_args.iter_mut().collect();
        match ctx.call_fn_raw(&function, false, false, &mut refs) {
            Ok(v) => return Ok(v),
            Err(e) if is_not_found(&e, &function) => {}
            Err(e) => return Err(e),
        }
        if let Some(c) = self.closure_var(name) {
            return call_closure(ctx, &c, args);
        }
        let host_object = name == crate::runtime::docker::DOCKER_STEP
            || name == crate::runtime::artifactory::ARTIFACTORY_STEP;
        if host_object && self.bridge.is_none() {
            return fail(if name == crate::runtime::docker::DOCKER_STEP {
                "the `docker` global runs only where steps run (a script block)"
            } else {
                "the `Artifactory` global runs only where steps run (a script block)"
            });
        }
        if let Some(bridge) = &self.bridge {
            if host_object && !bridge.has(name) {
                bridge.learn(vec![name.to_owned()])?;
            }
            if bridge.has(name) {
                return self.step(ctx, bridge, name, &named, &positional, &body, span);
            }
            if matches!(name, "println" | "print") && bridge.has("echo") {
                let text = positional.first().map(groovy_str).unwrap_or_default();
                return self.step(
                    ctx,
                    bridge,
                    "echo",
                    &Map::new(),
                    &[text.into()],
                    &Dynamic::UNIT,
                    span,
                );
            }
        }
        let first = || {
            named
                .get("message")
                .or(positional.first())
                .map(groovy_str)
                .unwrap_or_default()
        };
        match name {
            "error" => Err(step_failure(first())),
            "load" => crate::load::load(self, ctx, &first_path(&named, &positional), span),
            "echo" | "println" | "print" => {
                tracing::info!(target: "kiln_script", message = %first(), "script output");
                Ok(Dynamic::UNIT)
            }
            _ => throw(GException::new(
                "java.lang.NoSuchMethodError",
                match mismatch {
                    Some(n) => format!("function `{name}` cannot be called with {n} argument(s)"),
                    None => self
                        .missing
                        .get(name)
                        .cloned()
                        .unwrap_or_else(|| format!("no function or step named `{name}`")),
                },
            )),
        }
    }
}

impl RunState {
    /// Sends a step call to the host, with the script's `env`.
    #[expect(clippy::too_many_arguments, reason = "the parts of a step call")]
    pub(crate) fn step(
        &self,
        ctx: &NativeCallContext,
        bridge: &Bridge,
        name: &str,
        named: &Map,
        positional: &[Dynamic],
        body: &Dynamic,
        span: Span,
    ) -> RtResult<Dynamic> {
        let get = || self.lock().env.clone();
        let swap = |env: BTreeMap<String, String>| std::mem::replace(&mut self.lock().env, env);
        let host_time = |d: Duration| self.add_host_time(d);
        let access = EnvAccess {
            get: &get,
            swap: &swap,
            host_time: &host_time,
        };
        bridge.call(ctx, name, named, positional, body, span, &access)
    }
}

/// Whether `e` says that exactly `function` does not exist.
/// The path argument of `load`: `load 'x'` or `load(path: 'x')`.
fn first_path(named: &Map, positional: &Array) -> String {
    named
        .get("path")
        .or(positional.first())
        .map(groovy_str)
        .unwrap_or_default()
}

fn is_not_found(e: &EvalAltResult, function: &str) -> bool {
    match e {
        EvalAltResult::ErrorFunctionNotFound(sig, _) => sig
            .strip_prefix(function)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '('])),
        _ => false,
    }
}

/// Registers the helpers that need this evaluation's state.
pub(crate) fn register(engine: &mut Engine, run: &Arc<RunState>) {
    let r = run.clone();
    engine.on_progress(move |ops| r.check(ops));
    let r = run.clone();
    #[expect(deprecated, reason = "Rhai marks on_var volatile, not deprecated")]
    engine.on_var(move |_, _, ctx| {
        r.check_memory(ctx.call_level(), ctx.scope())?;
        Ok(None)
    });
    let r = run.clone();
    engine.register_fn(
        "__kiln_global",
        move |ctx: NativeCallContext, name: ImmutableString| match r.global(&name) {
            // A class defined by an earlier block (beside a declarative pipeline).
            Err(e) if crate::runtime::instance::class_defined(&ctx, &name) => {
                drop(e);
                Ok(Dynamic::from(crate::runtime::instance::GClassRef(name)))
            }
            other => other,
        },
    );
    let r = run.clone();
    engine.register_fn(
        "__kiln_gprop",
        move |root: ImmutableString, name: ImmutableString| r.property(&root, &name),
    );
    let r = run.clone();
    engine.register_fn("__kiln_gset", move |name: ImmutableString, v: Dynamic| {
        r.set(&name, v)
    });
    let r = run.clone();
    engine.register_fn(
        "__kiln_gset_path",
        move |ctx: NativeCallContext, root: ImmutableString, keys: Array, v: Dynamic| {
            r.set_path(&ctx, &root, keys, v)
        },
    );
    let r = run.clone();
    engine.register_fn(
        "__kiln_gmut",
        move |ctx: NativeCallContext,
              root: ImmutableString,
              keys: Array,
              m: ImmutableString,
              args: Array| { r.mutate_global(&ctx, &root, keys, &m, args) },
    );
    let r = run.clone();
    engine.register_fn(
        "__kiln_call",
        move |ctx: NativeCallContext,
              name: ImmutableString,
              named: Map,
              positional: Array,
              body: Dynamic,
              start: i64,
              end: i64| {
            let span = Span::new(
                u32::try_from(start).unwrap_or(0),
                u32::try_from(end).unwrap_or(0),
            );
            r.call(&ctx, &name, named, positional, body, span)
        },
    );
    let r = run.clone();
    engine.register_fn(
        "__kiln_call_mismatch",
        move |ctx: NativeCallContext,
              name: ImmutableString,
              count: i64,
              named: Map,
              positional: Array,
              body: Dynamic,
              span: Array| {
            let at = |i: usize| {
                span.get(i)
                    .and_then(|v| v.as_int().ok())
                    .and_then(|v| u32::try_from(v).ok())
                    .unwrap_or(0)
            };
            let count = usize::try_from(count).unwrap_or(0);
            r.call_or_mismatch(
                &ctx,
                &name,
                named,
                positional,
                body,
                Span::new(at(0), at(1)),
                Some(count),
            )
        },
    );
}
