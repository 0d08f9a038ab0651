//! A translated and compiled block or expression, and the mapping of Rhai errors back to
//! the Jenkinsfile.

use crate::error::ScriptError;
use crate::run::{CANCELLED, TIMEOUT};
use crate::translate::posmap::PosMap;
use crate::translate::{Translation, names};
use kiln_diagnostics::{Diagnostic, Span};
use rhai::{AST, Engine, EvalAltResult, Position};
use std::collections::HashSet;
use std::sync::Arc;

/// Compiled Rhai for one piece of Groovy.
pub(crate) struct Unit {
    pub ast: AST,
    pub map: PosMap,
    /// Top-level declarations to keep as script variables: `(groovy, rhai)` names.
    pub exports: Vec<(String, String)>,
    /// Rhai names of every function in the AST (user functions and closures).
    pub functions: HashSet<String>,
    /// Groovy names of the user functions.
    pub user_functions: Vec<String>,
    /// Names called that may be steps.
    pub calls: Vec<String>,
    /// Classes used with `new` that the code does not define, with where.
    pub deferred_classes: Vec<(String, Span)>,
    /// The generated code, for debugging.
    pub code: String,
}

impl std::fmt::Debug for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.code)
    }
}

/// Compiles a translation; translation errors and compile errors become diagnostics.
pub(crate) fn compile(engine: &Engine, t: Translation) -> Result<Arc<Unit>, Vec<Diagnostic>> {
    if t.diagnostics.iter().any(Diagnostic::is_error) {
        return Err(t.diagnostics);
    }
    let ast = match engine.compile(&t.code) {
        Ok(ast) => ast,
        Err(e) => {
            let span = map_position(&t.map, e.position());
            tracing::warn!(error = %e, code = %t.code, "translated script did not compile");
            let message = e.err_type().to_string();
            return Err(vec![
                Diagnostic::error(
                    "script-compile",
                    format!("this script cannot be compiled: {message}"),
                )
                .with_primary(span, "here"),
            ]);
        }
    };
    let functions: HashSet<String> = ast.iter_functions().map(|f| f.name.to_string()).collect();
    let prefix = format!("{}fn_", names::PREFIX);
    let user_functions = functions
        .iter()
        .filter_map(|f| f.strip_prefix(&prefix).map(str::to_string))
        .collect();
    Ok(Arc::new(Unit {
        ast,
        exports: t.exports,
        functions,
        user_functions,
        calls: calls(&t.code),
        deferred_classes: t.deferred_classes,
        map: t.map,
        code: t.code,
    }))
}

/// The names in `__kiln_call("name", ...)` (and `__kiln_call_mismatch`) calls of generated code, the steps
/// `new File(...)` reads and writes with, and the steps serving the `docker` and
/// `Artifactory` objects when the code may call their methods (it names the global, or
/// calls a method of a value, which may be such an object made by an earlier block).
fn calls(code: &str) -> Vec<String> {
    let files: &[&str] = if code.contains("__kiln_new_object(\"File\"") {
        crate::runtime::file::STEPS
    } else {
        &[]
    };
    let objects: &[&str] = if code.contains("__kiln_global(\"docker\")")
        || code.contains("__kiln_global(\"Artifactory\")")
        || code.contains("__kiln_m")
        || code.contains("__kiln_safe_m")
    {
        &[
            crate::runtime::docker::DOCKER_STEP,
            crate::runtime::artifactory::ARTIFACTORY_STEP,
        ]
    } else {
        &[]
    };
    let files = files.iter().chain(objects).map(|s| s.to_string());
    let mut out: Vec<String> = code
        .match_indices("__kiln_call(\"")
        .chain(code.match_indices("__kiln_call_mismatch(\""))
        .filter_map(|(i, m)| {
            let rest = &code[i + m.len()..];
            rest.find('"').map(|end| rest[..end].to_string())
        })
        .chain(files)
        .collect();
    out.sort();
    out.dedup();
    out
}

