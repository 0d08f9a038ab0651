//! Expressions: operators become runtime helpers with Groovy semantics, names resolve to
//! locals or globals, assignments write locals in place or globals through helpers.

use super::{Flow, Tr, names};
use kiln_diagnostics::{Diagnostic, Span};
use kiln_syntax::ast::{
    Arg, AssignOp, BinaryOp, Closure, Expr, ExprKind, MapKey, StrPart, StringLit, UnaryOp,
};

/// Methods that change their receiver; called by reference so the variable sees it.
const MUTATING: &[&str] = &[
    "add",
    "addAll",
    "push",
    "pop",
    "put",
    "putAll",
    "putAt",
    "remove",
    "removeAt",
    "removeAll",
    "clear",
    "leftShift",
    "sort",
    "unique",
];

/// Java classes scripts sometimes reach for; none exists in kiln.
const JAVA_CLASSES: &[&str] = &[
    "Jenkins",
    "Hudson",
    "System",
    "Runtime",
    "Thread",
    "Class",
    "ClassLoader",
    "GroovyShell",
    "Eval",
    "File",
    "Files",
    "Paths",
    "URL",
    "ProcessBuilder",
    "JsonSlurper",
    "JsonSlurperClassic",
    "JsonOutput",
    "Date",
    "Calendar",
    "TimeUnit",
    "LocalDate",
    "LocalDateTime",
    "Instant",
    "Integer",
    "Long",
    "Double",
    "Float",
    "Boolean",
    "String",
    "Math",
    "Collections",
    "Arrays",
];

/// Static methods that are supported: `Class.method`.
const STATICS: &[&str] = &[
    "Integer.parseInt",
    "Integer.valueOf",
    "Long.parseLong",
    "Long.valueOf",
    "Double.parseDouble",
    "Double.valueOf",
    "Float.parseFloat",
    "Float.valueOf",
    "Boolean.parseBoolean",
    "Boolean.valueOf",
    "String.valueOf",
    "Math.max",
    "Math.min",
    "Math.abs",
    "Math.round",
    "Math.floor",
    "Math.ceil",
    "Math.pow",
    "Math.sqrt",
];

/// Types `as` and `instanceof` understand.
const TYPES: &[&str] = &[
    "String",
    "GString",
    "CharSequence",
    "Integer",
    "int",
    "Long",
    "long",
    "Short",
    "short",
    "Byte",
    "byte",
    "BigInteger",
    "Double",
    "double",
    "Float",
    "float",
    "BigDecimal",
    "Number",
    "Boolean",
    "boolean",
    "List",
    "ArrayList",
    "LinkedList",
    "Collection",
    "Set",
    "HashSet",
    "LinkedHashSet",
    "TreeSet",
    "Map",
    "HashMap",
    "LinkedHashMap",
    "TreeMap",
    "Closure",
    "Object",
    "String[]",
    "Exception",
    "Throwable",
];

/// One step of an assignment target: `.name` or `[index]`.
enum Link<'a> {
    Prop(&'a str),
    Index(&'a Expr),
}

/// Where an assignment target lives.
enum Root {
    Local(String),
    Global(String),
}

fn is_bool(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Bool(_) | ExprKind::InstanceOf { .. } => true,
        ExprKind::Unary { op, .. } => *op == UnaryOp::Not,
        ExprKind::Binary { op, .. } => matches!(
            op,
            BinaryOp::Or
                | BinaryOp::And
                | BinaryOp::Eq
                | BinaryOp::NotEq
                | BinaryOp::Lt
                | BinaryOp::Le
                | BinaryOp::Gt
                | BinaryOp::Ge
                | BinaryOp::In
                | BinaryOp::NotIn
                | BinaryOp::Match
        ),
        _ => false,
    }
}

