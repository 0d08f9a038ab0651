//! Shared-library code: the Rhai files of a library (`vars/NAME.rhai` global steps and the
//! `src/` modules they import) compiled in the sandbox, and calls of their global steps.
//!
//! A global step file defines `fn call(args)` and/or `fn call(args, body)` (and `fn call()`
//! for calls without arguments); `args` is the map of named arguments or the single
//! positional one, `body` a function pointer running the caller's block. A file that
//! defines `fn pipeline(args)` builds a whole pipeline (see kiln-library). Inside library
//! code, steps are plain functions: `echo("x")`, `sh(#{script: "make", returnStdout: true})`,
//! `dir("sub", || { sh("make") })`; they go to the same [`StepHost`] as a script's steps.

use crate::ScriptEngine;
use crate::context::ScriptContext;
use crate::engine::Outcome;
use crate::error::ScriptError;
use crate::host::{Bridge, FinishGuard, Link, StepHost, error_message, without_position};
use crate::run::RunState;
use crate::runtime::types::{GClosure, from_value, to_plain_value};
use crate::value::Value;
use kiln_diagnostics::Span;
use rhai::debugger::DebuggerCommand;
use rhai::{
    AST, CallFnOptions, Dynamic, Engine, EvalAltResult, FnPtr, Map, Module, ModuleResolver,
    NativeCallContext, Position, Scope, Shared,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, mpsc};

/// The step name library code uses to run its caller's block.
pub const BODY_STEP: &str = "__kiln_body";

/// What `fn call(` is compiled as: `call` is a keyword in Rhai, so library files' `call`
/// functions get this name of the same length (positions stay right).
const CALL: &str = "Call";