fn map_position(map: &PosMap, pos: Position) -> Span {
    match (pos.line(), pos.position()) {
        (Some(line), column) => map.lookup(line, column.unwrap_or(1)),
        _ => None,
    }
    .or_else(|| map.outermost())
    .unwrap_or_default()
}

/// Maps a Rhai error to a [`ScriptError`]: the innermost position, in the unit that
/// defines the innermost function the error passed through.
pub(crate) fn script_error(
    err: &EvalAltResult,
    current: &Unit,
    library: &[Arc<Unit>],
) -> ScriptError {
    let mut unit = current;
    let mut outer_span = None;
    let mut e = err;
    loop {
        let pos = e.position();
        if !pos.is_none() {
            outer_span = Some(map_position(&unit.map, pos));
        }
        match e {
            EvalAltResult::ErrorInFunctionCall(name, _, inner, _) => {
                if let Some(u) = std::iter::once(current)
                    .chain(library.iter().map(AsRef::as_ref))
                    .find(|u| u.functions.contains(name.as_str()))
                {
                    unit = u;
                }
                e = inner;
            }
            _ => break,
        }
    }
    let pos = e.position();
    let span = if pos.is_none() {
        outer_span.unwrap_or_else(|| unit.map.outermost().unwrap_or_default())
    } else {
        map_position(&unit.map, pos)
    };
    classify(e, span)
}

fn classify(e: &EvalAltResult, span: Span) -> ScriptError {
    let line = None;
    match e {
        EvalAltResult::ErrorTerminated(token, _) => {
            if token.clone().into_string().is_ok_and(|t| t == CANCELLED) {
                ScriptError::Cancelled { span, line }
            } else {
                debug_assert!(token.clone().into_string().is_ok_and(|t| t == TIMEOUT));
                ScriptError::TimeLimit { span, line }
            }
        }
        EvalAltResult::ErrorTooManyOperations(_) => ScriptError::Limit {
            message: "script exceeded its operation limit (a loop that does not end?)".to_string(),
            span,
            line,
        },
        EvalAltResult::ErrorDataTooLarge(what, _) => ScriptError::Limit {
            message: format!("script data too large: {}", lower_first(what)),
            span,
            line,
        },
        EvalAltResult::ErrorStackOverflow(_) => ScriptError::Limit {
            message: "script calls nested too deeply (endless recursion?)".to_string(),
            span,
            line,
        },
        EvalAltResult::ErrorTooManyVariables(_) | EvalAltResult::ErrorTooManyModules(_) => {
            ScriptError::Limit {
                message: "script uses too many variables".to_string(),
                span,
                line,
            }
        }
        EvalAltResult::ErrorRuntime(v, _) => {
            let ex = crate::runtime::exception_of(v);
            ScriptError::Runtime {
                message: ex.message,
                exception: ex.class,
                span,
                line,
            }
        }
        EvalAltResult::ErrorFunctionNotFound(sig, _) => ScriptError::Runtime {
            message: not_found_message(sig),
            exception: "groovy.lang.MissingMethodException".to_string(),
            span,
            line,
        },
        other => ScriptError::Runtime {
            message: crate::host::without_position(other).to_lowercase(),
            exception: "java.lang.RuntimeException".to_string(),
            span,
            line,
        },
    }
}

/// "Function not found: __kiln_fn_f (i64)" as the user wrote it.
fn not_found_message(sig: &str) -> String {
    let prefix = format!("{}fn_", names::PREFIX);
    let (name, args) = sig.split_once(' ').unwrap_or((sig, ""));
    match name.strip_prefix(&prefix) {
        Some(f) => {
            let n = args.matches(',').count()
                + usize::from(!args.trim_matches(['(', ')', ' ']).is_empty());
            format!("function `{f}` cannot be called with {n} argument(s)")
        }
        None => format!("no function `{name}`"),
    }
}

/// Rhai's "Length of string" as "length of string"; kiln's own messages are unchanged.
fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
