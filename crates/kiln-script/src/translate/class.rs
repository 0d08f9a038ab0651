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
//!
//! `class B extends A`: B's factory starts from A's instance (A's fields first), a
//! function names B's parent so a method B does not define is found in A at run time,
//! and `super.m()` / `super(...)` call A's method and constructor. An `enum`'s constants
//! are static fields holding one instance each (`name()`, `ordinal()`), with `values()`
//! and `valueOf(name)`. Interfaces declare nothing kiln runs and are accepted as such.

use super::{Tr, names};
use crate::runtime::instance::{factory_name, marker_name, method_name, parent_name};
use kiln_diagnostics::Span;
use kiln_syntax::ast::{ClassKind, ClassMember, EnumConstant, Ident, Stmt, StmtKind};
use std::collections::{HashMap, HashSet};

/// What the translation knows of a class: its members by kind.
#[derive(Clone, Debug, Default)]
pub(super) struct ClassInfo {
    pub fields: HashSet<String>,
    pub statics: HashSet<String>,
    pub methods: HashSet<String>,
    /// The class it extends, when that is a class of the script.
    pub parent: Option<String>,
}

/// A class (or enum) with a body, as [`classes`] finds it.
pub(super) struct ClassDecl<'a> {
    pub name: &'a Ident,
    pub kind: ClassKind,
    pub extends: Option<&'a Ident>,
    pub constants: &'a [EnumConstant],
    pub members: &'a [ClassMember],
    pub span: Span,
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

/// The classes and enums with a body among `stmts`.
pub(super) fn classes(stmts: &[Stmt]) -> Vec<ClassDecl<'_>> {
    stmts
        .iter()
        .filter_map(|s| match &s.kind {
            StmtKind::Class {
                name,
                kind,
                extends,
                constants,
                members: Some(members),
            } => Some(ClassDecl {
                name,
                kind: *kind,
                extends: extends.as_ref(),
                constants,
                members,
                span: s.span,
            }),
            _ => None,
        })
        .collect()
}

