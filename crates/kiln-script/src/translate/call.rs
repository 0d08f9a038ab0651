//! Calls: Groovy methods through the `__kiln_m` dispatcher (by reference for methods that
//! change their receiver), user functions directly, anything else through `__kiln_call`
//! (functions of earlier blocks, closure variables, steps, built-ins); `new` for the few
//! classes kiln knows.

use super::assign::Root;
use super::expr::JAVA_CLASSES;
use super::{Tr, names};
use kiln_diagnostics::Span;
use kiln_syntax::ast::{Arg, Closure, Expr, ExprKind};

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
    // The Artifactory plugin's `rtMaven.resolver ...`/`rtMaven.deployer ...` configure the
    // build object they are called on (see `runtime::artifactory`), as a build info's
    // `setName`/`setNumber` do.
    "resolver",
    "deployer",
    "setName",
    "setNumber",
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
    "System.currentTimeMillis",
    "UUID.randomUUID",
    "String.format",
    "JsonOutput.toJson",
    "JsonOutput.prettyPrint",
];

/// A simple class name as a script would define it: `Zot`, not `java.net.Socket`.
fn is_class_name(ty: &str) -> bool {
    ty.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && ty.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Tr {
    pub(super) fn new_object(&mut self, span: Span, ty: &str, args: &[Arg]) {
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
        if self.class_named(simple) {
            return self.new_instance(simple, args);
        }
        if crate::runtime::java::CLASSES.contains(&simple) {
            self.w(&format!(
                "__kiln_new_object({}, ",
                names::string_literal(simple)
            ));
            self.arg_array(args);
            self.w(")");
            return;
        }
        let ordered = super::expr::empty_map();
        let empty = match simple {
            "ArrayList" | "LinkedList" | "HashSet" | "LinkedHashSet" | "TreeSet" => "[]",
            // A map without its insertion order is sorted by key, as a `TreeMap`.
            "TreeMap" => "#{}",
            "HashMap" | "LinkedHashMap" | "ConcurrentHashMap" => ordered.as_str(),
            _ if is_class_name(ty)
                && !JAVA_CLASSES.contains(&simple)
                && !self.imports.contains(simple) =>
            {
                // A class of another block (the code beside a declarative pipeline):
                // found at run time; `kiln lint` checks the name against the file's classes.
                self.deferred.push((simple.to_string(), span));
                self.w(&format!(
                    "__kiln_construct(__kiln_new_user({}), ",
                    names::string_literal(simple)
                ));
                self.arg_array(args);
                self.w(")");
                return;
            }
            // A qualified or nested class (`CauseOfInterruption.UserInterruption`,
            // `hudson.model.Foo`): Jenkins compiles it and decides at run time, so kiln
            // does too; the run fails there naming the class kiln does not provide.
            _ if ty.contains('.') && ty.split('.').all(|p| !p.is_empty()) => {
                self.w(&format!(
                    "__kiln_new_object({}, ",
                    names::string_literal(ty)
                ));
                self.arg_array(args);
                self.w(")");
                return;
            }
            _ => {
                return self.unsupported(
                    span,
                    format!("`new {ty}(...)` is not supported"),
                    crate::runtime::java::SUPPORTED_NOTE,
                );
            }
        };
        match args {
            [] => self.w(empty),
            [a] if a.name.is_none() => {
                self.w("__kiln_cast(");
                self.expr(&a.value);
                self.w(match simple {
                    "TreeMap" => ", \"TreeMap\")",
                    _ if empty == "[]" => ", \"List\")",
                    _ => ", \"Map\")",
                });
            }
            _ => self.w(empty),
        }
    }

    /// Positional arguments as a Rhai array (named ones as a leading map).
    pub(super) fn arg_array(&mut self, args: &[Arg]) {
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

    pub(super) fn named_map(&mut self, args: &[Arg]) {
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
    pub(super) fn groovy_args(&mut self, args: &[Arg], closure: Option<&Closure>, extra: &[Expr]) {
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

    pub(super) fn call(
        &mut self,
        span: Span,
        callee: &Expr,
        args: &[Arg],
        closure: Option<&Closure>,
    ) {
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
                    if class == "super" && self.super_call(Some(&name.name), args, closure) {
                        return;
                    }
                    if self.class_named(class) {
                        return self.static_call(class, &name.name, args, closure);
                    }
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
                if !*safe && !*spread && self.with_call(span, target, &name.name, args, closure) {
                    return;
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

    /// A call of function `name` of this block that fits none of its definitions goes to
    /// the step of that name, as Groovy's script does when `def stage(a, b, c)` calls
    /// `stage(name, body)`; failing that, it fails naming the count.
    /// The call's argument count when no definition takes it; `None` when one does.
    fn arity_mismatch(&self, name: &str, args: &[Arg], closure: Option<&Closure>) -> Option<usize> {
        let arities = self.arities.get(name)?;
        let named = usize::from(args.iter().any(|a| a.name.is_some()));
        let n = named
            + args.iter().filter(|a| a.name.is_none()).count()
            + usize::from(closure.is_some());
        (!arities.iter().any(|&(min, max)| (min..=max).contains(&n))).then_some(n)
    }

    pub(super) fn call_name(
        &mut self,
        span: Span,
        name: &str,
        args: &[Arg],
        closure: Option<&Closure>,
    ) {
        if let Some(local) = self.lookup(name) {
            self.w(&format!("__kiln_call_closure({local}, ["));
            self.groovy_args(args, closure, &[]);
            self.w("])");
            return;
        }
        if self.delegate_call(span, name, args, closure) {
            return;
        }
        if name == "super" && self.super_call(None, args, closure) {
            return;
        }
        if self.member_call(name, args, closure) {
            return;
        }
        let mismatch = match self.functions.contains(name) {
            true => match self.arity_mismatch(name, args, closure) {
                None => {
                    self.w(&format!("{}(", names::function(name)));
                    self.groovy_args(args, closure, &[]);
                    self.w(")");
                    return;
                }
                some => some,
            },
            false => None,
        };
        match mismatch {
            Some(n) => self.w(&format!(
                "__kiln_call_mismatch({}, {n}, ",
                names::string_literal(name)
            )),
            None => self.w(&format!("__kiln_call({}, ", names::string_literal(name))),
        }
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
        match mismatch {
            Some(_) => self.w(&format!(", [{}, {}])", span.start, span.end)),
            None => self.w(&format!(", {}, {})", span.start, span.end)),
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the parts of a Groovy method call"
    )]
    pub(super) fn method_call(
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
}