/// `fn call(` -> `fn Call(` (the definitions only; `body.call()` stays).
fn rename_call(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("fn call") {
        let after = &rest[i + 7..];
        let boundary = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric();
        out.push_str(&rest[..i]);
        if boundary && after.trim_start().starts_with('(') {
            out.push_str("fn Call");
        } else {
            out.push_str("fn call");
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Arities of step functions library code may call (`sh()`, `sh(x)`, `dir(x, body)`, ...).
const STEP_ARITIES: usize = 4;

/// One file of a library: its path inside the library (`vars/build.rhai`) and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibraryFile {
    pub path: String,
    pub text: String,
}

/// A global step (`vars/NAME.rhai`).
struct GlobalStep {
    file: String,
    ast: AST,
    /// The arities of its `call` functions.
    call_arities: Vec<usize>,
    /// Whether it defines `fn pipeline(args)`.
    pipeline: bool,
}

/// The compiled code of one library (at one version).
pub struct LibraryCode {
    label: String,
    steps: BTreeMap<String, GlobalStep>,
    modules: Arc<Modules>,
    /// Names library code calls as functions: the candidates for steps.
    calls: Vec<String>,
}

impl std::fmt::Debug for LibraryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LibraryCode")
            .field("label", &self.label)
            .field("steps", &self.steps.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl LibraryCode {
    /// `name@version`, as errors name the library.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The global steps (`vars/` file names without `.rhai`).
    pub fn step_names(&self) -> impl Iterator<Item = &str> {
        self.steps.keys().map(String::as_str)
    }

    pub fn has_step(&self, name: &str) -> bool {
        self.steps.contains_key(name)
    }

    /// Whether global step `name` builds a pipeline (`fn pipeline(args)`).
    pub fn builds_pipeline(&self, name: &str) -> bool {
        self.steps.get(name).is_some_and(|s| s.pipeline)
    }
}

/// The `src/` modules of a library, compiled when first imported.
struct Modules {
    /// Import path (`org/acme/maven`) -> file.
    files: BTreeMap<String, LibraryFile>,
    compiled: Mutex<HashMap<String, Shared<Module>>>,
}

/// Resolves `import "path"` to the library's own modules, and nothing else.
struct Resolver(Arc<Modules>);

impl ModuleResolver for Resolver {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let key = path.trim_end_matches(".rhai");
        if let Some(m) = lock(&self.0.compiled).get(key) {
            return Ok(m.clone());
        }
        let Some(file) = self.0.files.get(key) else {
            return Err(Box::new(EvalAltResult::ErrorModuleNotFound(
                path.to_string(),
                pos,
            )));
        };
        let in_module = |e: Box<EvalAltResult>| {
            Box::new(EvalAltResult::ErrorInModule(file.path.clone(), e, pos))
        };
        let mut ast = engine
            .compile(&file.text)
            .map_err(|e| in_module(e.into()))?;
        ast.set_source(file.path.as_str());
        let module = Module::eval_ast_as_new(Scope::new(), &ast, engine).map_err(in_module)?;
        let module = Shared::new(module);
        lock(&self.0.compiled).insert(key.to_string(), module.clone());
        Ok(module)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ScriptEngine {
    /// Compiles a library: `vars` are its global steps (`vars/NAME.rhai`), `src` its
    /// modules (`src/PATH.rhai`, imported as `import "PATH" as m;`). `label` names the
    /// library in errors (`name@version`). Every file is compiled now, so syntax errors
    /// show when the library loads, with file, line and column.
    pub fn compile_library(
        &self,
        label: &str,
        vars: Vec<LibraryFile>,
        src: Vec<LibraryFile>,
    ) -> Result<LibraryCode, ScriptError> {
        let engine = self.library_engine();
        let mut steps = BTreeMap::new();
        let mut calls: HashSet<String> = HashSet::new();
        for file in vars.iter().chain(&src) {
            let text = rename_call(&file.text);
            let ast = engine.compile(&text).map_err(|e| {
                let pos = e.position();
                located(
                    label,
                    &file.path,
                    pos,
                    format!("syntax error: {}", e.err_type()),
                )
            })?;
            calls.extend(called_names(&file.text));
            let Some(name) = step_name(&file.path) else {
                continue;
            };
            let mut ast = ast;
            ast.set_source(file.path.as_str());
            let call_arities = ast
                .iter_functions()
                .filter(|f| f.name == CALL)
                .map(|f| f.params.len())
                .collect();
            let pipeline = ast
                .iter_functions()
                .any(|f| f.name == "pipeline" && f.params.len() == 1);
            steps.insert(
                name.to_string(),
                GlobalStep {
                    file: file.path.clone(),
                    ast,
                    call_arities,
                    pipeline,
                },
            );
        }
        let files = src
            .into_iter()
            .map(|f| {
                let key = f
                    .path
                    .trim_start_matches("src/")
                    .trim_end_matches(".rhai")
                    .to_string();
                (key, f)
            })
            .collect();
        let mut calls: Vec<String> = calls.into_iter().collect();
        calls.sort();
        Ok(LibraryCode {
            label: label.to_string(),
            steps,
            modules: Arc::new(Modules {
                files,
                compiled: Mutex::new(HashMap::new()),
            }),
            calls,
        })
    }

    /// Calls global step `step` of a library: `args` is the map of named arguments or
    /// the single positional one (`Null` for none); with `body`, the step's `body`
    /// function pointer sends [`BODY_STEP`] to `host`, which runs the caller's block.
    pub fn call_library(
        &self,
        code: &LibraryCode,
        step: &str,
        args: &Value,
        body: bool,
        ctx: &mut ScriptContext,
        host: &mut dyn StepHost,
    ) -> Result<Value, ScriptError> {
        let g = global(code, step)?;
        let arity = pick_arity(code, step, g, args, body)?;
        let mut steps: HashSet<String> = code
            .calls
            .iter()
            .filter(|n| host.has_step(n))
            .cloned()
            .collect();
        steps.insert(BODY_STEP.to_string());
        let (to_host, from_script) = mpsc::channel();
        let (to_script, from_host) = mpsc::channel();
        let finish = FinishGuard(to_host.clone());
        let bridge = Bridge::new(steps, to_host, from_host);
        let state = RunState::take(ctx, self.limits(), Some(bridge));
        let link = Link {
            to_script,
            from_script,
        };
        let work = |state: &Arc<RunState>| self.execute_library(code, g, CALL, arity, args, state);
        let (result, state) = self.run_threaded(state, finish, &link, host, &work);
        let last = state.as_ref().and_then(RunState::last_statement);
        match state {
            Some(state) => state.restore(ctx),
            None => tracing::error!("library state still shared after evaluation"),
        }
        result
            .map(|(v, _)| to_plain_value(&v))
            .map_err(|e| library_error(code, g, &e, last))
    }

    /// Calls `fn pipeline(args)` of global step `step`: what it returns describes a
    /// pipeline. No steps can be called from it.
    pub fn library_pipeline(
        &self,
        code: &LibraryCode,
        step: &str,
        args: &Value,
        ctx: &mut ScriptContext,
    ) -> Result<Value, ScriptError> {
        let g = global(code, step)?;
        if !g.pipeline {
            return Err(located(
                &code.label,
                &g.file,
                Position::NONE,
                format!("`{step}` defines no `fn pipeline(args)`"),
            ));
        }
        let state = Arc::new(RunState::take(ctx, self.limits(), None));
        let result = self.execute_library(code, g, "pipeline", 1, args, &state);
        let last = state.last_statement();
        match Arc::try_unwrap(state) {
            Ok(state) => state.restore(ctx),
            Err(_) => tracing::error!("library state still shared after evaluation"),
        }
        result
            .map(|(v, _)| to_plain_value(&v))
            .map_err(|e| library_error(code, g, &e, last))
    }

    fn execute_library(
        &self,
        code: &LibraryCode,
        g: &GlobalStep,
        function: &str,
        arity: usize,
        args: &Value,
        state: &Arc<RunState>,
    ) -> Outcome {
        let mut engine = self.library_engine();
        engine.set_module_resolver(Resolver(code.modules.clone()));
        crate::run::register(&mut engine, state);
        track_statements(&mut engine, state);
        let mut call_args = Vec::with_capacity(arity);
        if arity >= 1 {
            call_args.push(from_value(args));
        }
        if arity >= 2 {
            register_steps(&mut engine, state, &code.calls);
            call_args.push(Dynamic::from(body_pointer(state)?));
        } else if state.bridge.is_some() {
            register_steps(&mut engine, state, &code.calls);
        }
        let options = CallFnOptions::new().rewind_scope(true);
        let result = engine.call_fn_with_options::<Dynamic>(
            options,
            &mut Scope::new(),
            &g.ast,
            function,
            call_args,
        );
        // Closures handed to steps may hold the body pointer, which holds the state.
        if let Some(bridge) = &state.bridge {
            bridge.clear_closures();
        }
        Ok((result?.flatten(), Vec::new()))
    }
}

/// Records the file and position of each statement library code runs, so that a limit
/// (which Rhai reports at the outermost call, here none) can name where it struck.
fn track_statements(engine: &mut rhai::Engine, state: &Arc<RunState>) {
    let at = state.clone();
    #[expect(
        deprecated,
        reason = "Rhai marks the debugger interface volatile, not deprecated"
    )]
    engine.register_debugger(
        // The debugger starts in its initial state; the first `Next` keeps it stepping.
        |_, debugger| debugger,
        move |_, _, _, source, pos| {
            at.set_last_statement(source, pos);
            Ok(DebuggerCommand::Next)
        },
    );
}

fn global<'c>(code: &'c LibraryCode, step: &str) -> Result<&'c GlobalStep, ScriptError> {
    code.steps.get(step).ok_or_else(|| {
        located(
            &code.label,
            &format!("vars/{step}.rhai"),
            Position::NONE,
            format!("library has no global step `{step}`"),
        )
    })
}

