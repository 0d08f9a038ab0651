//! Groovy syntax tree to Rhai source, with a [`PosMap`] back to the Jenkinsfile.
//!
//! The translation is direct: Groovy statements become Rhai statements, and every
//! operator or method whose Groovy meaning differs from Rhai's becomes a call of a
//! runtime helper (`__kiln_eq`, `__kiln_add`, `__kiln_m`, ...; see `runtime`). Names:
//! - locals (`def`, parameters, loop and catch variables) are Rhai locals, renamed when
//!   Rhai reserves the name;
//! - any other name is a pipeline global read through `__kiln_global("name")` (script
//!   variables, `env`, `params`, `currentBuild`, then environment variables like Jenkins);
//!   assigning one without `def` writes a script variable, as Groovy's binding does;
//! - `def f(...)` becomes a Rhai function `__kiln_fn_f`, hoisted to the top. Rhai functions
//!   see no outer locals, like Groovy methods; they reach globals through the same helpers.
//! - a call of an unknown name is `__kiln_call("name", named, positional, closure, span)`,
//!   resolved at run time: a function from an earlier block, a closure variable, a step of
//!   the host, or a built-in (`error`, `println`).
//!
//! What cannot be translated is reported as an `unsupported-groovy` diagnostic before
//! anything runs.

mod assign;
mod call;
mod class;
mod delegate;
mod expr;
pub(crate) mod names;
pub(crate) mod posmap;

use kiln_diagnostics::{Diagnostic, Span};
use kiln_syntax::ast::{
    Block, Catch, ClassKind, Expr, Param, Stmt, StmtKind, StringLit, SwitchCase,
};
use posmap::PosMap;
use std::collections::{HashMap, HashSet};

/// The code of unsupported constructs.
pub(crate) const UNSUPPORTED: &str = "unsupported-groovy";
/// The code for syntax-error nodes the parser already reported.
pub(crate) const SYNTAX: &str = "script-syntax";

/// The result of translating one block or expression.
pub(crate) struct Translation {
    pub code: String,
    pub map: PosMap,
    /// Variables declared at the top level of a block: `(groovy name, rhai name)`.
    pub exports: Vec<(String, String)>,
    /// Classes used with `new` that this code does not define, with where.
    pub deferred_classes: Vec<(String, Span)>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Translates statements; the value of the last one is the block's value.
pub(crate) fn block(stmts: &[Stmt]) -> Translation {
    let mut tr = Tr::default();
    tr.frames.push(Frame {
        top_level: true,
        ..Frame::default()
    });
    let mut functions = Vec::new();
    collect_functions(stmts, &mut functions);
    for f in &functions {
        if let StmtKind::Function { name, params, .. } = &f.kind {
            tr.functions.insert(name.name.clone());
            let required = params.iter().filter(|p| p.default.is_none()).count();
            tr.arities
                .entry(name.name.clone())
                .or_default()
                .push((required, params.len()));
        }
    }
    tr.collect_classes(stmts);
    let mut seen = HashMap::new();
    for f in functions {
        tr.function(f, &mut seen);
    }
    tr.class_functions(stmts, &mut seen);
    tr.class_statics(stmts);
    tr.stmts(stmts, true);
    tr.finish()
}

/// Translates one expression.
pub(crate) fn expression(e: &Expr) -> Translation {
    let mut tr = Tr::default();
    tr.frames.push(Frame::default());
    tr.expr(e);
    tr.finish()
}

/// Translates a GString to an expression producing its text.
pub(crate) fn gstring(s: &StringLit, span: Span) -> Translation {
    let mut tr = Tr::default();
    tr.frames.push(Frame::default());
    let m = tr.open(span);
    tr.string(s);
    tr.close(m);
    tr.finish()
}

fn collect_functions<'a>(stmts: &'a [Stmt], out: &mut Vec<&'a Stmt>) {
    for s in stmts {
        match &s.kind {
            StmtKind::Function { .. } => out.push(s),
            StmtKind::Annotated { target, .. } => {
                collect_functions(std::slice::from_ref(target.as_ref()), out)
            }
            _ => {}
        }
    }
}