impl Tr {
    /// Records the classes of a block, so that code anywhere in it can use them.
    pub(super) fn collect_classes(&mut self, stmts: &[Stmt]) {
        for decl in classes(stmts) {
            let mut info = ClassInfo {
                parent: decl.extends.map(|e| e.name.clone()),
                ..ClassInfo::default()
            };
            info.statics
                .extend(decl.constants.iter().map(|c| c.name.name.clone()));
            if decl.kind == ClassKind::Enum {
                info.methods.extend(
                    ["values", "valueOf", "name", "ordinal"]
                        .iter()
                        .map(|m| (*m).to_owned()),
                );
            }
            for m in decl.members {
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
            self.classes.insert(decl.name.name.clone(), info);
        }
    }

    /// `class` and the classes of the script it extends, nearest first (bounded, so a
    /// cycle of `extends` ends).
    fn lineage(&self, class: &str) -> Vec<&ClassInfo> {
        let mut out = Vec::new();
        let mut next = Some(class.to_owned());
        while let Some(c) = next.take() {
            let Some(info) = self.classes.get(&c) else {
                break;
            };
            out.push(info);
            if out.len() >= 16 {
                break;
            }
            next = info.parent.clone();
        }
        out
    }

    /// The factory and method functions of every class of a block.
    pub(super) fn class_functions(
        &mut self,
        stmts: &[Stmt],
        seen: &mut HashMap<(String, usize), Span>,
    ) {
        for decl in classes(stmts) {
            let (name, members) = (decl.name, decl.members);
            let m = self.open(decl.span);
            self.factory(&name.name, decl.extends, members);
            if decl.kind == ClassKind::Enum {
                self.enum_functions(&name.name, decl.constants);
            }
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

    /// `fn factory() { __kiln_instance("Zot", ["field", initial, ...]) }`; with a parent
    /// class, `__kiln_instance_ext("Base", "Zot", [...])` and the parent's name function.
    fn factory(&mut self, class: &str, extends: Option<&Ident>, members: &[ClassMember]) {
        let outer = self.in_class.replace(InClass {
            class: class.to_string(),
            is_static: true,
        });
        self.w(&format!("fn {}() {{ true }}\n", marker_name(class)));
        match extends {
            Some(base) => {
                self.w(&format!(
                    "fn {}() {{ {} }}\n",
                    parent_name(class),
                    names::string_literal(&base.name)
                ));
                self.w(&format!(
                    "fn {}() {{ __kiln_instance_ext({}, {}, [",
                    factory_name(class),
                    names::string_literal(&base.name),
                    names::string_literal(class)
                ));
            }
            None => self.w(&format!(
                "fn {}() {{ __kiln_instance({}, [",
                factory_name(class),
                names::string_literal(class)
            )),
        }
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

    /// An enum's `values()` and `valueOf(name)`, static methods over its constants.
    fn enum_functions(&mut self, class: &str, constants: &[EnumConstant]) {
        let list: Vec<String> = constants
            .iter()
            .map(|c| {
                format!(
                    "__kiln_global({})",
                    names::string_literal(&format!("{class}.{}", c.name.name))
                )
            })
            .collect();
        let values = method_name(class, "values");
        self.w(&format!(
            "fn {values}(__kiln_none) {{ [{}] }}\n",
            list.join(", ")
        ));
        self.w(&format!(
            "fn {}(__kiln_none, __kiln_name) {{ __kiln_enum_value_of({values}(()), {}, __kiln_name) }}\n",
            method_name(class, "valueOf"),
            names::string_literal(class)
        ));
    }

    /// Sets the static fields of every class of a block: `__kiln_gset("Zot.K", value);`,
    /// an enum's constants first.
    pub(super) fn class_statics(&mut self, stmts: &[Stmt]) {
        for decl in classes(stmts) {
            let (class, members) = (decl.name, decl.members);
            for (ordinal, constant) in decl.constants.iter().enumerate() {
                let m = self.open(constant.name.span);
                self.w(&format!(
                    "__kiln_gset({}, __kiln_enum_constant(",
                    names::string_literal(&format!("{}.{}", class.name, constant.name.name)),
                ));
                self.new_instance(&class.name, &constant.args);
                self.w(&format!(
                    ", {}, {ordinal}));\n",
                    names::string_literal(&constant.name.name)
                ));
                self.close(m);
            }
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
        let chain = self.lineage(&ic.class);
        if chain.iter().any(|i| i.fields.contains(name)) && !ic.is_static {
            return self.lookup("this").map(Member::Field);
        }
        let mut owner = ic.class.clone();
        for info in chain {
            if info.statics.contains(name) {
                return Some(Member::Static(format!("{owner}.{name}")));
            }
            match &info.parent {
                Some(p) => owner = p.clone(),
                None => break,
            }
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
            .lineage(&ic.class)
            .iter()
            .any(|info| info.methods.contains(name))
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

    /// `super.name(args)` in a method, or `super(args)` in a constructor: the parent
    /// class's method or constructor on `this`. `false` outside an instance method.
    pub(super) fn super_call(
        &mut self,
        name: Option<&str>,
        args: &[kiln_syntax::ast::Arg],
        closure: Option<&kiln_syntax::ast::Closure>,
    ) -> bool {
        let Some(ic) = self.in_class.clone().filter(|ic| !ic.is_static) else {
            return false;
        };
        let Some(this) = self.lookup("this") else {
            return false;
        };
        let class = names::string_literal(&ic.class);
        match name {
            Some(n) => self.w(&format!(
                "__kiln_super_m({this}, {class}, {}, [",
                names::string_literal(n)
            )),
            None => self.w(&format!("__kiln_super_ctor({this}, {class}, [")),
        }
        self.groovy_args(args, closure, &[]);
        self.w("])");
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