/// Which `call` to run: `call(args, body)` for a block, else `call(args)` (or `call()`
/// without arguments).
fn pick_arity(
    code: &LibraryCode,
    step: &str,
    g: &GlobalStep,
    args: &Value,
    body: bool,
) -> Result<usize, ScriptError> {
    let has = |n| g.call_arities.contains(&n);
    let arity = match (body, args) {
        (true, _) if has(2) => Some(2),
        (false, Value::Null) if has(0) => Some(0),
        (false, _) if has(1) => Some(1),
        _ => None,
    };
    arity.ok_or_else(|| {
        let wanted = if body {
            "`fn call(args, body)` (the step was called with a block)"
        } else {
            "`fn call(args)`"
        };
        located(
            &code.label,
            &g.file,
            Position::NONE,
            format!("`{step}` cannot be called like this: its file defines no {wanted}"),
        )
    })
}

/// The `body` argument: a function pointer asking the host to run the caller's block.
fn body_pointer(state: &Arc<RunState>) -> Result<FnPtr, Box<EvalAltResult>> {
    let r = state.clone();
    #[expect(
        deprecated,
        reason = "native function pointers are marked volatile in Rhai"
    )]
    FnPtr::from_fn(BODY_STEP, move |ctx: NativeCallContext, _args| {
        let Some(bridge) = &r.bridge else {
            return Ok(Dynamic::UNIT);
        };
        r.step(
            &ctx,
            bridge,
            BODY_STEP,
            &Map::new(),
            &[],
            &Dynamic::UNIT,
            Span::default(),
        )
    })
}

