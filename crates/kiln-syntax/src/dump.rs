//! A compact, readable dump of a syntax tree for snapshot tests: one node per line, as an
//! indented s-expression with the node kind, its name or value, and its span `@start..end`.
//!
//! ```text
//! (file @0..24
//!   (call @0..24
//!     (ident pipeline @0..8)
//!     (closure @9..24
//!       (call no-parens @11..22
//!         (ident agent @11..16)
//!         (ident any @17..20)))))
//! ```

use crate::ast::*;
use kiln_diagnostics::Span;
use std::fmt::Write as _;

/// Dumps a parsed file. `source` is accepted for symmetry with other dumps and to allow
/// showing source text later; spans are printed as byte offsets.
pub fn dump(file: &File, _source: &str) -> String {
    let mut d = Dumper::default();
    d.open("file", Some(file.span));
    if let Some(s) = file.shebang {
        d.leaf("shebang", Some(s));
    }
    d.stmts(&file.statements);
    d.close();
    d.out.push('\n');
    d.out
}

/// Dumps one expression, e.g. from [`crate::parse_expression`].
pub fn dump_expr(expr: &Expr) -> String {
    let mut d = Dumper::default();
    d.expr(expr);
    d.out.push('\n');
    d.out
}

#[derive(Default)]
struct Dumper {
    out: String,
    depth: usize,
}

fn binary_op(op: BinaryOp) -> &'static str {
    use BinaryOp::*;
    match op {
        Or => "||",
        And => "&&",
        BitOr => "|",
        BitXor => "^",
        BitAnd => "&",
        Eq => "==",
        NotEq => "!=",
        Compare => "<=>",
        Lt => "<",
        Le => "<=",
        Gt => ">",
        Ge => ">=",
        In => "in",
        NotIn => "!in",
        Find => "=~",
        Match => "==~",
        Shl => "<<",
        Shr => ">>",
        Add => "+",
        Sub => "-",
        Mul => "*",
        Div => "/",
        Rem => "%",
        Pow => "**",
    }
}

fn assign_op(op: AssignOp) -> &'static str {
    match op {
        AssignOp::Assign => "=",
        AssignOp::Add => "+=",
        AssignOp::Sub => "-=",
        AssignOp::Mul => "*=",
        AssignOp::Div => "/=",
        AssignOp::Rem => "%=",
        AssignOp::Elvis => "?=",
    }
}

fn unary_op(op: UnaryOp) -> &'static str {
    match op {
        UnaryOp::Not => "!",
        UnaryOp::Neg => "-",
        UnaryOp::Plus => "+",
        UnaryOp::BitNot => "~",
    }
}

fn quote_name(q: Quote) -> &'static str {
    match q {
        Quote::Single => "single",
        Quote::Double => "double",
        Quote::TripleSingle => "triple-single",
        Quote::TripleDouble => "triple-double",
        Quote::Slashy => "slashy",
    }
}

impl Dumper {
    fn open(&mut self, head: &str, span: Option<Span>) {
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
        self.out.push('(');
        self.out.push_str(head);
        if let Some(s) = span {
            let _ = write!(self.out, " @{}..{}", s.start, s.end);
        }
        self.depth += 1;
    }

    fn close(&mut self) {
        self.out.push(')');
        self.depth = self.depth.saturating_sub(1);
    }

    fn leaf(&mut self, head: &str, span: Option<Span>) {
        self.open(head, span);
        self.close();
    }

    fn stmts(&mut self, stmts: &[Stmt]) {
        for s in stmts {
            self.stmt(s);
        }
    }

    fn block(&mut self, b: &Block) {
        self.open("block", Some(b.span));
        self.stmts(&b.statements);
        self.close();
    }

    fn ty(&mut self, ty: &TypeName) {
        self.leaf(&format!("type {}", ty.name), Some(ty.span));
    }

    fn params(&mut self, params: &[Param]) {
        for p in params {
            self.open(&format!("param {}", p.name.name), Some(p.name.span));
            if let Some(ty) = &p.ty {
                self.ty(ty);
            }
            if let Some(d) = &p.default {
                self.expr(d);
            }
            self.close();
        }
    }

    fn args(&mut self, args: &[Arg]) {
        for a in args {
            match &a.name {
                Some(name) => {
                    self.open(&format!("named {:?}", name.name), Some(a.span));
                    self.expr(&a.value);
                    self.close();
                }
                None => self.expr(&a.value),
            }
        }
    }

    fn opt_stmt(&mut self, s: Option<&Stmt>) {
        match s {
            Some(s) => self.stmt(s),
            None => self.leaf("none", None),
        }
    }

