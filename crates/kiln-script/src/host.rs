//! Steps called from scripts, and how their closures call back into the script.
//!
//! A script that may call steps runs on its own thread; the caller's thread keeps the
//! `&mut dyn StepHost` and serves requests from the script over channels:
//! - the script sends [`ToHost::Step`] and waits;
//! - the host runs the step; to run the step's closure (`dir('x') { ... }`) it calls
//!   [`StepCall::call_closure`], which sends [`ToScript::RunClosure`] and serves the
//!   script's nested step calls until the closure is done;
//! - the host's answer goes back as [`ToScript::StepDone`].
//!
//! So the host is only ever used on its own thread, needs no `Send` or `'static`, and
//! can nest steps to any depth, with no unsafe code.

use crate::runtime::types::{
    GClosure, GException, RtResult, call_closure, fail, from_value, to_value,
};
use crate::value::{ClosureRef, Value};
use kiln_diagnostics::Span;
use rhai::{Dynamic, EvalAltResult, NativeCallContext, Position};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What runs the steps a script calls.
pub trait StepHost {
    /// Whether `name` is a step; decides whether a call in a script is a step call.
    fn has_step(&self, name: &str) -> bool;

    /// Runs a step. An `Err` is raised in the script as an exception
    /// (`hudson.AbortException`) with that message, which `try/catch` can catch.
    fn call_step(&mut self, name: &str, call: StepCall<'_>) -> Result<Value, String>;

    /// What a call of `name`, which is neither a step nor a function, fails with; `None`
    /// for the script layer's own words (`no function or step named ...`).
    fn missing_step(&self, name: &str) -> Option<String> {
        let _ = name;
        None
    }
}

/// A host without steps, for `when { expression { } }` and other pure evaluations.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSteps;

impl StepHost for NoSteps {
    fn has_step(&self, _: &str) -> bool {
        false
    }

    fn call_step(&mut self, name: &str, _: StepCall<'_>) -> Result<Value, String> {
        Err(format!("steps cannot be called here (`{name}`)"))
    }
}

/// One step call from a script: `sh(script: 'x', returnStdout: true)`,
/// `dir('sub') { ... }`, `parallel(a: { ... }, b: { ... })`.
pub struct StepCall<'a> {
    pub named: BTreeMap<String, Value>,
    pub positional: Vec<Value>,
    /// The trailing closure, if the call has one.
    pub body: Option<ClosureRef>,
    /// The call in the Jenkinsfile.
    pub span: Span,
    /// The script's `env` when it called the step (with its own `env.X = ...` writes), so
    /// the step runs with the environment the script sees.
    pub env: BTreeMap<String, String>,
    link: &'a Link,
}

impl std::fmt::Debug for StepCall<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepCall")
            .field("named", &self.named)
            .field("positional", &self.positional)
            .field("body", &self.body)
            .field("span", &self.span)
            .finish()
    }
}

impl StepCall<'_> {
    /// The named argument `name`, or else the first positional one (how steps read their
    /// main argument: `sh 'x'` and `sh script: 'x'`).
    pub fn arg(&self, name: &str) -> Option<&Value> {
        self.named.get(name).or(self.positional.first())
    }

    /// Runs the trailing closure; steps inside it are served by `host` (the same host, or
    /// one wrapping it, e.g. with another working directory).
    pub fn run_body(&self, host: &mut dyn StepHost) -> Result<Value, String> {
        self.run_body_in(host, None)
    }

    /// Like [`StepCall::run_body`], with `env` as the script's `env` while the body runs
    /// (`withEnv([...]) { echo env.X }`); the body's own `env.X = ...` writes are kept
    /// afterwards.
    pub fn run_body_in(
        &self,
        host: &mut dyn StepHost,
        env: Option<BTreeMap<String, String>>,
    ) -> Result<Value, String> {
        match self.body {
            Some(c) => self.call_closure_in(host, c, Vec::new(), env),
            None => Ok(Value::Null),
        }
    }

    /// Calls a closure the script passed (the body, or one inside the arguments such as
    /// the branches of `parallel`). Errors come back as their message; the script still
    /// sees the original error if the step fails with it.
    pub fn call_closure(
        &self,
        host: &mut dyn StepHost,
        closure: ClosureRef,
        args: Vec<Value>,
    ) -> Result<Value, String> {
        self.call_closure_in(host, closure, args, None)
    }

    /// Like [`StepCall::call_closure`], with `env` as the script's `env` meanwhile.
    pub fn call_closure_in(
        &self,
        host: &mut dyn StepHost,
        closure: ClosureRef,
        args: Vec<Value>,
        env: Option<BTreeMap<String, String>>,
    ) -> Result<Value, String> {
        let sent = self.link.to_script.send(ToScript::RunClosure {
            id: closure.0,
            args,
            env,
        });
        if sent.is_err() {
            return Err("the script is no longer running".to_string());
        }
        serve(self.link, host).unwrap_or_else(|| Err("the script is no longer running".to_string()))
    }
}

