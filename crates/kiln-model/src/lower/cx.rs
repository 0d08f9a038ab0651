//! The lowering context: collected diagnostics and the helpers every directive uses to read
//! calls, arguments and literals out of the syntax tree.

use crate::{ArgType, Computed};
use kiln_diagnostics::{Diagnostic, Span, Spanned, did_you_mean};
use kiln_syntax::ast::{Arg, Closure, Expr, ExprKind, Stmt, StmtKind};

/// A call as it appears in a directive block: `name(args) { closure }`.
pub(crate) struct CallView<'a> {
    pub name: Spanned<&'a str>,
    pub args: &'a [Arg],
    pub closure: Option<&'a Closure>,
    pub span: Span,
}

impl<'a> CallView<'a> {
    /// Reads `name ...`, `name(...)`, `name { }` or a bare `name` (e.g. `agent any`'s `any`).
    pub fn of_expr(expr: &'a Expr) -> Option<CallView<'a>> {
        match &expr.kind {
            ExprKind::Call {
                callee,
                args,
                closure,
                ..
            } => match &callee.kind {
                ExprKind::Ident(name) => Some(CallView {
                    name: Spanned::new(name.as_str(), callee.span),
                    args,
                    closure: closure.as_deref(),
                    span: expr.span,
                }),
                _ => None,
            },
            ExprKind::Ident(name) => Some(CallView {
                name: Spanned::new(name.as_str(), expr.span),
                args: &[],
                closure: None,
                span: expr.span,
            }),
            _ => None,
        }
    }

    pub fn of_stmt(stmt: &'a Stmt) -> Option<CallView<'a>> {
        match &stmt.kind {
            StmtKind::Expr(e) => CallView::of_expr(e),
            _ => None,
        }
    }

    /// The named argument `name`.
    pub fn named(&self, name: &str) -> Option<&'a Expr> {
        self.args
            .iter()
            .find(|a| a.name.as_ref().is_some_and(|n| n.name == name))
            .map(|a| &a.value)
    }

    pub fn positional(&self) -> impl Iterator<Item = &'a Expr> {
        self.args
            .iter()
            .filter(|a| a.name.is_none())
            .map(|a| &a.value)
    }

    /// The only positional argument, when there is exactly one and no named ones.
    pub fn single(&self) -> Option<&'a Expr> {
        match self.args {
            [a] if a.name.is_none() => Some(&a.value),
            _ => None,
        }
    }

    /// The statements of the trailing closure (empty without one).
    pub fn body(&self) -> &'a [Stmt] {
        self.closure.map_or(&[], |c| c.body.as_slice())
    }
}

#[derive(Default)]
pub(crate) struct Cx {
    pub diags: Vec<Diagnostic>,
    /// The pipeline loads shared libraries, so unknown steps may be library steps.
    pub libraries_loaded: bool,
}

impl Cx {
    pub fn error(
        &mut self,
        code: &'static str,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) {
        self.diags
            .push(Diagnostic::error(code, message).with_primary(span, label));
    }

    pub fn warn(
        &mut self,
        code: &'static str,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) {
        self.diags
            .push(Diagnostic::warning(code, message).with_primary(span, label));
    }

    pub fn push(&mut self, diag: Diagnostic) {
        self.diags.push(diag);
    }

    /// Reports an unknown name in a directive block, with a suggestion when one is close.
    pub fn unknown(&mut self, code: &'static str, what: &str, name: Spanned<&str>, known: &[&str]) {
        let label = match did_you_mean(name.value, known.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("expected one of {}", list(known)),
        };
        self.error(
            code,
            name.span,
            format!("unknown {what} `{}`", name.value),
            label,
        );
    }

    /// A string literal (no interpolation); reports anything else.
    pub fn literal_string(&mut self, expr: &Expr, what: &str) -> Option<String> {
        if let Some(s) = expr.as_plain_str() {
            return Some(s);
        }
        self.error(
            "expected-string",
            expr.span,
            format!("{what} must be a literal string"),
            format!("expected a string literal, found {}", describe(expr)),
        );
        None
    }

    /// A string Jenkins evaluates when the build starts: a literal (a number or boolean reads
    /// as its text) is known now; a GString, variable, property, call or operator expression
    /// is kept for the build; a list, map, closure or `null` is reported.
    pub fn computed_string(&mut self, expr: &Expr, what: &str) -> Option<Computed<String>> {
        match &expr.kind {
            ExprKind::Int(n) => return Some(Computed::Literal(n.to_string())),
            ExprKind::Bool(b) => return Some(Computed::Literal(b.to_string())),
            _ => {}
        }
        if let Some(s) = expr.as_plain_str() {
            return Some(Computed::Literal(s));
        }
        match &expr.kind {
            ExprKind::Str(_)
            | ExprKind::Ident(_)
            | ExprKind::Property { .. }
            | ExprKind::Index { .. }
            | ExprKind::Call { closure: None, .. }
            | ExprKind::Binary { .. }
            | ExprKind::Ternary { .. }
            | ExprKind::Elvis { .. } => {
                if let Some((name, span, why)) = blocked_call(expr) {
                    self.error(
                        "blocked-step",
                        span,
                        format!("`{name}` may not be called in {what}"),
                        why,
                    );
                    return None;
                }
                Some(Computed::AtStart(Box::new(expr.clone())))
            }
            _ => {
                self.error(
                    "expected-string",
                    expr.span,
                    format!("{what} must be a string"),
                    format!(
                        "expected a string or an expression giving one, found {}",
                        describe(expr)
                    ),
                );
                None
            }
        }
    }