    fn opt_expr(&mut self, e: Option<&Expr>) {
        match e {
            Some(e) => self.expr(e),
            None => self.leaf("none", None),
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        let span = Some(s.span);
        match &s.kind {
            StmtKind::Expr(e) => self.expr(e),
            StmtKind::MultiVar { names, value } => {
                let list: Vec<&str> = names.iter().map(|n| n.name.as_str()).collect();
                self.open(&format!("multi-var def ({})", list.join(", ")), span);
                self.expr(value);
                self.close();
            }
            StmtKind::Var { ty, name, value } => {
                let ty_text = ty.as_ref().map_or("def", |t| t.name.as_str());
                self.open(&format!("var {ty_text} {}", name.name), span);
                if let Some(v) = value {
                    self.expr(v);
                }
                self.close();
            }
            StmtKind::Function { name, params, body } => {
                self.open(&format!("function {}", name.name), span);
                self.params(params);
                self.block(body);
                self.close();
            }
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                self.open("if", span);
                self.expr(cond);
                self.block(then);
                if let Some(o) = otherwise {
                    self.open("else", None);
                    self.stmt(o);
                    self.close();
                }
                self.close();
            }
            StmtKind::ForIn {
                var,
                iterable,
                body,
            } => {
                self.open(&format!("for-in {}", var.name), span);
                self.expr(iterable);
                self.block(body);
                self.close();
            }
            StmtKind::ForClassic {
                init,
                cond,
                update,
                body,
            } => {
                self.open("for", span);
                self.opt_stmt(init.as_deref());
                self.opt_expr(cond.as_ref());
                self.opt_expr(update.as_ref());
                self.block(body);
                self.close();
            }
            StmtKind::While { cond, body } => {
                self.open("while", span);
                self.expr(cond);
                self.block(body);
                self.close();
            }
            StmtKind::Switch { subject, cases } => {
                self.open("switch", span);
                self.expr(subject);
                for c in cases {
                    self.open(
                        if c.value.is_some() { "case" } else { "default" },
                        Some(c.span),
                    );
                    if let Some(v) = &c.value {
                        self.expr(v);
                    }
                    self.stmts(&c.body);
                    self.close();
                }
                self.close();
            }
            StmtKind::Try {
                body,
                catches,
                finally,
            } => {
                self.open("try", span);
                self.block(body);
                for c in catches {
                    let types: Vec<&str> = c.types.iter().map(|t| t.name.as_str()).collect();
                    self.open(
                        &format!("catch {} [{}]", c.name.name, types.join(" | ")),
                        None,
                    );
                    self.block(&c.body);
                    self.close();
                }
                if let Some(f) = finally {
                    self.open("finally", None);
                    self.block(f);
                    self.close();
                }
                self.close();
            }
            StmtKind::Return(v) => {
                self.open("return", span);
                if let Some(v) = v {
                    self.expr(v);
                }
                self.close();
            }
            StmtKind::Break => self.leaf("break", span),
            StmtKind::Continue => self.leaf("continue", span),
            StmtKind::Throw(e) => {
                self.open("throw", span);
                self.expr(e);
                self.close();
            }
            StmtKind::Import { path, is_static } => {
                let kw = if *is_static {
                    "import static"
                } else {
                    "import"
                };
                self.leaf(&format!("{kw} {path}"), span);
            }
            StmtKind::Annotated { annotation, target } => {
                self.open("annotated", span);
                self.open(
                    &format!("annotation {}", annotation.name.name),
                    Some(annotation.span),
                );
                self.args(&annotation.args);
                self.close();
                self.stmt(target);
                self.close();
            }
            StmtKind::Block(b) => self.block(b),
            StmtKind::Class {
                name,
                kind,
                extends,
                constants,
                members,
            } => {
                let keyword = match kind {
                    ClassKind::Class => "class",
                    ClassKind::Interface => "interface",
                    ClassKind::Enum => "enum",
                    ClassKind::Trait => "trait",
                };
                let mut label = format!("{keyword} {}", name.name);
                if let Some(base) = extends {
                    label.push_str(&format!(" extends {}", base.name));
                }
                let Some(members) = members else {
                    return self.leaf(&label, span);
                };
                self.open(&label, span);
                for c in constants {
                    self.open(&format!("constant {}", c.name.name), Some(c.name.span));
                    self.args(&c.args);
                    self.close();
                }
                for m in members {
                    if m.is_static {
                        self.open("static", None);
                        self.stmt(&m.stmt);
                        self.close();
                    } else {
                        self.stmt(&m.stmt);
                    }
                }
                self.close();
            }
            StmtKind::Error => self.leaf("error", span),
        }
    }