#[derive(Default)]
struct Frame {
    names: HashMap<String, String>,
    /// A function body: names of enclosing frames are not visible.
    barrier: bool,
    /// The top level of a block, whose declarations are exported.
    top_level: bool,
}

/// What `break` and `continue` refer to.
enum Flow {
    Loop,
    /// A switch, translated to a one-pass `loop`; `continue` inside sets the flag.
    Switch {
        flag: String,
        used: bool,
    },
    /// A closure or function body: loops outside are not reachable.
    Boundary,
}

#[derive(Default)]
struct Tr {
    out: String,
    map: PosMap,
    diags: Vec<Diagnostic>,
    frames: Vec<Frame>,
    functions: HashSet<String>,
    /// The (required, all) parameter counts of each function defined in this block.
    arities: HashMap<String, Vec<(usize, usize)>>,
    flow: Vec<Flow>,
    tmp: usize,
    exports: Vec<(String, String)>,
    imports: HashSet<String>,
    classes: HashMap<String, class::ClassInfo>,
    in_class: Option<class::InClass>,
    deferred: Vec<(String, Span)>,
    /// Receivers of the `with`/`tap` closures being translated, outermost first.
    delegates: Vec<delegate::Delegate>,
}

impl Tr {
    fn finish(mut self) -> Translation {
        self.map.finish(&self.out);
        Translation {
            code: self.out,
            map: self.map,
            exports: self.exports,
            deferred_classes: self.deferred,
            diagnostics: self.diags,
        }
    }

    fn w(&mut self, s: &str) {
        self.out.push_str(s);
    }

    fn open(&mut self, span: Span) -> usize {
        self.map.open(self.out.len(), span)
    }

    fn close(&mut self, m: usize) {
        self.map.close(m, self.out.len());
    }

    fn temp(&mut self, what: &str) -> String {
        self.tmp += 1;
        format!("{}{what}{}", names::PREFIX, self.tmp)
    }

    fn unsupported(&mut self, span: Span, message: impl Into<String>, note: &str) {
        let mut d =
            Diagnostic::error(UNSUPPORTED, message).with_primary(span, "not supported by kiln");
        if !note.is_empty() {
            d = d.with_note(note);
        }
        self.diags.push(d);
        self.w("()");
    }

    fn syntax(&mut self, span: Span) {
        self.diags.push(
            Diagnostic::error(SYNTAX, "this script could not be parsed")
                .with_primary(span, "syntax error"),
        );
        self.w("()");
    }

    /// Declares a local in the innermost frame; returns its Rhai name.
    fn declare(&mut self, name: &str) -> String {
        let rhai = names::local(name);
        if let Some(f) = self.frames.last_mut() {
            f.names.insert(name.to_string(), rhai.clone());
            if f.top_level {
                self.exports.retain(|(g, _)| g != name);
                self.exports.push((name.to_string(), rhai.clone()));
            }
        }
        rhai
    }

    /// The Rhai name of a visible local.
    fn lookup(&self, name: &str) -> Option<String> {
        for f in self.frames.iter().rev() {
            if let Some(r) = f.names.get(name) {
                return Some(r.clone());
            }
            if f.barrier {
                break;
            }
        }
        None
    }

    fn scoped(&mut self, barrier: bool, body: impl FnOnce(&mut Self)) {
        self.frames.push(Frame {
            barrier,
            ..Frame::default()
        });
        body(self);
        self.frames.pop();
    }

    /// `def name(params) { body }` as a Rhai function, plus one overload per omitted
    /// trailing default argument.
    fn function(&mut self, stmt: &Stmt, seen: &mut HashMap<(String, usize), Span>) {
        if let StmtKind::Function { name, .. } = &stmt.kind {
            let rhai = names::function(&name.name);
            self.function_as(stmt, &name.name, &rhai, false, seen);
        }
    }