pub(crate) enum ToHost {
    Step {
        name: String,
        named: BTreeMap<String, Value>,
        positional: Vec<Value>,
        body: Option<ClosureRef>,
        span: Span,
        env: BTreeMap<String, String>,
    },
    ClosureDone(Result<Value, String>),
    /// Which of these names are steps (for code the script loads while it runs).
    HasSteps(Vec<String>),
    /// The script ended (sent when its thread finishes, even by panicking).
    Finished,
}

/// Sends [`ToHost::Finished`] when dropped.
pub(crate) struct FinishGuard(pub Sender<ToHost>);

impl Drop for FinishGuard {
    fn drop(&mut self) {
        // The host may be gone already; then nobody waits for this.
        let _ = self.0.send(ToHost::Finished);
    }
}

pub(crate) enum ToScript {
    StepDone(Result<Value, String>),
    /// The answer to [`ToHost::HasSteps`]: the names that are steps.
    Steps(Vec<String>),
    RunClosure {
        id: u64,
        args: Vec<Value>,
        env: Option<BTreeMap<String, String>>,
    },
}

/// The host's ends of the channels.
pub(crate) struct Link {
    pub to_script: Sender<ToScript>,
    pub from_script: Receiver<ToHost>,
}

/// Serves step calls until the script reports a closure done (`Some`) or ends (`None`).
pub(crate) fn serve(link: &Link, host: &mut dyn StepHost) -> Option<Result<Value, String>> {
    loop {
        match link.from_script.recv() {
            Ok(ToHost::Step {
                name,
                named,
                positional,
                body,
                span,
                env,
            }) => {
                let call = StepCall {
                    named,
                    positional,
                    body,
                    span,
                    env,
                    link,
                };
                let result = host.call_step(&name, call);
                if link.to_script.send(ToScript::StepDone(result)).is_err() {
                    return None;
                }
            }
            Ok(ToHost::HasSteps(names)) => {
                let steps = names.into_iter().filter(|n| host.has_step(n)).collect();
                if link.to_script.send(ToScript::Steps(steps)).is_err() {
                    return None;
                }
            }
            Ok(ToHost::ClosureDone(result)) => return Some(result),
            Ok(ToHost::Finished) | Err(_) => return None,
        }
    }
}

/// The script's end: sends step calls and runs closures the host asks for.
pub(crate) struct Bridge {
    steps: Mutex<HashSet<String>>,
    to_host: Sender<ToHost>,
    from_host: Mutex<Receiver<ToScript>>,
    closures: Mutex<HashMap<u64, GClosure>>,
}

/// An error of a step, as the script sees it.
pub(crate) fn step_failure(message: String) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(GException::new("hudson.AbortException", message)),
        Position::NONE,
    ))
}

/// The message of a script error, for a host that runs a closure.
pub(crate) fn error_message(e: &EvalAltResult) -> String {
    match e {
        EvalAltResult::ErrorRuntime(v, _) => crate::runtime::exception_of(v).message,
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => error_message(inner),
        other => without_position(other),
    }
}

/// Rhai's message of an error, without the position in generated code.
pub(crate) fn without_position(e: &EvalAltResult) -> String {
    let text = e.to_string();
    match text.rfind(" (line ") {
        Some(i) if text.ends_with(')') => text[..i].to_string(),
        _ => text,
    }
}

/// How a step call reads and replaces the script's `env`, and reports time spent in the
/// host (which does not count as script time).
pub(crate) struct EnvAccess<'a> {
    pub get: &'a dyn Fn() -> BTreeMap<String, String>,
    /// Replaces `env`, returning the previous one.
    pub swap: &'a dyn Fn(BTreeMap<String, String>) -> BTreeMap<String, String>,
    pub host_time: &'a dyn Fn(Duration),
}

