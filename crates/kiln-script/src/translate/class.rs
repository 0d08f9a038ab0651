//! Classes a script defines: `class Zot { String name; static final K = 1; def greet() { } }`.
//!
//! A class becomes Rhai functions, hoisted like `def` functions:
//! - a factory making an instance with its fields' initial values (`__kiln_instance`);
//! - one function per method and constructor, the instance (`this`) first;
//! - static fields are script variables named `Zot.K`, set before the block's code runs.
//!
//! `new Zot(...)` is the factory then `__kiln_construct` (a declared constructor, or the
//! map constructor `new Zot(name: 'x')`); `Zot.m()` calls the method function directly;
//! `z.m()` finds it at run time from the instance's class (see `runtime::instance`).
//! Inside a method, a bare field name means `this.field` and a bare method call
//! `this.method()`, as in Groovy.

use super::{Tr, names};
use crate::runtime::instance::{factory_name, marker_name, method_name};
use kiln_diagnostics::Span;
use kiln_syntax::ast::{ClassMember, Ident, Stmt, StmtKind};
use std::collections::{HashMap, HashSet};

/// What the translation knows of a class: its members by kind.
#[derive(Clone, Debug, Default)]
pub(super) struct ClassInfo {
    pub fields: HashSet<String>,
    pub statics: HashSet<String>,
    pub methods: HashSet<String>,
}

/// The method being translated.
#[derive(Clone, Debug)]
pub(super) struct InClass {
    pub class: String,
    pub is_static: bool,
}

/// A member with its annotations (`@NonCPS`) taken off.
fn member_stmt(stmt: &Stmt) -> &Stmt {
    match &stmt.kind {
        StmtKind::Annotated { target, .. } => member_stmt(target),
        _ => stmt,
    }
}

/// The classes with a body among `stmts`.
pub(super) fn classes(stmts: &[Stmt]) -> Vec<(&Ident, &[ClassMember], Span)> {
    stmts
        .iter()
        .filter_map(|s| match &s.kind {
            StmtKind::Class {
                name,
                members: Some(members),
            } => Some((name, members.as_slice(), s.span)),
            _ => None,
        })
        .collect()
}

impl Tr {
    /// Records the classes of a block, so that code anywhere in it can use them.
    pub(super) fn collect_classes(&mut self, stmts: &[Stmt]) {
        for (name, members, _) in classes(stmts) {
            let mut info = ClassInfo::default();
            for m in members {
                match &member_stmt(&m.stmt).kind {
                    StmtKind::Var { name, .. } if m.is_static => {
                        info.statics.insert(name.name.clone());
                    }
                    StmtKind::Var { name, .. } => {
                        info.fields.insert(name.name.clone());
                    }
                    StmtKind::Function { name, .. } => {
                        info.methods.insert(name.name.clone());
                    }
                    _ => {}
                }
            }
            self.classes.insert(name.name.clone(), info);
        }
    }

    /// The factory and method functions of every class of a block.
    pub(super) fn class_functions(
        &mut self,
        stmts: &[Stmt],
        seen: &mut HashMap<(String, usize), Span>,
    ) {
        for (name, members, span) in classes(stmts) {
            let m = self.open(span);
            self.factory(&name.name, members);
            for member in members {
                let stmt = member_stmt(&member.stmt);
                let StmtKind::Function { name: method, .. } = &stmt.kind else {
                    if !matches!(stmt.kind, StmtKind::Var { .. }) {
                        self.unsupported(
                            stmt.span,
                            format!(
                                "only fields, methods and constructors may stand in class `{}`",
                                name.name
                            ),
                            "",
                        );
                        self.w(";\n");
                    }
                    continue;
                };
                let outer = self.in_class.replace(InClass {
                    class: name.name.clone(),
                    is_static: member.is_static,
                });
                let rhai = method_name(&name.name, &method.name);
                let key = format!("{}.{}", name.name, method.name);
                self.function_as(stmt, &key, &rhai, true, seen);
                self.in_class = outer;
            }
            self.close(m);
        }
    }