fn helper(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Eq => "__kiln_eq",
        BinaryOp::Compare => "__kiln_cmp",
        BinaryOp::Lt => "__kiln_lt",
        BinaryOp::Le => "__kiln_le",
        BinaryOp::Gt => "__kiln_gt",
        BinaryOp::Ge => "__kiln_ge",
        BinaryOp::Find => "__kiln_find",
        BinaryOp::Match => "__kiln_match",
        BinaryOp::Shl => "__kiln_shl",
        BinaryOp::Shr => "__kiln_shr",
        BinaryOp::Add => "__kiln_add",
        BinaryOp::Sub => "__kiln_sub",
        BinaryOp::Mul => "__kiln_mul",
        BinaryOp::Div => "__kiln_div",
        BinaryOp::Rem => "__kiln_rem",
        BinaryOp::Pow => "__kiln_pow",
        BinaryOp::BitAnd => "__kiln_bitand",
        BinaryOp::BitOr => "__kiln_bitor",
        BinaryOp::BitXor => "__kiln_bitxor",
        BinaryOp::NotEq => "__kiln_eq",
        BinaryOp::In | BinaryOp::NotIn => "__kiln_in",
        BinaryOp::Or | BinaryOp::And => "",
    }
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
    pub(super) fn expr(&mut self, e: &Expr) {
        let m = self.open(e.span);
        self.expr_kind(e);
        self.close(m);
    }

    /// An expression whose value is not used: assignments are plain Rhai statements.
    pub(super) fn expr_stmt(&mut self, e: &Expr) {
        let m = self.open(e.span);
        match &e.kind {
            ExprKind::Assign { op, target, value } => {
                self.assign(e.span, *op, target, value, false)
            }
            ExprKind::IncDec {
                target, increment, ..
            } => self.inc_dec(e.span, target, *increment, true, false),
            _ => self.expr_kind(e),
        }
        self.close(m);
    }

    /// A condition: Groovy truth unless the expression is already a boolean.
    pub(super) fn cond(&mut self, e: &Expr) {
        if is_bool(e) {
            self.expr(e);
        } else {
            self.w("__kiln_truthy(");
            self.expr(e);
            self.w(")");
        }
    }

    fn expr_kind(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Null => self.w("()"),
            ExprKind::Bool(b) => self.w(if *b { "true" } else { "false" }),
            ExprKind::Int(i) if *i == i64::MIN => self.w("(-9223372036854775807 - 1)"),
            ExprKind::Int(i) => self.w(&format!("{i}")),
            ExprKind::Float(f) => self.w(&names::float_literal(*f)),
            ExprKind::Str(s) => self.string(s),
            ExprKind::Ident(name) => self.ident(name, e.span),
            ExprKind::List(items) => {
                self.w("[");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.w(", ");
                    }
                    self.expr(item);
                }
                self.w("]");
            }
            ExprKind::Map(entries) => self.map(entries),
            ExprKind::Property {
                target,
                name,
                safe,
                spread,
            } => self.property(target, &name.name, name.span, *safe, *spread),
            ExprKind::Index { target, index } => self.call2("__kiln_index", target, index),
            ExprKind::Call {
                callee,
                args,
                closure,
                ..
            } => self.call(e.span, callee, args, closure.as_deref()),
            ExprKind::Closure(c) => self.closure(c),
            ExprKind::Unary { op, expr } => self.unary(*op, expr),
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs),
            ExprKind::Ternary {
                cond,
                then,
                otherwise,
            } => {
                self.w("(if ");
                self.cond(cond);
                self.w(" { ");
                self.expr(then);
                self.w(" } else { ");
                self.expr(otherwise);
                self.w(" })");
            }
            ExprKind::Elvis { value, fallback } => {
                let t = self.temp("elvis");
                self.w(&format!("{{ let {t} = "));
                self.expr(value);
                self.w(&format!("; if __kiln_truthy({t}) {{ {t} }} else {{ "));
                self.expr(fallback);
                self.w(" } }");
            }
            ExprKind::Assign { op, target, value } => self.assign(e.span, *op, target, value, true),
            ExprKind::IncDec {
                target,
                increment,
                prefix,
            } => self.inc_dec(e.span, target, *increment, *prefix, true),
            ExprKind::Range {
                from,
                to,
                inclusive,
            } => {
                self.w("__kiln_range(");
                self.expr(from);
                self.w(", ");
                self.expr(to);
                self.w(if *inclusive { ", true)" } else { ", false)" });
            }
            ExprKind::Cast { expr, ty } => self.typed("__kiln_cast", expr, &ty.name, ty.span, "as"),
            ExprKind::InstanceOf { expr, ty } => {
                self.typed("__kiln_instanceof", expr, &ty.name, ty.span, "instanceof")
            }
            ExprKind::New { ty, args } => self.new_object(e.span, &ty.name, args),
            ExprKind::MethodPointer { name, .. } => self.unsupported(
                e.span,
                format!("method pointers (`.&{}`) are not supported", name.name),
                "use a closure instead: `{ x -> f(x) }`",
            ),
            ExprKind::Error => self.syntax(e.span),
        }
    }

    /// A string literal; GStrings concatenate their parts rendered with Groovy's
    /// `toString()` (null as `null`).
    pub(super) fn string(&mut self, s: &StringLit) {
        if let Some(plain) = s.as_plain() {
            self.w(&names::string_literal(&plain));
            return;
        }
        self.w("(\"\"");
        for part in &s.parts {
            self.w(" + ");
            match part {
                StrPart::Text { text, .. } => self.w(&names::string_literal(text)),
                StrPart::Interp(e) => {
                    self.w("__kiln_str(");
                    self.expr(e);
                    self.w(")");
                }
            }
        }
        self.w(")");
    }

    fn ident(&mut self, name: &str, span: Span) {
        if let Some(r) = self.lookup(name) {
            self.w(&r);
            return;
        }
        match name {
            "_" => self.w("()"),
            "this" => self.unsupported(
                span,
                "`this` (the script object) is not available in kiln scripts",
                "call steps and functions directly",
            ),
            _ if self.imports.contains(name) || JAVA_CLASSES.contains(&name) => {
                self.java_class(span, name)
            }
            _ => self.w(&format!("__kiln_global({})", names::string_literal(name))),
        }
    }

    fn java_class(&mut self, span: Span, name: &str) {
        self.unsupported(
            span,
            format!("the Java class `{name}` is not available in kiln scripts"),
            "kiln runs pipelines without a JVM: use steps (e.g. `readJSON`, `sh`) or Groovy methods on values",
        );
    }

    fn map(&mut self, entries: &[kiln_syntax::ast::MapEntry]) {
        let computed = entries.iter().any(|e| matches!(e.key, MapKey::Expr(_)));
        if !computed {
            // Later duplicates win, as in Groovy.
            self.w("#{");
            let mut first = true;
            for (i, e) in entries.iter().enumerate() {
                let MapKey::Name(k) = &e.key else { continue };
                let dup = entries[i + 1..]
                    .iter()
                    .any(|o| matches!(&o.key, MapKey::Name(n) if n.name == k.name));
                if dup {
                    continue;
                }
                if !first {
                    self.w(", ");
                }
                first = false;
                self.w(&names::string_literal(&k.name));
                self.w(": ");
                self.expr(&e.value);
            }
            self.w("}");
            return;
        }
        let t = self.temp("map");
        self.w(&format!("{{ let {t} = #{{}}; "));
        for e in entries {
            self.w(&format!("{t}.__kiln_mm(\"put\", ["));
            match &e.key {
                MapKey::Name(k) => self.w(&names::string_literal(&k.name)),
                MapKey::Expr(k) => self.expr(k),
            }
            self.w(", ");
            self.expr(&e.value);
            self.w("]); ");
        }
        self.w(&format!("{t} }}"));
    }

    /// The root name of a target that is a pipeline global or script variable.
    fn global_root<'a>(&self, target: &'a Expr) -> Option<&'a str> {
        match &target.kind {
            ExprKind::Ident(n)
                if self.lookup(n).is_none()
                    && !self.imports.contains(n.as_str())
                    && !JAVA_CLASSES.contains(&n.as_str())
                    && !matches!(n.as_str(), "_" | "this") =>
            {
                Some(n)
            }
            _ => None,
        }
    }

    fn property(&mut self, target: &Expr, name: &str, span: Span, safe: bool, spread: bool) {
        if name == "metaClass" {
            return self.unsupported(
                span,
                "`metaClass` (changing classes at run time) is not supported",
                "",
            );
        }
        if let ExprKind::Ident(class) = &target.kind {
            if self.lookup(class).is_none()
                && (JAVA_CLASSES.contains(&class.as_str()) || self.imports.contains(class))
            {
                return self.java_class(target.span, &format!("{class}.{name}"));
            }
        }
        let lit = names::string_literal(name);
        if let Some(root) = self.global_root(target) {
            self.w(&format!(
                "__kiln_gprop({}, {lit})",
                names::string_literal(root)
            ));
            return;
        }
        let f = match (safe, spread) {
            (_, true) => "__kiln_spread",
            (true, false) => "__kiln_sprop",
            (false, false) => "__kiln_prop",
        };
        self.w(&format!("{f}("));
        self.expr(target);
        self.w(&format!(", {lit})"));
    }

    fn call2(&mut self, f: &str, a: &Expr, b: &Expr) {
        self.w(&format!("{f}("));
        self.expr(a);
        self.w(", ");
        self.expr(b);
        self.w(")");
    }

    fn unary(&mut self, op: UnaryOp, e: &Expr) {
        match op {
            UnaryOp::Not => {
                self.w("!");
                if is_bool(e) {
                    self.w("(");
                    self.expr(e);
                    self.w(")");
                } else {
                    self.cond(e);
                }
            }
            UnaryOp::Neg => {
                self.w("__kiln_neg(");
                self.expr(e);
                self.w(")");
            }
            UnaryOp::Plus => self.expr(e),
            UnaryOp::BitNot => {
                self.w("__kiln_bitnot(");
                self.expr(e);
                self.w(")");
            }
        }
    }

    fn binary(&mut self, op: BinaryOp, lhs: &Expr, rhs: &Expr) {
        match op {
            BinaryOp::Or | BinaryOp::And => {
                self.w("(");
                self.cond(lhs);
                self.w(if op == BinaryOp::Or { " || " } else { " && " });
                self.cond(rhs);
                self.w(")");
            }
            BinaryOp::In | BinaryOp::NotIn => {
                if op == BinaryOp::NotIn {
                    self.w("!");
                }
                // `x in list` asks whether the list contains x.
                self.call2("__kiln_in", rhs, lhs);
            }
            BinaryOp::NotEq => {
                self.w("!");
                self.call2("__kiln_eq", lhs, rhs);
            }
            BinaryOp::Shl if self.place(lhs).is_some() => self.method_call(
                lhs,
                "leftShift",
                &[],
                None,
                std::slice::from_ref(rhs),
                false,
                false,
            ),
            _ => self.call2(helper(op), lhs, rhs),
        }
    }

    fn typed(&mut self, f: &str, e: &Expr, ty: &str, span: Span, what: &str) {
        let simple = ty.rsplit('.').next().unwrap_or(ty);
        let simple = simple.split('<').next().unwrap_or(simple).trim();
        if !TYPES.contains(&simple) {
            return self.unsupported(
                span,
                format!("`{what} {ty}` is not supported"),
                "supported: String, Integer/int, Long, Double, BigDecimal, Boolean, List, Set, Map, Closure",
            );
        }
        self.w(&format!("{f}("));
        self.expr(e);
        self.w(&format!(", {})", names::string_literal(simple)));
    }

    fn new_object(&mut self, span: Span, ty: &str, args: &[Arg]) {
        let simple = ty.rsplit('.').next().unwrap_or(ty);
        let simple = simple.split('<').next().unwrap_or(simple).trim();
        if simple.ends_with("Exception") || simple.ends_with("Error") || simple == "Throwable" {
            let class = match simple {
                "AbortException" => "hudson.AbortException".to_string(),
                _ if ty.contains('.') => ty.to_string(),
                _ => format!("java.lang.{simple}"),
            };
            self.w(&format!(
                "__kiln_new_exception({}, ",
                names::string_literal(&class)
            ));
            self.arg_array(args);
            self.w(")");
            return;
        }
        let empty = match simple {
            "ArrayList" | "LinkedList" | "HashSet" | "LinkedHashSet" | "TreeSet" => "[]",
            "HashMap" | "LinkedHashMap" | "TreeMap" | "ConcurrentHashMap" => "#{}",
            _ => {
                return self.unsupported(
                    span,
                    format!("`new {ty}(...)` is not supported"),
                    "kiln scripts can create exceptions (`new Exception('...')`), lists and maps (`[]`, `[:]`)",
                );
            }
        };
        match args {
            [] => self.w(empty),
            [a] if a.name.is_none() => {
                self.w("__kiln_cast(");
                self.expr(&a.value);
                self.w(if empty == "[]" {
                    ", \"List\")"
                } else {
                    ", \"Map\")"
                });
            }
            _ => self.w(empty),
        }
    }

    /// Positional arguments as a Rhai array (named ones as a leading map).
    fn arg_array(&mut self, args: &[Arg]) {
        self.w("[");
        let mut first = true;
        if args.iter().any(|a| a.name.is_some()) {
            self.named_map(args);
            first = false;
        }
        for a in args.iter().filter(|a| a.name.is_none()) {
            if !first {
                self.w(", ");
            }
            first = false;
            self.expr(&a.value);
        }
        self.w("]");
    }

    fn named_map(&mut self, args: &[Arg]) {
        self.w("#{");
        let mut first = true;
        for a in args {
            let Some(n) = &a.name else { continue };
            if !first {
                self.w(", ");
            }
            first = false;
            self.w(&names::string_literal(&n.name));
            self.w(": ");
            self.expr(&a.value);
        }
        self.w("}");
    }

    /// Arguments for a Groovy method or function: a map of the named ones first (if any),
    /// the positional ones, then the trailing closure.
    fn groovy_args(&mut self, args: &[Arg], closure: Option<&Closure>, extra: &[Expr]) {
        let mut first = true;
        let mut sep = |tr: &mut Self| {
            if !first {
                tr.w(", ");
            }
            first = false;
        };
        if args.iter().any(|a| a.name.is_some()) {
            sep(self);
            self.named_map(args);
        }
        for a in args.iter().filter(|a| a.name.is_none()) {
            sep(self);
            self.expr(&a.value);
        }
        for e in extra {
            sep(self);
            self.expr(e);
        }
        if let Some(c) = closure {
            sep(self);
            self.closure(c);
        }
    }

    fn call(&mut self, span: Span, callee: &Expr, args: &[Arg], closure: Option<&Closure>) {
        match &callee.kind {
            ExprKind::Ident(name) => self.call_name(span, name, args, closure),
            ExprKind::Property {
                target,
                name,
                safe,
                spread,
            } => {
                if name.name == "metaClass" || name.name == "execute" {
                    let what = if name.name == "execute" {
                        "running processes from Groovy (`.execute()`) is not supported"
                    } else {
                        "`metaClass` is not supported"
                    };
                    return self.unsupported(name.span, what, "use the `sh` step to run commands");
                }
                if let ExprKind::Ident(class) = &target.kind {
                    if self.lookup(class).is_none() {
                        let full = format!("{class}.{}", name.name);
                        if STATICS.contains(&full.as_str()) {
                            self.w(&format!(
                                "__kiln_static({}, [",
                                names::string_literal(&full)
                            ));
                            self.groovy_args(args, closure, &[]);
                            self.w("])");
                            return;
                        }
                        if JAVA_CLASSES.contains(&class.as_str()) || self.imports.contains(class) {
                            return self.java_class(callee.span, &full);
                        }
                    }
                }
                self.method_call(target, &name.name, args, closure, &[], *safe, *spread)
            }
            _ => {
                self.w("__kiln_call_closure(");
                self.expr(callee);
                self.w(", [");
                self.groovy_args(args, closure, &[]);
                self.w("])");
            }
        }
    }

    fn call_name(&mut self, span: Span, name: &str, args: &[Arg], closure: Option<&Closure>) {
        if let Some(local) = self.lookup(name) {
            self.w(&format!("__kiln_call_closure({local}, ["));
            self.groovy_args(args, closure, &[]);
            self.w("])");
            return;
        }
        if self.functions.contains(name) {
            self.w(&format!("{}(", names::function(name)));
            self.groovy_args(args, closure, &[]);
            self.w(")");
            return;
        }
        self.w(&format!("__kiln_call({}, ", names::string_literal(name)));
        self.named_map(args);
        self.w(", [");
        let mut first = true;
        for a in args.iter().filter(|a| a.name.is_none()) {
            if !first {
                self.w(", ");
            }
            first = false;
            self.expr(&a.value);
        }
        self.w("], ");
        match closure {
            Some(c) => self.closure(c),
            None => self.w("()"),
        }
        self.w(&format!(", {}, {})", span.start, span.end));
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the parts of a Groovy method call"
    )]
    fn method_call(
        &mut self,
        target: &Expr,
        name: &str,
        args: &[Arg],
        closure: Option<&Closure>,
        extra: &[Expr],
        safe: bool,
        spread: bool,
    ) {
        let lit = names::string_literal(name);
        if MUTATING.contains(&name) && !safe && !spread {
            if let Some((root, links)) = self.place(target) {
                match root {
                    Root::Local(r) => {
                        self.w(&r);
                        self.links(&links);
                        self.w(&format!(".__kiln_mm({lit}, ["));
                    }
                    Root::Global(g) => {
                        self.w(&format!("__kiln_gmut({}, ", names::string_literal(&g)));
                        self.link_keys(&links);
                        self.w(&format!(", {lit}, ["));
                    }
                }
                self.groovy_args(args, closure, extra);
                self.w("])");
                return;
            }
        }
        let f = match (safe, spread) {
            (_, true) => "__kiln_spread_m",
            (true, false) => "__kiln_safe_m",
            (false, false) => "__kiln_m",
        };
        self.w(&format!("{f}("));
        self.expr(target);
        self.w(&format!(", {lit}, ["));
        self.groovy_args(args, closure, extra);
        self.w("])");
    }

    /// `{ a, b -> body }` as a Rhai closure wrapped with its arity.
    pub(super) fn closure(&mut self, c: &Closure) {
        let m = self.open(c.span);
        self.flow.push(Flow::Boundary);
        self.scoped(false, |tr| {
            let params: Vec<String> = if c.params.is_empty() && !c.explicit_params {
                vec![tr.declare("it")]
            } else {
                c.params.iter().map(|p| tr.declare(&p.name.name)).collect()
            };
            tr.w(&format!("__kiln_closure(|{}| {{\n", params.join(", ")));
            for (p, r) in c.params.iter().zip(&params) {
                if let Some(d) = &p.default {
                    tr.w(&format!("if {r} == () {{ {r} = "));
                    tr.expr(d);
                    tr.w("; }\n");
                }
            }
            tr.scoped(false, |tr| tr.stmts(&c.body, true));
            tr.w(&format!("\n}}, {})", params.len()));
        });
        self.flow.pop();
        self.close(m);
    }

    /// An assignment target as a root and a path, if it is one.
    fn place<'a>(&self, e: &'a Expr) -> Option<(Root, Vec<Link<'a>>)> {
        let mut links = Vec::new();
        let mut cur = e;
        loop {
            match &cur.kind {
                ExprKind::Ident(n) => {
                    links.reverse();
                    if let Some(r) = self.lookup(n) {
                        return Some((Root::Local(r), links));
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
    fn links(&mut self, links: &[Link]) {
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
    fn link_keys(&mut self, links: &[Link]) {
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
    fn new_value(&mut self, op: AssignOp, target: &Expr, value: &Expr) {
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

    fn assign(&mut self, span: Span, op: AssignOp, target: &Expr, value: &Expr, as_value: bool) {
        self.store(span, target, as_value, |tr| tr.new_value(op, target, value));
    }

    fn inc_dec(
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
    fn store(&mut self, span: Span, target: &Expr, as_value: bool, value: impl FnOnce(&mut Self)) {
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