    fn closure(&mut self, c: &Closure) {
        let head = if c.explicit_params {
            "closure ->"
        } else {
            "closure"
        };
        self.open(head, Some(c.span));
        self.params(&c.params);
        self.stmts(&c.body);
        self.close();
    }

    fn string(&mut self, s: &StringLit, span: Span) {
        self.open(&format!("str {}", quote_name(s.quote)), Some(span));
        for part in &s.parts {
            match part {
                StrPart::Text { text, span } => self.leaf(&format!("text {text:?}"), Some(*span)),
                StrPart::Interp(e) => {
                    self.open("interp", None);
                    self.expr(e);
                    self.close();
                }
            }
        }
        self.close();
    }

    fn expr(&mut self, e: &Expr) {
        let span = Some(e.span);
        match &e.kind {
            ExprKind::Null => self.leaf("null", span),
            ExprKind::Bool(b) => self.leaf(&format!("bool {b}"), span),
            ExprKind::Int(i) => self.leaf(&format!("int {i}"), span),
            ExprKind::Float(f) => self.leaf(&format!("float {f:?}"), span),
            ExprKind::Str(s) => self.string(s, e.span),
            ExprKind::Ident(name) => self.leaf(&format!("ident {name}"), span),
            ExprKind::List(items) => {
                self.open("list", span);
                for i in items {
                    self.expr(i);
                }
                self.close();
            }
            ExprKind::Map(entries) => {
                self.open("map", span);
                for entry in entries {
                    match &entry.key {
                        MapKey::Name(name) => {
                            self.open(&format!("entry {:?}", name.name), Some(entry.span));
                        }
                        MapKey::Expr(k) => {
                            self.open("entry", Some(entry.span));
                            self.open("key", None);
                            self.expr(k);
                            self.close();
                        }
                    }
                    self.expr(&entry.value);
                    self.close();
                }
                self.close();
            }
            ExprKind::Property {
                target,
                name,
                safe,
                spread,
            } => {
                let op = if *safe {
                    "?."
                } else if *spread {
                    "*."
                } else {
                    "."
                };
                self.open(&format!("property {op}{}", name.name), span);
                self.expr(target);
                self.close();
            }
            ExprKind::Index { target, index } => {
                self.open("index", span);
                self.expr(target);
                self.expr(index);
                self.close();
            }
            ExprKind::Call {
                callee,
                args,
                closure,
                parens,
            } => {
                self.open(if *parens { "call" } else { "call no-parens" }, span);
                self.expr(callee);
                self.args(args);
                if let Some(c) = closure {
                    self.closure(c);
                }
                self.close();
            }
            ExprKind::Closure(c) => self.closure(c),
            ExprKind::Unary { op, expr } => {
                self.open(&format!("unary {}", unary_op(*op)), span);
                self.expr(expr);
                self.close();
            }
            ExprKind::Binary { op, lhs, rhs } => {
                self.open(&format!("binary {}", binary_op(*op)), span);
                self.expr(lhs);
                self.expr(rhs);
                self.close();
            }
            ExprKind::Ternary {
                cond,
                then,
                otherwise,
            } => {
                self.open("ternary", span);
                self.expr(cond);
                self.expr(then);
                self.expr(otherwise);
                self.close();
            }
            ExprKind::Elvis { value, fallback } => {
                self.open("elvis", span);
                self.expr(value);
                self.expr(fallback);
                self.close();
            }
            ExprKind::Assign { op, target, value } => {
                self.open(&format!("assign {}", assign_op(*op)), span);
                self.expr(target);
                self.expr(value);
                self.close();
            }
            ExprKind::IncDec {
                target,
                increment,
                prefix,
            } => {
                let op = if *increment { "++" } else { "--" };
                let fix = if *prefix { "prefix" } else { "postfix" };
                self.open(&format!("{fix} {op}"), span);
                self.expr(target);
                self.close();
            }
            ExprKind::Range {
                from,
                to,
                inclusive,
            } => {
                self.open(if *inclusive { "range .." } else { "range ..<" }, span);
                self.expr(from);
                self.expr(to);
                self.close();
            }
            ExprKind::Cast { expr, ty } => {
                self.open("as", span);
                self.expr(expr);
                self.ty(ty);
                self.close();
            }
            ExprKind::InstanceOf { expr, ty } => {
                self.open("instanceof", span);
                self.expr(expr);
                self.ty(ty);
                self.close();
            }
            ExprKind::New { ty, args } => {
                self.open("new", span);
                self.ty(ty);
                self.args(args);
                self.close();
            }
            ExprKind::MethodPointer { target, name } => {
                self.open(&format!("method-pointer {}", name.name), span);
                self.expr(target);
                self.close();
            }
            ExprKind::Error => self.leaf("error", span),
        }
    }
}