/// Puts `saved` back after a closure ran with `given` as its `env`, keeping what the
/// closure itself changed.
fn restore_env(
    globals: &EnvAccess<'_>,
    mut saved: BTreeMap<String, String>,
    given: &BTreeMap<String, String>,
) {
    let after = (globals.swap)(BTreeMap::new());
    for (k, v) in &after {
        if given.get(k) != Some(v) {
            saved.insert(k.clone(), v.clone());
        }
    }
    for k in given.keys() {
        if !after.contains_key(k) {
            saved.remove(k);
        }
    }
    let _ = (globals.swap)(saved);
}

impl Bridge {
    pub fn new(
        steps: HashSet<String>,
        to_host: Sender<ToHost>,
        from_host: Receiver<ToScript>,
    ) -> Self {
        Bridge {
            steps: Mutex::new(steps),
            to_host,
            from_host: Mutex::new(from_host),
            closures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `name` is a step of the host.
    pub fn has(&self, name: &str) -> bool {
        self.steps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(name)
    }

    /// Asks the host which of `names` are steps, and remembers them (code loaded while the
    /// script runs calls steps the script itself did not name).
    pub fn learn(&self, names: Vec<String>) -> RtResult<()> {
        if self.to_host.send(ToHost::HasSteps(names)).is_err() {
            return fail("the step host is gone");
        }
        let reply = self
            .from_host
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        match reply {
            Ok(ToScript::Steps(found)) => {
                self.steps
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend(found);
                Ok(())
            }
            _ => fail("the step host answered out of turn"),
        }
    }

    /// Forgets the closures steps received (they may hold the evaluation's state).
    pub fn clear_closures(&self) {
        self.closures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn value(&self, d: &Dynamic) -> Value {
        let mut closures = self.closures.lock().unwrap_or_else(PoisonError::into_inner);
        to_value(d, &mut |c| {
            let id = closures.len() as u64;
            closures.insert(id, c);
            Value::Closure(ClosureRef(id))
        })
    }

    /// Calls step `name` and serves the host's closure calls until it is done; time spent
    /// in the host is reported to `host_time` (it does not count as script time).
    #[expect(clippy::too_many_arguments, reason = "the parts of a step call")]
    pub fn call(
        &self,
        ctx: &NativeCallContext,
        name: &str,
        named: &rhai::Map,
        positional: &[Dynamic],
        body: &Dynamic,
        span: Span,
        globals: &EnvAccess<'_>,
    ) -> RtResult<Dynamic> {
        let named = named
            .iter()
            .map(|(k, v)| (k.to_string(), self.value(v)))
            .collect();
        let positional = positional.iter().map(|v| self.value(v)).collect();
        let body = match self.value(body) {
            Value::Closure(c) => Some(c),
            _ => None,
        };
        let request = ToHost::Step {
            name: name.to_string(),
            named,
            positional,
            body,
            span,
            env: (globals.get)(),
        };
        if self.to_host.send(request).is_err() {
            return fail("the step host is gone");
        }
        let mut started = Instant::now();
        let mut body_error = None;
        loop {
            let message = {
                let rx = self
                    .from_host
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                rx.recv()
            };
            (globals.host_time)(started.elapsed());
            match message {
                Ok(ToScript::StepDone(Ok(v))) => return Ok(from_value(&v)),
                Ok(ToScript::StepDone(Err(m))) => {
                    return Err(body_error.unwrap_or_else(|| step_failure(m)));
                }
                Ok(ToScript::Steps(_)) => return fail("the step host answered out of turn"),
                Ok(ToScript::RunClosure { id, args, env }) => {
                    let saved = env.clone().map(|e| (globals.swap)(e));
                    let outcome = self.run_closure(ctx, id, args);
                    if let (Some(saved), Some(given)) = (saved, env) {
                        restore_env(globals, saved, &given);
                    }
                    let reply = match outcome {
                        Ok(v) => Ok(self.value(&v)),
                        Err(e) => {
                            let m = error_message(&e);
                            body_error = Some(e);
                            Err(m)
                        }
                    };
                    if self.to_host.send(ToHost::ClosureDone(reply)).is_err() {
                        return fail("the step host is gone");
                    }
                    started = Instant::now();
                }
                Err(_) => return fail("the step host is gone"),
            }
        }
    }

    fn run_closure(&self, ctx: &NativeCallContext, id: u64, args: Vec<Value>) -> RtResult<Dynamic> {
        let closure = self
            .closures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned();
        match closure {
            Some(c) => call_closure(ctx, &c, args.iter().map(from_value).collect()),
            None => fail("the step called a closure that does not exist"),
        }
    }
}
