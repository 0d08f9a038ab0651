//! Pipelines defined by parameters: a Jenkinsfile that is one call of a library step, such
//! as `standardPipeline(language: 'java', deploy: true)`, whose `vars/` file defines
//! `fn pipeline(args)`. The function returns either declarative pipeline text or a map
//! describing it, which [`render_pipeline`] writes as declarative text:
//!
//! ```text
//! #{
//!     agent: "any",                       // or #{ docker: "image" }, #{ label: "x" }
//!     environment: #{ NAME: "value" },
//!     options: ["timestamps()"],          // directive text
//!     stages: [
//!         #{ name: "Build", steps: ["sh 'make'", #{ sh: "make test" }],
//!            when: "branch 'main'", environment: #{}, post: #{} },
//!     ],
//!     post: #{ always: ["echo 'done'"] },
//! }
//! ```
//!
//! Steps are Groovy step text, or a map of one step name to its argument (a string or a map
//! of named arguments). The text is then parsed, validated and planned like a written
//! Jenkinsfile, so every mistake is reported with a position in the generated text.

use crate::{Libraries, LibraryError};
use kiln_script::{ScriptContext, ScriptEngine, Value};
use kiln_syntax::ast::{ExprKind, Stmt, StmtKind};
use std::fmt::Write as _;

/// A pipeline a library generated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedPipeline {
    /// The library (`name@version`) and the step that built it.
    pub library: String,
    pub step: String,
    /// Declarative pipeline text.
    pub text: String,
}

impl GeneratedPipeline {
    /// The name to show for the generated text in diagnostics.
    pub fn file_name(&self) -> String {
        format!(
            "{} vars/{}.rhai (generated pipeline)",
            self.library, self.step
        )
    }
}

/// When the script is a single call of a library step that builds pipelines, calls its
/// `fn pipeline(args)` and returns the pipeline text; `None` for any other script.
pub fn generated_pipeline(
    statements: &[Stmt],
    libraries: &Libraries,
    engine: &ScriptEngine,
) -> Result<Option<GeneratedPipeline>, LibraryError> {
    let mut calls = statements
        .iter()
        .filter(|s| !matches!(s.kind, StmtKind::Var { .. } | StmtKind::Function { .. }));
    let (Some(stmt), None) = (calls.next(), calls.next()) else {
        return Ok(None);
    };
    let StmtKind::Expr(expr) = &stmt.kind else {
        return Ok(None);
    };
    let ExprKind::Call { callee, args, .. } = &expr.kind else {
        return Ok(None);
    };
    let Some(name) = callee.as_ident() else {
        return Ok(None);
    };
    let Some(lib) = libraries.step(name) else {
        return Ok(None);
    };
    if !lib.code.builds_pipeline(name) {
        return Ok(None);
    }
    let mut ctx = ScriptContext::new();
    let mut named = Vec::new();
    let mut positional = Vec::new();
    for a in args {
        let v = engine.eval_expr(&a.value, &mut ctx)?;
        match &a.name {
            Some(n) => named.push((n.name.clone(), v)),
            None => positional.push(v),
        }
    }
    let value = match (named.is_empty(), positional.len()) {
        (false, _) => Value::Map(named),
        (true, 1) => positional.remove(0),
        (true, 0) => Value::Map(Vec::new()),
        (true, _) => Value::List(positional),
    };
    let built = engine.library_pipeline(&lib.code, name, &value, &mut ctx)?;
    let text = match &built {
        Value::Str(s) => s.clone(),
        Value::Map(_) => render_pipeline(&built).map_err(|m| LibraryError::Pipeline {
            message: format!("`{name}` of library {}: {m}", lib.label()),
        })?,
        other => {
            return Err(LibraryError::Pipeline {
                message: format!(
                    "`{name}` of library {}: `pipeline(args)` must return a map or pipeline text, not {}",
                    lib.label(),
                    other.kind()
                ),
            });
        }
    };
    // The generated pipeline loads the same libraries, so their steps are known.
    let loads: String = libraries
        .iter()
        .map(|l| format!("@Library('{}') _\n", l.name))
        .collect();
    Ok(Some(GeneratedPipeline {
        library: lib.label().to_string(),
        step: name.to_string(),
        text: format!("{loads}{text}"),
    }))
}

/// Writes a pipeline map (see the module docs) as declarative pipeline text.
pub fn render_pipeline(map: &Value) -> Result<String, String> {
    let mut out = String::from("pipeline {\n");
    match map.get("agent") {
        Some(a) => agent(&mut out, a, "agent", 1)?,
        None => out.push_str("    agent any\n"),
    }
    if let Some(env) = map.get("environment") {
        environment(&mut out, env, "environment", 1)?;
    }
    for directive in ["options", "parameters", "triggers"] {
        if let Some(items) = map.get(directive) {
            block(&mut out, directive, &texts(items, directive)?, 1);
        }
    }
    let stages = match map.get("stages") {
        Some(Value::List(s)) if !s.is_empty() => s,
        _ => return Err("`stages` must be a non-empty list of stage maps".to_string()),
    };
    out.push_str("    stages {\n");
    for (i, s) in stages.iter().enumerate() {
        stage(&mut out, s, &format!("stages[{i}]"))?;
    }
    out.push_str("    }\n");
    if let Some(p) = map.get("post") {
        post(&mut out, p, "post", 1)?;
    }
    out.push_str("}\n");
    Ok(out)
}

fn pad(depth: usize) -> String {
    "    ".repeat(depth)
}

