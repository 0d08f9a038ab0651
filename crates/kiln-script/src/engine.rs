//! The script engine: the one place Rhai engines are made, with the sandbox limits, and
//! the evaluation entry points the build engine calls.

use crate::context::ScriptContext;
use crate::error::ScriptError;
use crate::host::{Bridge, FinishGuard, Link, StepHost, serve};
use crate::run::{RunState, register};
use crate::runtime;
use crate::runtime::types::{as_closure, groovy_str, to_plain_value, truthy};
use crate::translate;
use crate::unit::{Unit, compile, script_error};
use crate::value::Value;
use kiln_diagnostics::{Diagnostic, Span};
use kiln_syntax::ast::{Expr, Quote, Stmt, StrPart, StringLit};
use rhai::packages::{Package, StandardPackage};
use rhai::{Dynamic, Engine, Module, OptimizationLevel, Scope, Shared};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::Duration;

/// The sandbox limits of every script.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Rhai operations per evaluation (roughly: expressions evaluated).
    pub max_operations: u64,
    pub max_call_depth: usize,
    pub max_expr_depth: usize,
    /// Bytes in one string.
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
    /// Script time per evaluation; time spent in steps does not count.
    pub time_limit: Duration,
    /// Bytes one evaluation's values may take at once (approximately; 0: no limit).
    pub max_memory: usize,
    /// Time per evaluation including the steps it calls (`None`: no limit, as in
    /// Jenkins); a build's `timeout` applies either way.
    pub total_time: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 5_000_000,
            max_call_depth: 64,
            max_expr_depth: 128,
            max_string_size: 16 * 1024 * 1024,
            max_array_size: 1_000_000,
            max_map_size: 100_000,
            time_limit: Duration::from_secs(10),
            max_memory: 128 * 1024 * 1024,
            total_time: None,
        }
    }
}

/// What a cache entry was compiled from; compared on a hit, so a different tree with
/// the same spans is never mistaken for the cached one.
#[derive(PartialEq)]
enum Source {
    Block(Vec<Stmt>),
    Expr(Expr),
    Str(StringLit),
}

type Compiled = Result<Arc<Unit>, Arc<Vec<Diagnostic>>>;

/// What a cache entry is found by: the kind of source, its span, its length.
type Key = (u8, u32, u32, usize);

/// Compiled units by the spans of their source.
#[derive(Default)]
struct Cache {
    entries: HashMap<Key, Vec<(Source, Compiled)>>,
    len: usize,
}

/// Entries kept before the cache is emptied.
const CACHE_SIZE: usize = 4096;

/// The script engine: shared by every build, cheap to call repeatedly on the same code.
pub struct ScriptEngine {
    limits: Limits,
    compiler: Engine,
    std: Shared<Module>,
    groovy: Shared<Module>,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for ScriptEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptEngine")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Default for ScriptEngine {
    fn default() -> Self {
        ScriptEngine::new()
    }
}

fn span_of_string(s: &StringLit) -> Span {
    s.parts
        .iter()
        .map(|p| match p {
            StrPart::Text { span, .. } => *span,
            StrPart::Interp(e) => e.span,
        })
        .reduce(Span::to)
        .unwrap_or_default()
}

impl ScriptEngine {
    pub fn new() -> Self {
        ScriptEngine::with_limits(Limits::default())
    }