/// Registers every name library code calls that is a step as a function of 0 to 3
/// arguments: a single map is the named arguments, a trailing function pointer the block.
fn register_steps(engine: &mut Engine, state: &Arc<RunState>, calls: &[String]) {
    let Some(bridge) = &state.bridge else { return };
    for name in calls.iter().filter(|n| bridge.has(n)) {
        for arity in 0..STEP_ARITIES {
            let r = state.clone();
            let step = name.clone();
            let types = vec![std::any::TypeId::of::<Dynamic>(); arity];
            engine.register_raw_fn(name.as_str(), types, move |ctx, args| {
                let args: Vec<Dynamic> = args.iter_mut().map(|a| a.take()).collect();
                step_call(&r, &ctx, &step, args)
            });
        }
    }
}

fn step_call(
    r: &RunState,
    ctx: &NativeCallContext,
    name: &str,
    mut args: Vec<Dynamic>,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let Some(bridge) = &r.bridge else {
        return Ok(Dynamic::UNIT);
    };
    let body = match args.last() {
        Some(last) if last.is_fnptr() => {
            let f = args.pop().and_then(|d| d.try_cast::<FnPtr>());
            f.map_or(Dynamic::UNIT, |f| Dynamic::from(GClosure { f, arity: 0 }))
        }
        _ => Dynamic::UNIT,
    };
    let (named, positional) = match args.as_slice() {
        [one] if one.is_map() => (one.clone().cast::<Map>(), Vec::new()),
        _ => (Map::new(), args),
    };
    r.step(
        ctx,
        bridge,
        name,
        &named,
        &positional,
        &body,
        Span::default(),
    )
}

/// The global step a `vars/NAME.rhai` path defines.
fn step_name(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("vars/")?.strip_suffix(".rhai")?;
    (!rest.contains('/')).then_some(rest)
}

/// Identifiers followed by `(`: the functions a file may call.
fn called_names(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_alphabetic() || bytes[i] == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let mut j = i;
            while j < bytes.len() && bytes[j] == b' ' {
                j += 1;
            }
            let after_dot = start > 0 && bytes[start - 1] == b'.';
            if j < bytes.len() && bytes[j] == b'(' && !after_dot {
                out.push(text[start..i].to_string());
            }
        } else {
            i += 1;
        }
    }
    out
}

/// A library error at a position of one of its files.
fn located(label: &str, file: &str, pos: Position, message: String) -> ScriptError {
    ScriptError::Library {
        library: label.to_string(),
        file: file.to_string(),
        line: pos.line().unwrap_or(0),
        column: pos.position().unwrap_or(0),
        message,
    }
}

/// Maps a Rhai error of library code to the innermost file and position it passed; when
/// Rhai gives none (limits), to `last`, the last statement the library ran.
fn library_error(
    code: &LibraryCode,
    g: &GlobalStep,
    err: &EvalAltResult,
    last: Option<(String, Position)>,
) -> ScriptError {
    let mut file = g.file.clone();
    let mut fallback = (file.clone(), err.position());
    let mut e = err;
    loop {
        match e {
            EvalAltResult::ErrorInFunctionCall(_, source, inner, pos) => {
                if !pos.is_none() {
                    fallback = (file.clone(), *pos);
                }
                if !source.is_empty() {
                    file.clone_from(source);
                }
                e = inner;
            }
            EvalAltResult::ErrorInModule(path, inner, pos) => {
                if !pos.is_none() {
                    fallback = (file.clone(), *pos);
                }
                file.clone_from(path);
                e = inner;
            }
            _ => break,
        }
    }
    let (file, pos) = if !e.position().is_none() {
        (file, e.position())
    } else if let Some(last) = last.filter(|_| fallback.1.is_none()) {
        last
    } else {
        fallback
    };
    located(&code.label, &file, pos, library_message(e))
}

fn library_message(e: &EvalAltResult) -> String {
    match e {
        EvalAltResult::ErrorRuntime(..) => error_message(e),
        EvalAltResult::ErrorFunctionNotFound(sig, _) => {
            let name = sig.split([' ', '(']).next().unwrap_or(sig);
            format!("no function or step named `{name}`")
        }
        EvalAltResult::ErrorTooManyOperations(_) => {
            "library code exceeded its operation limit (a loop that does not end?)".to_string()
        }
        EvalAltResult::ErrorTerminated(token, _) => {
            if token
                .clone()
                .into_string()
                .is_ok_and(|t| t == crate::run::CANCELLED)
            {
                "build was cancelled".to_string()
            } else {
                "library code exceeded its time limit".to_string()
            }
        }
        EvalAltResult::ErrorStackOverflow(_) => {
            "library calls nested too deeply (endless recursion?)".to_string()
        }
        other => without_position(other),
    }
}