    /// A function as the Rhai function `rhai`; a method (`with_this`) takes the instance
    /// first. `key` names it in the duplicate check.
    fn function_as(
        &mut self,
        stmt: &Stmt,
        key: &str,
        rhai: &str,
        with_this: bool,
        seen: &mut HashMap<(String, usize), Span>,
    ) {
        let StmtKind::Function { name, params, body } = &stmt.kind else {
            return;
        };
        let key = (key.to_string(), params.len());
        if let Some(first) = seen.insert(key, name.span) {
            self.diags.push(
                Diagnostic::error(
                    UNSUPPORTED,
                    format!(
                        "function `{}` is defined twice with {} parameters",
                        name.name,
                        params.len()
                    ),
                )
                .with_primary(name.span, "second definition")
                .with_secondary(first, "first definition")
                .with_note("kiln cannot choose between overloads by parameter type"),
            );
            return;
        }
        let m = self.open(stmt.span);
        self.flow.push(Flow::Boundary);
        let this: &[&str] = if with_this { &["this"] } else { &[] };
        self.scoped(true, |tr| {
            let ps: Vec<String> = this
                .iter()
                .copied()
                .chain(params.iter().map(|p| p.name.name.as_str()))
                .map(|p| tr.declare(p))
                .collect();
            tr.w(&format!("fn {rhai}({}) ", ps.join(", ")));
            tr.body(&body.statements);
            tr.w("\n");
        });
        // Overloads for calls that leave out trailing parameters with defaults.
        let first_default = params
            .iter()
            .rposition(|p| p.default.is_none())
            .map_or(0, |i| i + 1);
        for given in first_default..params.len() {
            self.scoped(true, |tr| tr.default_overload(rhai, this, params, given));
        }
        self.flow.pop();
        self.close(m);
    }

    fn default_overload(&mut self, rhai: &str, this: &[&str], params: &[Param], given: usize) {
        let mut all = Vec::new();
        let mut head = Vec::new();
        for p in this
            .iter()
            .copied()
            .chain(params[..given].iter().map(|p| p.name.name.as_str()))
        {
            let r = self.declare(p);
            head.push(r.clone());
            all.push(r);
        }
        self.w(&format!("fn {rhai}({}) {{ ", head.join(", ")));
        for p in &params[given..] {
            let r = self.declare(&p.name.name);
            self.w(&format!("let {r} = "));
            match &p.default {
                Some(d) => self.expr(d),
                None => self.w("()"),
            }
            self.w("; ");
            all.push(r);
        }
        self.w(&format!("{rhai}({}) }}\n", all.join(", ")));
    }

    /// A function or closure body: `{ statements }`, the last one giving the value.
    fn body(&mut self, stmts: &[Stmt]) {
        self.w("{\n");
        self.stmts(stmts, true);
        self.w("\n}");
    }

    /// A nested block with its own scope.
    fn block(&mut self, b: &Block, value: bool) {
        self.scoped(false, |tr| {
            tr.w("{\n");
            tr.stmts(&b.statements, value);
            tr.w("\n}");
        });
    }

    fn stmts(&mut self, stmts: &[Stmt], value: bool) {
        let last = stmts
            .iter()
            .rposition(|s| !matches!(s.kind, StmtKind::Function { .. }));
        for (i, s) in stmts.iter().enumerate() {
            self.stmt(s, value && Some(i) == last);
        }
    }

