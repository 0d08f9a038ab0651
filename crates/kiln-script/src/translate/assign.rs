//! Assignments: `x = v`, `m.a.b = v`, `l[i] += v`, `x++`. Locals are written in place
//! (the last step through the `putAt` helper, which handles maps and lists alike);
//! globals and script variables through the `__kiln_gset*` helpers.

use super::class::Member;
use super::{Tr, names};
use kiln_diagnostics::{Diagnostic, Span};
use kiln_syntax::ast::{AssignOp, Expr, ExprKind};

/// One step of an assignment target: `.name` or `[index]`.
pub(super) enum Link<'a> {
    Prop(&'a str),
    Index(&'a Expr),
}

/// Where an assignment target lives.
pub(super) enum Root {
    Local(String),
    Global(String),
}

fn assign_helper(op: AssignOp) -> Option<&'static str> {
    match op {
        AssignOp::Assign | AssignOp::Elvis => None,
        AssignOp::Add => Some("__kiln_add"),
        AssignOp::Sub => Some("__kiln_sub"),
        AssignOp::Mul => Some("__kiln_mul"),
        AssignOp::Div => Some("__kiln_div"),
        AssignOp::Rem => Some("__kiln_rem"),
    }
}

impl Tr {
    /// An assignment target as a root and a path, if it is one.
    pub(super) fn place<'a>(&self, e: &'a Expr) -> Option<(Root, Vec<Link<'a>>)> {
        let mut links = Vec::new();
        let mut cur = e;
        loop {
            match &cur.kind {
                ExprKind::Ident(n) => {
                    links.reverse();
                    if let Some(r) = self.lookup(n) {
                        return Some((Root::Local(r), links));
                    }
                    match self.member_ref(n) {
                        Some(Member::Field(this)) => {
                            links.insert(0, Link::Prop(n));
                            return Some((Root::Local(this), links));
                        }
                        Some(Member::Static(var)) => return Some((Root::Global(var), links)),
                        None => {}
                    }
                    if self.class_named(n) {
                        if let Some(Link::Prop(field)) = links.first() {
                            let var = format!("{n}.{field}");
                            links.remove(0);
                            return Some((Root::Global(var), links));
                        }
                    }
                    return self
                        .global_root(cur)
                        .map(|g| (Root::Global(g.to_string()), links));
                }
                ExprKind::Property {
                    target,
                    name,
                    safe: false,
                    spread: false,
                } => {
                    links.push(Link::Prop(&name.name));
                    cur = target;
                }
                ExprKind::Index { target, index } => {
                    links.push(Link::Index(index));
                    cur = target;
                }
                _ => return None,
            }
        }
    }

    /// Rhai indexing for a path: `["name"][i]`.
    pub(super) fn links(&mut self, links: &[Link]) {
        for l in links {
            match l {
                Link::Prop(n) => self.w(&format!("[{}]", names::string_literal(n))),
                Link::Index(i) => {
                    self.w("[");
                    self.expr(i);
                    self.w("]");
                }
            }
        }
    }

    /// A path as an array of keys, for the global helpers.
    pub(super) fn link_keys(&mut self, links: &[Link]) {
        self.w("[");
        for (n, l) in links.iter().enumerate() {
            if n > 0 {
                self.w(", ");
            }
            match l {
                Link::Prop(name) => self.w(&names::string_literal(name)),
                Link::Index(i) => self.expr(i),
            }
        }
        self.w("]");
    }

    /// Emits the new value of an assignment: `value`, `old op value` or `old ?: value`.
    pub(super) fn new_value(&mut self, op: AssignOp, target: &Expr, value: &Expr) {
        match (op, assign_helper(op)) {
            (AssignOp::Elvis, _) => {
                let t = self.temp("elvis");
                self.w(&format!("{{ let {t} = "));
                self.expr(target);
                self.w(&format!("; if __kiln_truthy({t}) {{ {t} }} else {{ "));
                self.expr(value);
                self.w(" } }");
            }
            (_, Some(h)) => self.call2(h, target, value),
            (_, None) => self.expr(value),
        }
    }

    pub(super) fn assign(
        &mut self,
        span: Span,
        op: AssignOp,
        target: &Expr,
        value: &Expr,
        as_value: bool,
    ) {
        self.store(span, target, as_value, |tr| tr.new_value(op, target, value));
    }

    pub(super) fn inc_dec(
        &mut self,
        span: Span,
        target: &Expr,
        increment: bool,
        prefix: bool,
        as_value: bool,
    ) {
        let f = if increment {
            "__kiln_add"
        } else {
            "__kiln_sub"
        };
        if as_value && !prefix {
            // The old value is the expression's value.
            let old = self.temp("old");
            self.w(&format!("{{ let {old} = "));
            self.expr(target);
            self.w("; ");
            self.store(span, target, false, |tr| tr.w(&format!("{f}({old}, 1)")));
            self.w(&format!("; {old} }}"));
            return;
        }
        self.store(span, target, as_value, |tr| {
            tr.w(&format!("{f}("));
            tr.expr(target);
            tr.w(", 1)");
        });
    }

    /// Stores the value `value` emits into `target`; as an expression it yields the value.
    pub(super) fn store(
        &mut self,
        span: Span,
        target: &Expr,
        as_value: bool,
        value: impl FnOnce(&mut Self),
    ) {
        if self.delegates.is_empty() {
            return self.store_plain(span, target, as_value, value);
        }
        let mut value = Some(value);
        let mut once = |tr: &mut Self| {
            if let Some(v) = value.take() {
                v(tr);
            }
        };
        if !self.delegate_store(span, target, &mut once) {
            self.store_plain(span, target, as_value, once);
        }
    }

    pub(super) fn store_plain(
        &mut self,
        span: Span,
        target: &Expr,
        as_value: bool,
        value: impl FnOnce(&mut Self),
    ) {
        let Some((root, links)) = self.place(target) else {
            // Translating the target reports what in it is unsupported, if anything.
            let before = self.diags.len();
            self.expr(target);
            if self.diags.len() > before {
                return;
            }
            self.diags.push(
                Diagnostic::error(super::UNSUPPORTED, "cannot assign to this expression")
                    .with_primary(span, "not a variable, property or index"),
            );
            self.w("()");
            return;
        };
        match (root, links.split_last()) {
            (Root::Local(r), None) => {
                if as_value {
                    self.w(&format!("{{ {r} = "));
                    value(self);
                    self.w(&format!("; {r} }}"));
                } else {
                    self.w(&format!("{r} = "));
                    value(self);
                }
            }
            (Root::Local(r), Some((last, init))) => {
                self.w(&r);
                self.links(init);
                self.w(".__kiln_mm(\"putAt\", [");
                match last {
                    Link::Prop(n) => self.w(&names::string_literal(n)),
                    Link::Index(i) => self.expr(i),
                }
                self.w(", ");
                value(self);
                self.w("])");
            }
            (Root::Global(g), None) => {
                self.w(&format!("__kiln_gset({}, ", names::string_literal(&g)));
                value(self);
                self.w(")");
            }
            (Root::Global(g), Some(_)) => {
                self.w(&format!("__kiln_gset_path({}, ", names::string_literal(&g)));
                self.link_keys(&links);
                self.w(", ");
                value(self);
                self.w(")");
            }
        }
    }
}
