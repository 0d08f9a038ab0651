//! kiln's script layer: Groovy from Jenkinsfiles, translated to Rhai and run in a sandbox.
//!
//! Entry points are on [`ScriptEngine`]: [`eval_expr`](ScriptEngine::eval_expr) and
//! [`interpolate`](ScriptEngine::interpolate) for step arguments and environment values,
//! [`eval_block`](ScriptEngine::eval_block) for `script { }` blocks and scripted
//! pipelines (steps go to a [`StepHost`]), [`eval_condition`](ScriptEngine::eval_condition)
//! for `when { expression { } }`, and [`check_block`](ScriptEngine::check_block) for
//! `kiln lint`. Every error carries the Jenkinsfile span of the Groovy construct at fault.
//!
//! How it works: `translate` turns the syntax tree into Rhai source plus a position map;
//! `runtime` is a Rhai module of helpers with Groovy's semantics (equality, `+`,
//! truth, the GDK methods on strings, lists and maps, regexes); `run` holds one
//! evaluation's globals and dispatches calls to steps; `host` runs scripts that call steps
//! on a thread of their own so step closures can call back into the script.
//!
//! Design choices:
//! - Globals (`env`, `params`, `currentBuild`, script variables) live outside Rhai, behind
//!   helpers registered per evaluation, so Rhai functions (which see no outer variables)
//!   reach them exactly like top-level code does.
//! - Maps are Rhai maps holding a hidden list of their keys in insertion order, which every
//!   helper honours (`runtime::omap`), so they behave as Groovy's `LinkedHashMap`.
//! - Classes a script defines are Rhai functions over shared instances (`runtime::instance`).
//! - The sandbox: no module loading, no `eval`, no file, process or network access; limits
//!   on operations, call depth, expression depth, string and collection sizes, and script
//!   time (time in steps excluded); the cancellation flag is checked on every operation.
//!
//! Shared-library code (`vars/NAME.rhai`, `src/` modules) is compiled with
//! [`compile_library`](ScriptEngine::compile_library) and its global steps run with
//! [`call_library`](ScriptEngine::call_library); the library's body callback reaches the
//! host as the step [`BODY_STEP`].
//!
//! This crate does no IO and depends on no other kiln crate than syntax and diagnostics.

mod context;
mod engine;
mod error;
mod host;
mod library;
mod load;
mod memory;
mod run;
mod runtime;
mod translate;
mod unit;
mod value;

pub use context::{CurrentBuild, ScriptContext};
pub use engine::{Limits, ScriptEngine};
pub use error::ScriptError;
pub use host::{NoSteps, StepCall, StepHost};
pub use library::{BODY_STEP, LibraryCode, LibraryFile};
pub use runtime::artifactory::{ARTIFACTORY_KEY, ARTIFACTORY_STEP};
pub use runtime::docker::{DOCKER_KEY, DOCKER_STEP, RECEIVER_UPDATE, RESULT};
pub use runtime::java::UNKNOWN_CLASS;
pub use value::{ClosureRef, Value};