    fn stmt(&mut self, s: &Stmt, value: bool) {
        if matches!(s.kind, StmtKind::Function { .. }) {
            // Emitted at the top, with its own marks.
            return;
        }
        let m = self.open(s.span);
        match &s.kind {
            StmtKind::Expr(e) => {
                if value {
                    self.expr(e);
                } else {
                    self.expr_stmt(e);
                    self.w(";\n");
                }
            }
            StmtKind::Var { name, value: v, .. } => {
                // Declared after its initializer, which cannot see it.
                let r = names::local(&name.name);
                self.w(&format!("let {r} = "));
                match v {
                    Some(v) => self.expr(v),
                    None => self.w("()"),
                }
                self.w(";\n");
                self.declare(&name.name);
            }
            StmtKind::MultiVar { names, value: v } => {
                // The value once, then each name from its index; declared after the value.
                let tmp = format!("{}mv_{}", names::PREFIX, s.span.start);
                self.w(&format!("let {tmp} = "));
                self.expr(v);
                self.w(";\n");
                for (i, n) in names.iter().enumerate() {
                    let r = names::local(&n.name);
                    self.w(&format!("let {r} = __kiln_index({tmp}, {i});\n"));
                }
                for n in names {
                    self.declare(&n.name);
                }
            }
            StmtKind::Function { .. } => {}
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => self.if_stmt(cond, then, otherwise.as_deref(), value),
            StmtKind::ForIn {
                var,
                iterable,
                body,
            } => {
                self.scoped(false, |tr| {
                    let r = tr.declare(&var.name);
                    tr.w(&format!("for {r} in __kiln_iter("));
                    tr.expr(iterable);
                    tr.w(") ");
                    tr.flow.push(Flow::Loop);
                    tr.block(body, false);
                    tr.flow.pop();
                    tr.w("\n");
                });
            }
            StmtKind::ForClassic {
                init,
                cond,
                update,
                body,
            } => self.classic_for(init.as_deref(), cond.as_ref(), update.as_ref(), body),
            StmtKind::While { cond, body } => {
                self.w("while ");
                self.cond(cond);
                self.w(" ");
                self.flow.push(Flow::Loop);
                self.block(body, false);
                self.flow.pop();
                self.w("\n");
            }
            StmtKind::Switch { subject, cases } => self.switch(subject, cases),
            StmtKind::Try {
                body,
                catches,
                finally,
            } if value => {
                // `try` is a statement in Rhai; its value goes through a variable.
                let sink = self.temp("value");
                self.w(&format!("{{\nlet {sink} = ();\n"));
                self.try_stmt(body, catches, finally.as_ref(), Some(&sink));
                self.w(&format!("{sink}\n}}"));
            }
            StmtKind::Try {
                body,
                catches,
                finally,
            } => self.try_stmt(body, catches, finally.as_ref(), None),
            StmtKind::Return(v) => {
                self.w("return ");
                match v {
                    Some(v) => self.expr(v),
                    None => self.w("()"),
                }
                self.w(";\n");
            }
            StmtKind::Break => self.break_stmt(s.span),
            StmtKind::Continue => self.continue_stmt(s.span),
            StmtKind::Throw(e) => {
                self.w("throw __kiln_throwable(");
                self.expr(e);
                self.w(");\n");
            }
            StmtKind::Import { path, .. } => {
                if let Some(simple) = path.rsplit('.').next().filter(|s| *s != "*") {
                    self.imports.insert(simple.to_string());
                }
            }
            StmtKind::Annotated { annotation, target } => {
                self.annotated(&annotation.name.name, annotation.span, target, value)
            }
            StmtKind::Block(b) => {
                self.block(b, value);
                self.w("\n");
            }
            // Emitted at the top (see `class`).
            StmtKind::Class {
                members: Some(_), ..
            } => {}
            // An interface declares nothing to run: accepted, as a class may implement it.
            StmtKind::Class {
                kind: ClassKind::Interface,
                ..
            } => {}
            StmtKind::Class {
                name,
                members: None,
                ..
            } => {
                self.unsupported(
                    s.span,
                    format!(
                        "`{}` cannot be defined in a kiln script: only classes, enums and interfaces can",
                        name.name
                    ),
                    "traits are not supported; use a class",
                );
                self.w(";\n");
            }
            StmtKind::Error => {
                self.syntax(s.span);
                self.w(";\n");
            }
        }
        self.close(m);
    }