/// A Groovy single-quoted string.
fn quote(s: &str) -> String {
    format!(
        "'{}'",
        s.replace('\\', "\\\\")
            .replace('\'', "\\'")
            .replace('\n', "\\n")
    )
}

fn agent(out: &mut String, a: &Value, at: &str, depth: usize) -> Result<(), String> {
    let p = pad(depth);
    match a {
        Value::Str(s) if s == "any" || s == "none" => {
            let _ = writeln!(out, "{p}agent {s}");
        }
        Value::Map(entries) => match entries.as_slice() {
            [(k, Value::Str(v))] if k == "docker" => {
                let _ = writeln!(out, "{p}agent {{ docker {{ image {} }} }}", quote(v));
            }
            [(k, Value::Str(v))] if k == "label" => {
                let _ = writeln!(out, "{p}agent {{ label {} }}", quote(v));
            }
            [(k, Value::Str(v))] if k == "kubernetes" => {
                let _ = writeln!(out, "{p}agent {{ kubernetes {{ yaml {} }} }}", quote(v));
            }
            _ => {
                return Err(format!(
                    "`{at}` must be #{{docker: \"image\"}}, #{{label: \"x\"}} or #{{kubernetes: \"pod yaml\"}}"
                ));
            }
        },
        _ => return Err(format!("`{at}` must be \"any\", \"none\" or a map")),
    }
    Ok(())
}

fn environment(out: &mut String, env: &Value, at: &str, depth: usize) -> Result<(), String> {
    let Value::Map(entries) = env else {
        return Err(format!("`{at}` must be a map of names to values"));
    };
    let _ = writeln!(out, "{}environment {{", pad(depth));
    for (k, v) in entries {
        let _ = writeln!(out, "{}{k} = {}", pad(depth + 1), quote(&v.to_string()));
    }
    let _ = writeln!(out, "{}}}", pad(depth));
    Ok(())
}

fn texts(items: &Value, at: &str) -> Result<Vec<String>, String> {
    match items {
        Value::List(l) => l
            .iter()
            .map(|v| match v {
                Value::Str(s) => Ok(s.clone()),
                other => Err(format!("`{at}` must hold strings, not {}", other.kind())),
            })
            .collect(),
        Value::Str(s) => Ok(vec![s.clone()]),
        other => Err(format!(
            "`{at}` must be a list of strings, not {}",
            other.kind()
        )),
    }
}

fn block(out: &mut String, name: &str, lines: &[String], depth: usize) {
    let _ = writeln!(out, "{}{name} {{", pad(depth));
    for l in lines {
        let _ = writeln!(out, "{}{l}", pad(depth + 1));
    }
    let _ = writeln!(out, "{}}}", pad(depth));
}

/// One step: Groovy text, or `#{ name: argument }`.
fn step_text(v: &Value, at: &str) -> Result<String, String> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        Value::Map(entries) => match entries.as_slice() {
            [(name, Value::Str(arg))] => Ok(format!("{name} {}", quote(arg))),
            [(name, Value::Map(args))] => {
                let args: Vec<String> = args
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", literal(v)))
                    .collect();
                Ok(format!("{name}({})", args.join(", ")))
            }
            _ => Err(format!("`{at}` must map one step name to its argument")),
        },
        other => Err(format!(
            "`{at}` must be step text or a step map, not {}",
            other.kind()
        )),
    }
}

/// A value as a Groovy literal.
fn literal(v: &Value) -> String {
    match v {
        Value::Str(s) => quote(s),
        Value::List(l) => format!("[{}]", l.iter().map(literal).collect::<Vec<_>>().join(", ")),
        Value::Map(m) if m.is_empty() => "[:]".to_string(),
        Value::Map(m) => format!(
            "[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}: {}", literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

fn steps(v: &Value, at: &str) -> Result<Vec<String>, String> {
    let Value::List(items) = v else {
        return Err(format!("`{at}` must be a list of steps"));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, s)| step_text(s, &format!("{at}[{i}]")))
        .collect()
}

fn stage(out: &mut String, s: &Value, at: &str) -> Result<(), String> {
    let Some(Value::Str(name)) = s.get("name") else {
        return Err(format!("`{at}.name` must be a string"));
    };
    let _ = writeln!(out, "        stage({}) {{", quote(name));
    if let Some(a) = s.get("agent") {
        agent(out, a, &format!("{at}.agent"), 3)?;
    }
    if let Some(e) = s.get("environment") {
        environment(out, e, &format!("{at}.environment"), 3)?;
    }
    if let Some(w) = s.get("when") {
        block(out, "when", &texts(w, &format!("{at}.when"))?, 3);
    }
    let body = s
        .get("steps")
        .ok_or_else(|| format!("`{at}.steps` is missing"))?;
    block(out, "steps", &steps(body, &format!("{at}.steps"))?, 3);
    if let Some(p) = s.get("post") {
        post(out, p, &format!("{at}.post"), 3)?;
    }
    out.push_str("        }\n");
    Ok(())
}

fn post(out: &mut String, p: &Value, at: &str, depth: usize) -> Result<(), String> {
    let Value::Map(conditions) = p else {
        return Err(format!(
            "`{at}` must map conditions (always, failure, ...) to steps"
        ));
    };
    let _ = writeln!(out, "{}post {{", pad(depth));
    for (condition, list) in conditions {
        block(
            out,
            condition,
            &steps(list, &format!("{at}.{condition}"))?,
            depth + 1,
        );
    }
    let _ = writeln!(out, "{}}}", pad(depth));
    Ok(())
}