    pub fn with_limits(limits: Limits) -> Self {
        let std = StandardPackage::new().as_shared_module();
        let groovy = runtime::module();
        let mut engine = ScriptEngine {
            compiler: Engine::new_raw(),
            limits,
            std,
            groovy,
            cache: Mutex::new(Cache::default()),
        };
        engine.compiler = engine.engine();
        engine
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A sandboxed Rhai engine: no module loading, no `eval`, output to tracing, limits on.
    pub(crate) fn engine(&self) -> Engine {
        let mut e = self.library_engine();
        e.disable_symbol("import");
        e
    }

    /// The sandboxed engine for library code, which may `import` the library's own
    /// modules (through a resolver that reads nothing but them).
    pub(crate) fn library_engine(&self) -> Engine {
        let l = &self.limits;
        let mut e = Engine::new_raw();
        e.register_global_module(self.std.clone());
        e.register_global_module(self.groovy.clone());
        e.set_max_operations(l.max_operations)
            .set_max_call_levels(l.max_call_depth)
            .set_max_expr_depths(l.max_expr_depth, l.max_expr_depth)
            .set_max_string_size(l.max_string_size)
            .set_max_array_size(l.max_array_size)
            .set_max_map_size(l.max_map_size)
            .set_optimization_level(OptimizationLevel::Simple);
        e.disable_symbol("eval");
        e.on_print(|s| tracing::info!(target: "kiln_script", message = s, "script print"));
        e.on_debug(|s, _, _| tracing::debug!(target: "kiln_script", message = s, "script debug"));
        e
    }

    fn compiled(
        &self,
        key: Key,
        is: impl Fn(&Source) -> bool,
        source: impl FnOnce() -> Source,
        translate: impl FnOnce(&Source) -> translate::Translation,
    ) -> Compiled {
        {
            let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(hit) = cache
                .entries
                .get(&key)
                .and_then(|v| v.iter().find(|(s, _)| is(s)))
            {
                return hit.1.clone();
            }
        }
        let source = source();
        let compiled = compile(&self.compiler, translate(&source)).map_err(Arc::new);
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len >= CACHE_SIZE {
            *cache = Cache::default();
        }
        cache.len += 1;
        cache
            .entries
            .entry(key)
            .or_default()
            .push((source, compiled.clone()));
        compiled
    }

    fn block_unit(&self, stmts: &[Stmt]) -> Compiled {
        let span = stmts
            .iter()
            .map(|s| s.span)
            .reduce(Span::to)
            .unwrap_or_default();
        let key = (0, span.start, span.end, stmts.len());
        self.compiled(
            key,
            |s| matches!(s, Source::Block(b) if b.as_slice() == stmts),
            || Source::Block(stmts.to_vec()),
            |s| match s {
                Source::Block(b) => translate::block(b),
                _ => translate::block(&[]),
            },
        )
    }

    fn expr_unit(&self, expr: &Expr) -> Compiled {
        let key = (1, expr.span.start, expr.span.end, 0);
        self.compiled(
            key,
            |s| matches!(s, Source::Expr(e) if e == expr),
            || Source::Expr(expr.clone()),
            |s| match s {
                Source::Expr(e) => translate::expression(e),
                _ => translate::block(&[]),
            },
        )
    }

    fn string_unit(&self, s: &StringLit) -> Compiled {
        let span = span_of_string(s);
        let key = (2, span.start, span.end, s.parts.len());
        self.compiled(
            key,
            |src| matches!(src, Source::Str(x) if x == s),
            || Source::Str(s.clone()),
            move |src| match src {
                Source::Str(s) => translate::gstring(s, span),
                _ => translate::block(&[]),
            },
        )
    }

    /// Evaluates an expression (a step argument, an environment value).
    pub fn eval_expr(&self, expr: &Expr, ctx: &mut ScriptContext) -> Result<Value, ScriptError> {
        let unit = self.expr_unit(expr).map_err(translate_error)?;
        let v = self.run(&unit, ctx, None)?;
        Ok(to_plain_value(&v))
    }

    /// The text of a string literal: single-quoted strings verbatim, GStrings interpolated.
    pub fn interpolate(
        &self,
        s: &StringLit,
        ctx: &mut ScriptContext,
    ) -> Result<String, ScriptError> {
        if matches!(s.quote, Quote::Single | Quote::TripleSingle) || s.as_plain().is_some() {
            return Ok(s
                .parts
                .iter()
                .map(|p| match p {
                    StrPart::Text { text, .. } => text.as_str(),
                    StrPart::Interp(_) => "",
                })
                .collect());
        }
        let unit = self.string_unit(s).map_err(translate_error)?;
        let v = self.run(&unit, ctx, None)?;
        Ok(groovy_str(&v))
    }

    /// Runs statements (a `script { }` block, a scripted pipeline, a preamble); calls of
    /// steps go to `host`. Returns the value of the last statement or of `return`.
    pub fn eval_block(
        &self,
        stmts: &[Stmt],
        ctx: &mut ScriptContext,
        host: &mut dyn StepHost,
    ) -> Result<Value, ScriptError> {
        let unit = self.block_unit(stmts).map_err(translate_error)?;
        let v = self.run(&unit, ctx, Some(host))?;
        Ok(to_plain_value(&v))
    }

    /// Runs a `when { expression { ... } }` body and applies Groovy truth to its value.
    pub fn eval_condition(
        &self,
        stmts: &[Stmt],
        ctx: &mut ScriptContext,
    ) -> Result<bool, ScriptError> {
        let unit = self.block_unit(stmts).map_err(translate_error)?;
        let v = self.run(&unit, ctx, None)?;
        Ok(truthy(&v))
    }

    /// Translation and compile problems of a block, for `kiln lint` (syntax errors the
    /// parser reported are not repeated).
    pub fn check_block(&self, stmts: &[Stmt]) -> Vec<Diagnostic> {
        self.check_block_with_classes(stmts, &HashSet::new())
    }

    /// Like [`ScriptEngine::check_block`] for a block that may use the classes `known`
    /// defined elsewhere in the file (beside a declarative pipeline); `new` of any other
    /// class it does not define is an error.
    pub fn check_block_with_classes(
        &self,
        stmts: &[Stmt],
        known: &HashSet<String>,
    ) -> Vec<Diagnostic> {
        let compiled = self.block_unit(stmts);
        let mut out = Vec::new();
        if let Ok(unit) = &compiled {
            for (class, span) in &unit.deferred_classes {
                if !known.contains(class) {
                    out.push(crate::runtime::java::unknown_class(class, *span));
                }
            }
        }
        out.extend(check(compiled));
        out
    }

    /// The names of the classes `stmts` define (`class Zot { }`), for
    /// [`ScriptEngine::check_block_with_classes`].
    pub fn defined_classes(stmts: &[Stmt]) -> HashSet<String> {
        stmts
            .iter()
            .filter_map(|s| match &s.kind {
                kiln_syntax::ast::StmtKind::Class {
                    name,
                    members: Some(_),
                    ..
                } => Some(name.name.clone()),
                _ => None,
            })
            .collect()
    }

    /// The Rhai code generated for a block, for debugging the translation.
    #[doc(hidden)]
    pub fn generated_code(&self, stmts: &[Stmt]) -> Result<String, Vec<Diagnostic>> {
        match self.block_unit(stmts) {
            Ok(u) => Ok(u.code.clone()),
            Err(d) => Err(d.to_vec()),
        }
    }

    /// Like [`ScriptEngine::check_block`] for one expression.
    pub fn check_expr(&self, expr: &Expr) -> Vec<Diagnostic> {
        check(self.expr_unit(expr))
    }

    /// Runs a unit against the context; with a host that has steps the script gets a
    /// thread of its own (see [`crate::host`]).
    fn run(
        &self,
        unit: &Arc<Unit>,
        ctx: &mut ScriptContext,
        host: Option<&mut dyn StepHost>,
    ) -> Result<Dynamic, ScriptError> {
        let mut missing = HashMap::new();
        let steps: HashSet<String> = match &host {
            Some(h) => {
                let mut wanted: HashSet<&str> = std::iter::once(unit)
                    .chain(ctx.library.units.iter())
                    .flat_map(|u| u.calls.iter().map(String::as_str))
                    .collect();
                if wanted.contains("println") || wanted.contains("print") {
                    wanted.insert("echo");
                }
                if wanted.contains("load") {
                    wanted.insert("readFile");
                }
                let (steps, others): (HashSet<&str>, HashSet<&str>) =
                    wanted.into_iter().partition(|n| h.has_step(n));
                for name in others {
                    if let Some(message) = h.missing_step(name) {
                        missing.insert(name.to_string(), message);
                    }
                }
                steps.into_iter().map(str::to_string).collect()
            }
            None => HashSet::new(),
        };
        let library = ctx.library.clone();
        let source = ctx.source.clone();
        // The unit's own AST unless library code joins it: no copy of it per evaluation.
        let ast = match &library.ast {
            Some(lib) => std::borrow::Cow::Owned(lib.merge(&unit.ast)),
            None => std::borrow::Cow::Borrowed(&unit.ast),
        };
        let result = match host {
            Some(host) if !steps.is_empty() => {
                let (to_host, from_script) = mpsc::channel();
                let (to_script, from_host) = mpsc::channel();
                let finish = FinishGuard(to_host.clone());
                let bridge = Bridge::new(steps, to_host, from_host);
                let mut state = RunState::take(ctx, &self.limits, Some(bridge));
                state.missing = missing;
                let link = Link {
                    to_script,
                    from_script,
                };
                let work = |state: &Arc<RunState>| self.execute(&ast, unit, state);
                let (result, state) = self.run_threaded(state, finish, &link, host, &work);
                match state {
                    Some(state) => state.restore(ctx),
                    None => tracing::error!("script state still shared after evaluation"),
                }
                result
            }
            _ => {
                let mut state = RunState::take(ctx, &self.limits, None);
                state.missing = missing;
                let state = Arc::new(state);
                let result = self.execute(&ast, unit, &state);
                match Arc::try_unwrap(state) {
                    Ok(state) => state.restore(ctx),
                    Err(_) => tracing::error!("script state still shared after evaluation"),
                }
                result
            }
        };
        match result {
            Ok((value, exports)) => {
                ctx.vars.extend(exports);
                // Later blocks need this unit's functions if it defined some, or if a
                // variable holds one of its closures.
                let keeps_closure = ctx
                    .vars
                    .values()
                    .any(|v| as_closure(v).is_some_and(|c| unit.functions.contains(c.f.fn_name())));
                if !unit.user_functions.is_empty() || keeps_closure {
                    ctx.library.add(unit);
                }
                Ok(value)
            }
            Err(e) => Err(script_error(&e, unit, &library.units).with_lines(source.as_deref())),
        }
    }

    /// Runs `work` on a script thread of its own while this thread serves its step calls.
    pub(crate) fn run_threaded(
        &self,
        state: RunState,
        finish: FinishGuard,
        link: &Link,
        host: &mut dyn StepHost,
        work: &(dyn Fn(&Arc<RunState>) -> Outcome + Sync),
    ) -> (Outcome, Option<RunState>) {
        let state = Arc::new(state);
        let script_state = state.clone();
        let outcome = std::thread::scope(|s| {
            let spawned = std::thread::Builder::new()
                .name("kiln-script".to_string())
                .stack_size(16 * 1024 * 1024)
                .spawn_scoped(s, move || {
                    // Dropped last, also when unwinding: ends the host's loop below.
                    let _finish = finish;
                    work(&script_state)
                });
            let handle = match spawned {
                Ok(h) => h,
                Err(e) => return Err(internal(format!("cannot start the script thread: {e}"))),
            };
            while serve(link, host).is_some() {}
            handle
                .join()
                .unwrap_or_else(|_| Err(internal("the script thread panicked".to_string())))
        });
        (outcome, Arc::try_unwrap(state).ok())
    }

    fn execute(&self, ast: &rhai::AST, unit: &Unit, state: &Arc<RunState>) -> Outcome {
        let mut engine = self.engine();
        register(&mut engine, state);
        let mut scope = Scope::new();
        let value = engine.eval_ast_with_scope::<Dynamic>(&mut scope, ast)?;
        let exports = unit
            .exports
            .iter()
            .filter_map(|(groovy, rhai)| {
                scope
                    .get_value::<Dynamic>(rhai)
                    .map(|v| (groovy.clone(), v.flatten()))
            })
            .collect();
        Ok((value.flatten(), exports))
    }
}

pub(crate) type Outcome = Result<(Dynamic, Vec<(String, Dynamic)>), Box<rhai::EvalAltResult>>;

fn internal(message: String) -> Box<rhai::EvalAltResult> {
    Box::new(rhai::EvalAltResult::ErrorSystem(message, "kiln".into()))
}

fn translate_error(diags: Arc<Vec<Diagnostic>>) -> ScriptError {
    ScriptError::Translate {
        diagnostics: diags.iter().filter(|d| d.is_error()).cloned().collect(),
    }
}

fn check(compiled: Compiled) -> Vec<Diagnostic> {
    match compiled {
        Ok(_) => Vec::new(),
        Err(diags) => diags
            .iter()
            .filter(|d| d.code != translate::SYNTAX)
            .cloned()
            .collect(),
    }
}