    fn annotated(&mut self, name: &str, span: Span, target: &Stmt, value: bool) {
        match name {
            "Field" => {
                if let StmtKind::Var { name, value: v, .. } = &target.kind {
                    let m = self.open(target.span);
                    self.w(&format!(
                        "__kiln_gset({}, ",
                        names::string_literal(&name.name)
                    ));
                    match v {
                        Some(v) => self.expr(v),
                        None => self.w("()"),
                    }
                    self.w(");\n");
                    self.close(m);
                } else {
                    self.stmt(target, value);
                }
            }
            // Libraries are loaded by the pipeline model, not by the script.
            "Library" => {}
            "Grab" | "GrabResolver" | "GrabConfig" => {
                self.unsupported(
                    span,
                    format!("`@{name}` (downloading Java libraries) is not supported"),
                    "",
                );
                self.w(";\n");
            }
            // `@NonCPS` and other annotations do not change what the code does here.
            _ => self.stmt(target, value),
        }
    }

    fn if_stmt(&mut self, cond: &Expr, then: &Block, otherwise: Option<&Stmt>, value: bool) {
        self.w("if ");
        self.cond(cond);
        self.w(" ");
        self.block(then, value);
        match otherwise {
            None if value => self.w(" else { () }"),
            None => {}
            Some(s) => {
                self.w(" else ");
                match &s.kind {
                    StmtKind::If {
                        cond,
                        then,
                        otherwise,
                    } => {
                        let m = self.open(s.span);
                        self.if_stmt(cond, then, otherwise.as_deref(), value);
                        self.close(m);
                    }
                    StmtKind::Block(b) => self.block(b, value),
                    _ => {
                        self.w("{\n");
                        self.scoped(false, |tr| tr.stmt(s, value));
                        self.w("\n}");
                    }
                }
            }
        }
        self.w("\n");
    }

    fn classic_for(
        &mut self,
        init: Option<&Stmt>,
        cond: Option<&Expr>,
        update: Option<&Expr>,
        body: &Block,
    ) {
        let first = self.temp("first");
        self.scoped(false, |tr| {
            tr.w("{\n");
            if let Some(init) = init {
                tr.stmt(init, false);
            }
            tr.w(&format!("let {first} = true;\nloop {{\nif !{first} {{ "));
            if let Some(u) = update {
                tr.expr_stmt(u);
                tr.w(";");
            }
            tr.w(&format!(" }}\n{first} = false;\n"));
            if let Some(c) = cond {
                tr.w("if !(");
                tr.cond(c);
                tr.w(") { break; }\n");
            }
            tr.flow.push(Flow::Loop);
            tr.block(body, false);
            tr.flow.pop();
            tr.w("\n}\n}\n");
        });
    }

    /// `switch`: the index of the first matching case is computed, then a one-pass loop
    /// runs every case body from there on (fall-through) until a `break`.
    fn switch(&mut self, subject: &Expr, cases: &[SwitchCase]) {
        let s = self.temp("subject");
        let i = self.temp("case");
        let flag = self.temp("continue");
        self.w(&format!("{{\nlet {s} = "));
        self.expr(subject);
        self.w(&format!(";\nlet {flag} = false;\nlet {i} = "));
        for (n, c) in cases.iter().enumerate() {
            if let Some(v) = &c.value {
                self.w(&format!("if __kiln_case({s}, "));
                self.expr(v);
                self.w(&format!(") {{ {n} }} else "));
            }
        }
        let default = cases
            .iter()
            .position(|c| c.value.is_none())
            .unwrap_or(cases.len());
        self.w(&format!("{{ {default} }};\nloop {{\n"));
        self.flow.push(Flow::Switch {
            flag: flag.clone(),
            used: false,
        });
        for (n, c) in cases.iter().enumerate() {
            let m = self.open(c.span);
            self.w(&format!("if {i} <= {n} {{\n"));
            self.scoped(false, |tr| tr.stmts(&c.body, false));
            self.w("\n}\n");
            self.close(m);
        }
        let used = matches!(self.flow.pop(), Some(Flow::Switch { used: true, .. }));
        self.w("break;\n}\n");
        if used {
            self.w(&format!("if {flag} {{ "));
            self.continue_stmt(Span::default());
            self.w(" }\n");
        }
        self.w("}\n");
    }

