//! Expressions: operators become runtime helpers with Groovy semantics, names resolve to
//! locals or globals, assignments write locals in place or globals through helpers.

use super::{Flow, Tr, names};
use kiln_diagnostics::Span;
use kiln_syntax::ast::{BinaryOp, Closure, Expr, ExprKind, MapKey, StrPart, StringLit, UnaryOp};

/// Java classes scripts sometimes reach for; none exists in kiln.
pub(super) const JAVA_CLASSES: &[&str] = &[
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
    // Common JDK classes a script might create, refused by name at lint time.
    "StringBuilder",
    "StringBuffer",
    "Socket",
    "ServerSocket",
    "HttpURLConnection",
    "FileReader",
    "FileWriter",
    "FileInputStream",
    "FileOutputStream",
    "BufferedReader",
    "InputStreamReader",
    "PrintWriter",
    "Scanner",
    "Random",
    "SimpleDateFormat",
    "XmlSlurper",
    "XmlParser",
    "GroovyClassLoader",
    "URLClassLoader",
    "ScriptEngineManager",
];

/// The hidden key of a map holding its insertion order, as a Rhai string literal.
fn ordered_key() -> String {
    names::string_literal(crate::runtime::omap::ORDER)
}

/// An empty Groovy map (a `LinkedHashMap`): it keeps the order keys are put in.
pub(super) fn empty_map() -> String {
    format!("#{{{}: []}}", ordered_key())
}

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

    pub(super) fn expr_kind(&mut self, e: &Expr) {
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
            ExprKind::MethodPointer { target, name } => self.method_pointer(e.span, target, name),
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

    pub(super) fn ident(&mut self, name: &str, span: Span) {
        if let Some(r) = self.lookup(name) {
            self.w(&r);
            return;
        }
        if self.delegate_read(name, span) {
            return;
        }
        match self.member_ref(name) {
            Some(super::class::Member::Field(this)) => {
                return self.w(&format!(
                    "__kiln_prop({this}, {})",
                    names::string_literal(name)
                ));
            }
            Some(super::class::Member::Static(var)) => {
                return self.w(&format!("__kiln_global({})", names::string_literal(&var)));
            }
            None => {}
        }
        match name {
            "_" => self.w("()"),
            // The script object: what a loaded file returns with `return this`.
            "this" if self.in_class.is_none() => self.w("__kiln_script_this()"),
            "this" => self.unsupported(
                span,
                "`this` is not available in a static method",
                "call the class's static members by name",
            ),
            _ if self.imports.contains(name) || JAVA_CLASSES.contains(&name) => {
                self.java_class(span, name)
            }
            _ => self.w(&format!("__kiln_global({})", names::string_literal(name))),
        }
    }

    pub(super) fn java_class(&mut self, span: Span, name: &str) {
        self.unsupported(
            span,
            format!("the Java class `{name}` is not available in kiln scripts"),
            "kiln runs pipelines without a JVM: use steps (e.g. `readJSON`, `sh`) or Groovy methods on values",
        );
    }

    pub(super) fn map(&mut self, entries: &[kiln_syntax::ast::MapEntry]) {
        let computed = entries.iter().any(|e| matches!(e.key, MapKey::Expr(_)));
        if !computed {
            // Later duplicates win, as in Groovy; a key keeps its first position.
            let mut order: Vec<&str> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for e in entries {
                if let MapKey::Name(k) = &e.key {
                    if seen.insert(k.name.as_str()) {
                        order.push(&k.name);
                    }
                }
            }
            let order: Vec<String> = order.into_iter().map(names::string_literal).collect();
            self.w(&format!("#{{{}: [{}]", ordered_key(), order.join(", ")));
            let mut first = order.is_empty();
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
        self.w(&format!("{{ let {t} = {}; ", empty_map()));
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
    pub(super) fn global_root<'a>(&self, target: &'a Expr) -> Option<&'a str> {
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

    pub(super) fn property(
        &mut self,
        target: &Expr,
        name: &str,
        span: Span,
        safe: bool,
        spread: bool,
    ) {
        if name == "metaClass" {
            return self.unsupported(
                span,
                "`metaClass` (changing classes at run time) is not supported",
                "",
            );
        }
        if let Some(result) = self.build_result_constant(target, name) {
            return self.w(&names::string_literal(result));
        }
        if let ExprKind::Ident(class) = &target.kind {
            if self.class_named(class) {
                return self.w(&format!(
                    "__kiln_global({})",
                    names::string_literal(&format!("{class}.{name}"))
                ));
            }
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

    /// `hudson.model.Result.SUCCESS` (or `Result.SUCCESS` with `hudson.model.Result`
    /// imported): the result's name, which is what `currentBuild.result` holds in kiln and
    /// what steps taking a threshold (`upstream(threshold:)`) read.
    fn build_result_constant<'n>(&self, target: &Expr, name: &'n str) -> Option<&'n str> {
        const RESULTS: &[&str] = &["SUCCESS", "UNSTABLE", "FAILURE", "NOT_BUILT", "ABORTED"];
        if !RESULTS.contains(&name) {
            return None;
        }
        let mut parts = Vec::new();
        let mut e = target;
        loop {
            match &e.kind {
                ExprKind::Property {
                    target,
                    name,
                    safe: false,
                    spread: false,
                } => {
                    parts.push(name.name.as_str());
                    e = target;
                }
                ExprKind::Ident(root) => {
                    parts.push(root.as_str());
                    break;
                }
                _ => return None,
            }
        }
        parts.reverse();
        let named = match parts[..] {
            ["hudson", "model", "Result"] => self.lookup("hudson").is_none(),
            ["Result"] => self.lookup("Result").is_none() && self.imports.contains("Result"),
            _ => false,
        };
        named.then_some(name)
    }

    pub(super) fn call2(&mut self, f: &str, a: &Expr, b: &Expr) {
        self.w(&format!("{f}("));
        self.expr(a);
        self.w(", ");
        self.expr(b);
        self.w(")");
    }

    pub(super) fn unary(&mut self, op: UnaryOp, e: &Expr) {
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

    pub(super) fn binary(&mut self, op: BinaryOp, lhs: &Expr, rhs: &Expr) {
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

    pub(super) fn typed(&mut self, f: &str, e: &Expr, ty: &str, span: Span, what: &str) {
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

    /// `target.&name` (`this.&name` for the script's own methods and steps): a closure of
    /// one argument that calls the method with it, as Groovy's method closure does for the
    /// one-argument calls a Jenkinsfile makes (`run 'make'`, `list.collect(this.&f)`).
    fn method_pointer(&mut self, span: Span, target: &Expr, name: &kiln_syntax::ast::Ident) {
        let arg = kiln_syntax::ast::Ident {
            name: "__kiln_mp_arg".to_string(),
            span,
        };
        let callee = match &target.kind {
            ExprKind::Ident(t) if t == "this" => Expr {
                kind: ExprKind::Ident(name.name.clone()),
                span: name.span,
            },
            _ => Expr {
                kind: ExprKind::Property {
                    target: Box::new(target.clone()),
                    name: name.clone(),
                    safe: false,
                    spread: false,
                },
                span,
            },
        };
        let call = Expr {
            kind: ExprKind::Call {
                callee: Box::new(callee),
                args: vec![kiln_syntax::ast::Arg {
                    name: None,
                    value: Expr {
                        kind: ExprKind::Ident(arg.name.clone()),
                        span,
                    },
                    span,
                }],
                closure: None,
                parens: true,
            },
            span,
        };
        let closure = Closure {
            params: vec![kiln_syntax::ast::Param {
                ty: None,
                name: arg,
                default: None,
            }],
            explicit_params: true,
            body: vec![kiln_syntax::ast::Stmt {
                kind: kiln_syntax::ast::StmtKind::Expr(call),
                span,
            }],
            span,
        };
        self.closure(&closure);
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
}
