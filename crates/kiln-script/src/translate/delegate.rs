//! `x.with { }` and `x.tap { }`: the receiver is the closure's delegate, looked up first
//! (Groovy's `DELEGATE_FIRST`). The receiver is held in a temporary the closure captures;
//! inside it (and in closures nested in it), a name that is no local is read, assigned or
//! called on the receiver when the receiver has it (see `runtime::delegate`), else as it
//! would be without `with`. Nested `with`s are tried innermost first.

use super::{Tr, names};
use kiln_diagnostics::Span;
use kiln_syntax::ast::{Arg, Closure, Expr, ExprKind};

/// One receiver whose closure is being translated.
pub(super) struct Delegate {
    var: String,
    /// Whether the closure may change the receiver (an assignment or a call on it), so
    /// that the receiver is written back to where it came from (maps are values here).
    written: bool,
}

impl Tr {
    fn delegate_vars(&mut self, writes: bool) -> Vec<String> {
        for d in &mut self.delegates {
            d.written |= writes;
        }
        self.delegates.iter().rev().map(|d| d.var.clone()).collect()
    }

    /// `target.with { }` / `target.tap { }` with a closure literal; false when the call
    /// is another one.
    pub(super) fn with_call(
        &mut self,
        span: Span,
        target: &Expr,
        name: &str,
        args: &[Arg],
        closure: Option<&Closure>,
    ) -> bool {
        if !matches!(name, "with" | "tap") {
            return false;
        }
        let c = match (args, closure) {
            ([], Some(c)) => c,
            ([a], None) if a.name.is_none() => match &a.value.kind {
                ExprKind::Closure(c) => &**c,
                _ => return false,
            },
            _ => return false,
        };
        let d = self.temp("delegate");
        let r = self.temp("with");
        self.w(&format!("{{ let {d} = "));
        self.expr(target);
        self.w(&format!("; let {r} = __kiln_call_closure("));
        self.delegates.push(Delegate {
            var: d.clone(),
            written: false,
        });
        self.closure(c);
        let written = self.delegates.pop().is_some_and(|x| x.written);
        self.w(&format!(", [{d}]); "));
        if written && self.place(target).is_some() {
            self.store(span, target, false, |tr| tr.w(&d));
            self.w("; ");
        }
        self.w(if name == "tap" { &d } else { &r });
        self.w(" }");
        true
    }

    /// A bare name read inside a `with` closure; false outside one.
    pub(super) fn delegate_read(&mut self, name: &str, span: Span) -> bool {
        if self.delegates.is_empty() || matches!(name, "this" | "_" | "super") {
            return false;
        }
        let lit = names::string_literal(name);
        let vars = self.delegate_vars(false);
        for d in &vars {
            self.w(&format!(
                "(if __kiln_dhas({d}, {lit}) {{ __kiln_prop({d}, {lit}) }} else {{ "
            ));
        }
        let saved = std::mem::take(&mut self.delegates);
        self.ident(name, span);
        self.delegates = saved;
        self.w(&" })".repeat(vars.len()));
        true
    }

    /// `name = value` inside a `with` closure, `name` no local; false outside one.
    pub(super) fn delegate_store(
        &mut self,
        span: Span,
        target: &Expr,
        value: &mut dyn FnMut(&mut Self),
    ) -> bool {
        let ExprKind::Ident(name) = &target.kind else {
            return false;
        };
        if self.delegates.is_empty() || self.lookup(name).is_some() {
            return false;
        }
        let lit = names::string_literal(name);
        let v = self.temp("value");
        self.w(&format!("{{ let {v} = "));
        value(self);
        self.w("; ");
        for d in self.delegate_vars(true) {
            self.w(&format!(
                "if __kiln_dsettable({d}, {lit}) {{ {d}.__kiln_mm(\"putAt\", [{lit}, {v}]); }} else "
            ));
        }
        self.w("{ ");
        let saved = std::mem::take(&mut self.delegates);
        self.store_plain(span, target, false, |tr| tr.w(&v));
        self.delegates = saved;
        self.w(&format!("; }} {v} }}"));
        true
    }

    /// `name(args)` inside a `with` closure, `name` no local: the arguments are evaluated
    /// once, then the receivers' methods are tried before the call as it is elsewhere.
    pub(super) fn delegate_call(
        &mut self,
        span: Span,
        name: &str,
        args: &[Arg],
        closure: Option<&Closure>,
    ) -> bool {
        if self.delegates.is_empty() || name == "super" {
            return false;
        }
        let vars = self.delegate_vars(true);
        let lit = names::string_literal(name);
        self.w("{ ");
        self.scoped(false, |tr| {
            let mut held = Vec::with_capacity(args.len());
            for a in args {
                let t = tr.temp("arg");
                tr.w(&format!("let {t} = "));
                tr.expr(&a.value);
                tr.w("; ");
                if let Some(f) = tr.frames.last_mut() {
                    f.names.insert(t.clone(), t.clone());
                }
                held.push(Arg {
                    name: a.name.clone(),
                    value: Expr {
                        kind: ExprKind::Ident(t),
                        span: a.value.span,
                    },
                    span: a.span,
                });
            }
            // The closure literal is translated once per branch; it is reported once.
            let diags = tr.diags.len();
            for d in &vars {
                let r = tr.temp("tried");
                tr.w(&format!("let {r} = {d}.__kiln_dtry({lit}, ["));
                tr.groovy_args(&held, closure, &[]);
                tr.w(&format!("]); if !__kiln_dmissing({r}) {{ {r} }} else {{ "));
            }
            let saved = std::mem::take(&mut tr.delegates);
            tr.call_name(span, name, &held, closure);
            tr.delegates = saved;
            tr.w(&" }".repeat(vars.len()));
            if closure.is_some() {
                let first = diags + (tr.diags.len() - diags) / (vars.len() + 1);
                tr.diags.truncate(first);
            }
        });
        self.w(" }");
        true
    }
}