    fn break_stmt(&mut self, span: Span) {
        match self.flow.last() {
            Some(Flow::Loop | Flow::Switch { .. }) => self.w("break;\n"),
            _ => {
                self.diags.push(
                    Diagnostic::error(UNSUPPORTED, "`break` outside of a loop or switch")
                        .with_primary(span, "nothing to break out of"),
                );
            }
        }
    }

    fn continue_stmt(&mut self, span: Span) {
        let Some(pos) = self
            .flow
            .iter()
            .rposition(|f| !matches!(f, Flow::Switch { .. }))
        else {
            return self.no_loop(span);
        };
        if !matches!(self.flow[pos], Flow::Loop) {
            return self.no_loop(span);
        }
        // Inside a switch, leave it with a flag set; the code after it continues.
        match self.flow.last_mut() {
            Some(Flow::Switch { flag, used }) => {
                *used = true;
                let flag = flag.clone();
                self.w(&format!("{flag} = true; break;\n"));
            }
            _ => self.w("continue;\n"),
        }
    }

    fn no_loop(&mut self, span: Span) {
        self.diags.push(
            Diagnostic::error(UNSUPPORTED, "`continue` outside of a loop")
                .with_primary(span, "no loop to continue"),
        );
    }

    /// `try`; with a `sink`, the value of the body or of the catch that ran is stored in it.
    fn try_stmt(
        &mut self,
        body: &Block,
        catches: &[Catch],
        finally: Option<&Block>,
        sink: Option<&str>,
    ) {
        let Some(finally) = finally else {
            return self.try_catch(body, catches, sink);
        };
        let err = self.temp("error");
        let failed = self.temp("failed");
        let caught = self.temp("caught");
        self.w(&format!("let {err} = ();\nlet {failed} = false;\ntry {{\n"));
        if catches.is_empty() {
            self.sunk_block(body, sink);
        } else {
            self.try_catch(body, catches, sink);
        }
        self.w(&format!(
            "\n}} catch ({caught}) {{ {err} = {caught}; {failed} = true; }}\n"
        ));
        self.block(finally, false);
        self.w(&format!("\nif {failed} {{ throw {err}; }}\n"));
    }

    /// A block whose value, with a `sink`, is assigned to it.
    fn sunk_block(&mut self, b: &Block, sink: Option<&str>) {
        match sink {
            Some(v) => {
                self.w(&format!("{v} = "));
                self.block(b, true);
                self.w(";\n");
            }
            None => self.block(b, false),
        }
    }

    fn try_catch(&mut self, body: &Block, catches: &[Catch], sink: Option<&str>) {
        let raw = self.temp("raw");
        let exc = self.temp("exception");
        self.w("try {\n");
        self.sunk_block(body, sink);
        self.w("\n}");
        self.w(&format!(
            " catch ({raw}) {{\nlet {exc} = __kiln_exception({raw});\n"
        ));
        let mut exhaustive = false;
        for (n, c) in catches.iter().enumerate() {
            if n > 0 {
                self.w(" else ");
            }
            let all = c.types.is_empty()
                || c.types
                    .iter()
                    .any(|t| matches!(t.name.rsplit('.').next(), Some("Exception" | "Throwable")));
            if all {
                self.w("if true ");
            } else {
                let types: Vec<String> = c
                    .types
                    .iter()
                    .map(|t| names::string_literal(&t.name))
                    .collect();
                self.w(&format!(
                    "if __kiln_exception_is({exc}, [{}]) ",
                    types.join(", ")
                ));
            }
            self.scoped(false, |tr| {
                let r = tr.declare(&c.name.name);
                tr.w(&format!("{{\nlet {r} = {exc};\n"));
                tr.sunk_block(&c.body, sink);
                tr.w("\n}");
            });
            if all {
                exhaustive = true;
                break;
            }
        }
        if !exhaustive {
            self.w(&format!(" else {{ throw {raw}; }}"));
        }
        self.w("\n}\n");
    }
}
