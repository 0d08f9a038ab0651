//! Span sanity: every span lies inside the source and inside its parent's span.

use kiln_syntax::Span;
use kiln_syntax::ast::*;

struct Checker<'a> {
    len: u32,
    text: &'a str,
    stack: Vec<(&'static str, Span)>,
}

/// Panics with the path of offending nodes when a span is out of place.
pub fn check_file(file: &File, text: &str) {
    let mut c = Checker {
        len: u32::try_from(text.len()).unwrap(),
        text,
        stack: Vec::new(),
    };
    c.node("file", file.span, |c| {
        if let Some(s) = file.shebang {
            c.node("shebang", s, |_| {});
        }
        c.stmts(&file.statements);
    });
}

/// The same for a standalone expression parsed at `base`.
pub fn check_expr(expr: &Expr, text: &str, base: u32) {
    let mut c = Checker {
        len: base + u32::try_from(text.len()).unwrap(),
        text: "",
        stack: vec![(
            "input",
            Span::new(base, base + u32::try_from(text.len()).unwrap()),
        )],
    };
    c.expr(expr);
}

impl Checker<'_> {
    fn node(&mut self, kind: &'static str, span: Span, inner: impl FnOnce(&mut Self)) {
        assert!(
            span.start <= span.end && span.end <= self.len,
            "{kind} {span:?} is outside the source (len {})",
            self.len
        );
        if !self.text.is_empty() {
            assert!(
                self.text.is_char_boundary(span.start as usize)
                    && self.text.is_char_boundary(span.end as usize),
                "{kind} {span:?} splits a character"
            );
        }
        if let Some((pkind, pspan)) = self.stack.last() {
            assert!(
                pspan.contains(span),
                "{kind} {span:?} is not inside its parent {pkind} {pspan:?}"
            );
        }
        self.stack.push((kind, span));
        inner(self);
        self.stack.pop();
    }

    fn stmts(&mut self, stmts: &[Stmt]) {
        for s in stmts {
            self.stmt(s);
        }
    }

    fn block(&mut self, b: &Block) {
        self.node("block", b.span, |c| c.stmts(&b.statements));
    }

    fn ident(&mut self, i: &Ident) {
        self.node("ident", i.span, |_| {});
    }

    fn ty(&mut self, t: &TypeName) {
        self.node("type", t.span, |_| {});
    }

    fn params(&mut self, params: &[Param]) {
        for p in params {
            self.ident(&p.name);
            if let Some(t) = &p.ty {
                self.ty(t);
            }
            if let Some(d) = &p.default {
                self.expr(d);
            }
        }
    }

    fn args(&mut self, args: &[Arg]) {
        for a in args {
            self.node("arg", a.span, |c| {
                if let Some(n) = &a.name {
                    c.ident(n);
                }
                c.expr(&a.value);
            });
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        self.node("stmt", s.span, |c| match &s.kind {
            StmtKind::Expr(e) | StmtKind::Throw(e) | StmtKind::Return(Some(e)) => c.expr(e),
            StmtKind::Var { ty, name, value } => {
                if let Some(t) = ty {
                    c.ty(t);
                }
                c.ident(name);
                if let Some(v) = value {
                    c.expr(v);
                }
            }
            StmtKind::MultiVar { names, value } => {
                for n in names {
                    c.ident(n);
                }
                c.expr(value);
            }
            StmtKind::Function { name, params, body } => {
                c.ident(name);
                c.params(params);
                c.block(body);
            }
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                c.expr(cond);
                c.block(then);
                if let Some(o) = otherwise {
                    c.stmt(o);
                }
            }
            StmtKind::ForIn {
                var,
                iterable,
                body,
            } => {
                c.ident(var);
                c.expr(iterable);
                c.block(body);
            }
            StmtKind::ForClassic {
                init,
                cond,
                update,
                body,
            } => {
                if let Some(i) = init {
                    c.stmt(i);
                }
                if let Some(e) = cond {
                    c.expr(e);
                }
                if let Some(e) = update {
                    c.expr(e);
                }
                c.block(body);
            }
            StmtKind::While { cond, body } => {
                c.expr(cond);
                c.block(body);
            }
            StmtKind::Switch { subject, cases } => {
                c.expr(subject);
                for case in cases {
                    c.node("case", case.span, |c| {
                        if let Some(v) = &case.value {
                            c.expr(v);
                        }
                        c.stmts(&case.body);
                    });
                }
            }
            StmtKind::Try {
                body,
                catches,
                finally,
            } => {
                c.block(body);
                for catch in catches {
                    for t in &catch.types {
                        c.ty(t);
                    }
                    c.ident(&catch.name);
                    c.block(&catch.body);
                }
                if let Some(f) = finally {
                    c.block(f);
                }
            }
            StmtKind::Annotated { annotation, target } => {
                c.node("annotation", annotation.span, |c| {
                    c.ident(&annotation.name);
                    c.args(&annotation.args);
                });
                c.stmt(target);
            }
            StmtKind::Block(b) => c.block(b),
            StmtKind::Class {
                name,
                extends,
                constants,
                members,
                ..
            } => {
                c.ident(name);
                if let Some(base) = extends {
                    c.ident(base);
                }
                for k in constants {
                    c.ident(&k.name);
                    for a in &k.args {
                        c.expr(&a.value);
                    }
                }
                for m in members.iter().flatten() {
                    c.stmt(&m.stmt);
                }
            }
            StmtKind::Return(None)
            | StmtKind::Break
            | StmtKind::Continue
            | StmtKind::Import { .. }
            | StmtKind::Error => {}
        });
    }

    fn closure(&mut self, cl: &Closure) {
        self.node("closure", cl.span, |c| {
            c.params(&cl.params);
            c.stmts(&cl.body);
        });
    }

    fn expr(&mut self, e: &Expr) {
        self.node("expr", e.span, |c| match &e.kind {
            ExprKind::Str(s) => {
                for p in &s.parts {
                    match p {
                        StrPart::Text { span, .. } => c.node("text", *span, |_| {}),
                        StrPart::Interp(e) => c.expr(e),
                    }
                }
            }
            ExprKind::List(items) => items.iter().for_each(|i| c.expr(i)),
            ExprKind::Map(entries) => {
                for en in entries {
                    c.node("entry", en.span, |c| {
                        match &en.key {
                            MapKey::Name(i) => c.ident(i),
                            MapKey::Expr(k) => c.expr(k),
                        }
                        c.expr(&en.value);
                    });
                }
            }
            ExprKind::Property { target, name, .. } | ExprKind::MethodPointer { target, name } => {
                c.expr(target);
                c.ident(name);
            }
            ExprKind::Index { target, index } => {
                c.expr(target);
                c.expr(index);
            }
            ExprKind::Call {
                callee,
                args,
                closure,
                ..
            } => {
                c.expr(callee);
                c.args(args);
                if let Some(cl) = closure {
                    c.closure(cl);
                }
            }
            ExprKind::Closure(cl) => c.closure(cl),
            ExprKind::Unary { expr, .. } => c.expr(expr),
            ExprKind::Binary { lhs, rhs, .. } => {
                c.expr(lhs);
                c.expr(rhs);
            }
            ExprKind::Ternary {
                cond,
                then,
                otherwise,
            } => {
                c.expr(cond);
                c.expr(then);
                c.expr(otherwise);
            }
            ExprKind::Elvis { value, fallback } => {
                c.expr(value);
                c.expr(fallback);
            }
            ExprKind::Assign { target, value, .. } => {
                c.expr(target);
                c.expr(value);
            }
            ExprKind::IncDec { target, .. } => c.expr(target),
            ExprKind::Range { from, to, .. } => {
                c.expr(from);
                c.expr(to);
            }
            ExprKind::Cast { expr, ty } | ExprKind::InstanceOf { expr, ty } => {
                c.expr(expr);
                c.ty(ty);
            }
            ExprKind::New { ty, args } => {
                c.ty(ty);
                c.args(args);
            }
            ExprKind::Null
            | ExprKind::Bool(_)
            | ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Ident(_)
            | ExprKind::Error => {}
        });
    }
}