    pub fn literal_bool(&mut self, expr: &Expr, what: &str) -> Option<bool> {
        match &expr.kind {
            ExprKind::Bool(b) => Some(*b),
            _ => {
                self.error(
                    "expected-boolean",
                    expr.span,
                    format!("{what} must be `true` or `false`"),
                    format!("expected a boolean, found {}", describe(expr)),
                );
                None
            }
        }
    }

    /// A non-negative integer, written as a number or as a string of digits (Jenkins
    /// accepts both for e.g. `numToKeepStr`).
    pub fn literal_u32(&mut self, expr: &Expr, what: &str) -> Option<u32> {
        let parsed = match &expr.kind {
            ExprKind::Int(n) => u32::try_from(*n).ok(),
            _ => expr.as_plain_str().and_then(|s| s.trim().parse().ok()),
        };
        if parsed.is_none() {
            self.error(
                "expected-number",
                expr.span,
                format!("{what} must be a non-negative whole number"),
                format!("expected a number, found {}", describe(expr)),
            );
        }
        parsed
    }

    /// Checks a literal argument against the type a step or directive wants. Expressions
    /// whose value is only known at run time (variables, calls, GStrings) pass.
    pub fn check_type(&mut self, expr: &Expr, ty: ArgType, what: &str) {
        let found = match &expr.kind {
            ExprKind::Str(_) => Some(ArgType::String),
            ExprKind::Bool(_) => Some(ArgType::Bool),
            ExprKind::Int(_) | ExprKind::Float(_) => Some(ArgType::Int),
            ExprKind::List(_) => Some(ArgType::List),
            ExprKind::Map(_) => Some(ArgType::Map),
            _ => None,
        };
        let Some(found) = found else { return };
        let ok = match ty {
            ArgType::Any => true,
            ArgType::StringOrList => matches!(found, ArgType::String | ArgType::List),
            // Groovy turns numbers and booleans into strings where a string is wanted.
            ArgType::String => matches!(found, ArgType::String | ArgType::Int | ArgType::Bool),
            ArgType::Int => {
                found == ArgType::Int
                    || expr
                        .as_plain_str()
                        .is_some_and(|s| s.trim().parse::<u64>().is_ok())
            }
            _ => found == ty,
        };
        if !ok {
            self.error(
                "wrong-argument-type",
                expr.span,
                format!("{what} expects {}", ty.describe()),
                format!("expected {}, found {}", ty.describe(), describe(expr)),
            );
        }
    }

    /// Reports named arguments of `call` that are not in `known`.
    pub fn check_named(&mut self, call: &CallView<'_>, what: &str, known: &[&str]) {
        for arg in call.args {
            if let Some(name) = &arg.name {
                if !known.contains(&name.name.as_str()) {
                    let label = match did_you_mean(&name.name, known.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None if known.is_empty() => "it takes no named arguments".to_string(),
                        None => format!("expected one of {}", list(known)),
                    };
                    self.error(
                        "unknown-argument",
                        name.span,
                        format!("{what} has no argument `{}`", name.name),
                        label,
                    );
                }
            }
        }
    }

    /// Directives and conditions that take no block must not be given one.
    pub fn no_block(&mut self, call: &CallView<'_>, what: &str) {
        if let Some(c) = call.closure {
            self.error(
                "unexpected-block",
                c.span,
                format!("{what} does not take a block"),
                "remove this block",
            );
        }
    }
}

/// The first call in `expr` of a step Jenkins blocks in directive values (`node`, `stage`,
/// `parallel`, `properties`): its name, span, and what to write instead.
fn blocked_call(expr: &Expr) -> Option<(&str, Span, &'static str)> {
    let children: Vec<&Expr> = match &expr.kind {
        ExprKind::Call { callee, args, .. } => {
            if let ExprKind::Ident(name) = &callee.kind {
                let why = match name.as_str() {
                    "node" => Some("`node` belongs in a scripted pipeline or a `script { }` block"),
                    other => super::steps::blocked_in_steps(other),
                };
                if let Some(why) = why {
                    return Some((name.as_str(), callee.span, why));
                }
            }
            std::iter::once(callee.as_ref())
                .chain(args.iter().map(|a| &a.value))
                .collect()
        }
        ExprKind::Str(s) => s
            .parts
            .iter()
            .filter_map(|p| match p {
                kiln_syntax::ast::StrPart::Interp(e) => Some(e),
                kiln_syntax::ast::StrPart::Text { .. } => None,
            })
            .collect(),
        ExprKind::List(items) => items.iter().collect(),
        ExprKind::Map(entries) => entries.iter().map(|e| &e.value).collect(),
        ExprKind::Property { target, .. } => vec![target],
        ExprKind::Index { target, index } => vec![target, index],
        ExprKind::Unary { expr, .. } => vec![expr],
        ExprKind::Binary { lhs, rhs, .. } => vec![lhs, rhs],
        ExprKind::Ternary {
            cond,
            then,
            otherwise,
        } => vec![cond, then, otherwise],
        ExprKind::Elvis { value, fallback } => vec![value, fallback],
        _ => Vec::new(),
    };
    children.into_iter().find_map(blocked_call)
}

/// What kind of expression this is, for messages.
pub(crate) fn describe(expr: &Expr) -> &'static str {
    match &expr.kind {
        ExprKind::Null => "`null`",
        ExprKind::Bool(_) => "a boolean",
        ExprKind::Int(_) | ExprKind::Float(_) => "a number",
        ExprKind::Str(s) if s.as_plain().is_some() => "a string",
        ExprKind::Str(_) => "an interpolated string",
        ExprKind::Ident(_) => "a variable",
        ExprKind::List(_) => "a list",
        ExprKind::Map(_) => "a map",
        ExprKind::Call { .. } => "a method call",
        ExprKind::Closure(_) => "a closure",
        _ => "an expression",
    }
}

/// `` `a`, `b` or `c` ``.
pub(crate) fn list(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