    /// `fn factory() { __kiln_instance("Zot", ["field", initial, ...]) }`.
    fn factory(&mut self, class: &str, members: &[ClassMember]) {
        let outer = self.in_class.replace(InClass {
            class: class.to_string(),
            is_static: true,
        });
        self.w(&format!("fn {}() {{ true }}\n", marker_name(class)));
        self.w(&format!(
            "fn {}() {{ __kiln_instance({}, [",
            factory_name(class),
            names::string_literal(class)
        ));
        self.scoped(true, |tr| {
            let mut first = true;
            for member in members.iter().filter(|m| !m.is_static) {
                let StmtKind::Var { name, value, .. } = &member_stmt(&member.stmt).kind else {
                    continue;
                };
                if !first {
                    tr.w(", ");
                }
                first = false;
                tr.w(&names::string_literal(&name.name));
                tr.w(", ");
                match value {
                    Some(v) => tr.expr(v),
                    None => tr.w("()"),
                }
            }
        });
        self.w("]) }\n");
        self.in_class = outer;
    }

    /// Sets the static fields of every class of a block: `__kiln_gset("Zot.K", value);`.
    pub(super) fn class_statics(&mut self, stmts: &[Stmt]) {
        for (class, members, _) in classes(stmts) {
            let outer = self.in_class.replace(InClass {
                class: class.name.clone(),
                is_static: true,
            });
            for member in members.iter().filter(|m| m.is_static) {
                let stmt = member_stmt(&member.stmt);
                let StmtKind::Var { name, value, .. } = &stmt.kind else {
                    continue;
                };
                let m = self.open(stmt.span);
                self.w(&format!(
                    "__kiln_gset({}, ",
                    names::string_literal(&format!("{}.{}", class.name, name.name))
                ));
                match value {
                    Some(v) => self.expr(v),
                    None => self.w("()"),
                }
                self.w(");\n");
                self.close(m);
            }
            self.in_class = outer;
        }
    }

    /// A bare name inside a method that means a member of its class: `this.field` for
    /// a field, the script variable `Zot.K` for a static field.
    pub(super) fn member_ref(&self, name: &str) -> Option<Member> {
        let ic = self.in_class.as_ref()?;
        let info = self.classes.get(&ic.class)?;
        if info.fields.contains(name) && !ic.is_static {
            return self.lookup("this").map(Member::Field);
        }
        if info.statics.contains(name) {
            return Some(Member::Static(format!("{}.{name}", ic.class)));
        }
        None
    }

    /// A class of this block named `name` (not hidden by a local).
    pub(super) fn class_named(&self, name: &str) -> bool {
        self.classes.contains_key(name) && self.lookup(name).is_none()
    }

    /// `new Zot(args)` for a class of this block.
    pub(super) fn new_instance(&mut self, class: &str, args: &[kiln_syntax::ast::Arg]) {
        self.w(&format!("__kiln_construct({}(), ", factory_name(class)));
        self.arg_array(args);
        self.w(")");
    }

    /// A bare call inside a method of a method of its class: `this.name(args)`, or the
    /// static method function with no instance.
    pub(super) fn member_call(
        &mut self,
        name: &str,
        args: &[kiln_syntax::ast::Arg],
        closure: Option<&kiln_syntax::ast::Closure>,
    ) -> bool {
        let Some(ic) = self.in_class.clone() else {
            return false;
        };
        if !self
            .classes
            .get(&ic.class)
            .is_some_and(|info| info.methods.contains(name))
        {
            return false;
        }
        match self.lookup("this").filter(|_| !ic.is_static) {
            Some(this) => {
                self.w(&format!(
                    "__kiln_m({this}, {}, [",
                    names::string_literal(name)
                ));
                self.groovy_args(args, closure, &[]);
                self.w("])");
            }
            None => self.static_call(&ic.class, name, args, closure),
        }
        true
    }

    /// `Zot.name(args)`: the method function with no instance.
    pub(super) fn static_call(
        &mut self,
        class: &str,
        name: &str,
        args: &[kiln_syntax::ast::Arg],
        closure: Option<&kiln_syntax::ast::Closure>,
    ) {
        self.w(&format!("{}(()", method_name(class, name)));
        if !args.is_empty() || closure.is_some() {
            self.w(", ");
            self.groovy_args(args, closure, &[]);
        }
        self.w(")");
    }
}

/// What a bare name inside a method refers to.
pub(super) enum Member {
    /// A field: the Rhai name of `this`.
    Field(String),
    /// A static field: the script variable holding it.
    Static(String),
}
