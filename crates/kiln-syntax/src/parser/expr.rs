//! Expressions: operators by precedence climbing, postfix chains, calls and arguments,
//! and Groovy's command calls without parentheses (`sh 'make'`).

use super::Parser;
use crate::ast::{Arg, AssignOp, BinaryOp, Expr, ExprKind, Ident, UnaryOp};
use crate::token::{Keyword, TokenKind};
use kiln_diagnostics::{Diagnostic, Span};

/// What an infix token does.
#[derive(Clone, Copy)]
enum Infix {
    Binary(BinaryOp),
    Assign(AssignOp),
    Ternary,
    Elvis,
    Range(bool),
    InstanceOf,
    As,
}

/// Binding power of prefix operators; only `**` binds tighter.
pub(super) const PREFIX_BP: u8 = 25;

/// `(left, right)` binding powers: right-associative operators have right < left.
fn infix_info(kind: TokenKind) -> Option<(u8, u8, Infix)> {
    use BinaryOp as B;
    use TokenKind as T;
    let bin = |l: u8, op| Some((l, l + 1, Infix::Binary(op)));
    let assign = |op| Some((2, 1, Infix::Assign(op)));
    match kind {
        T::Eq => assign(AssignOp::Assign),
        T::PlusEq => assign(AssignOp::Add),
        T::MinusEq => assign(AssignOp::Sub),
        T::StarEq => assign(AssignOp::Mul),
        T::SlashEq => assign(AssignOp::Div),
        T::PercentEq => assign(AssignOp::Rem),
        T::ElvisEq => assign(AssignOp::Elvis),
        T::Question => Some((4, 3, Infix::Ternary)),
        T::Elvis => Some((4, 3, Infix::Elvis)),
        T::OrOr => bin(5, B::Or),
        T::AndAnd => bin(7, B::And),
        T::Pipe => bin(9, B::BitOr),
        T::Caret => bin(11, B::BitXor),
        T::Amp => bin(13, B::BitAnd),
        T::EqEq => bin(15, B::Eq),
        T::NotEq => bin(15, B::NotEq),
        T::Cmp => bin(15, B::Compare),
        T::Find => bin(15, B::Find),
        T::Match => bin(15, B::Match),
        T::Lt => bin(17, B::Lt),
        T::Le => bin(17, B::Le),
        T::Gt => bin(17, B::Gt),
        T::Ge => bin(17, B::Ge),
        T::Kw(Keyword::In) => bin(17, B::In),
        T::NotIn => bin(17, B::NotIn),
        T::Kw(Keyword::Instanceof) => Some((17, 18, Infix::InstanceOf)),
        T::Kw(Keyword::As) => Some((17, 18, Infix::As)),
        T::Shl => bin(19, B::Shl),
        T::Shr | T::UShr => bin(19, B::Shr),
        T::Range => Some((19, 20, Infix::Range(true))),
        T::RangeExcl => Some((19, 20, Infix::Range(false))),
        T::Plus => bin(21, B::Add),
        T::Minus => bin(21, B::Sub),
        T::Star => bin(23, B::Mul),
        T::Slash => bin(23, B::Div),
        T::Percent => bin(23, B::Rem),
        T::Pow => Some((27, 26, Infix::Binary(B::Pow))),
        _ => None,
    }
}

/// Tokens that continue an expression when they start the next line.
fn continues_line(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Dot
            | TokenKind::SafeDot
            | TokenKind::SpreadDot
            | TokenKind::MethodRef
            | TokenKind::Question
            | TokenKind::Elvis
            | TokenKind::Colon
            | TokenKind::AndAnd
            | TokenKind::OrOr
    )
}

fn boxed(e: Expr) -> Box<Expr> {
    Box::new(e)
}

impl Parser<'_> {
    pub(super) fn parse_expr(&mut self) -> Expr {
        self.parse_expr_bp(0)
    }

    pub(super) fn parse_expr_bp(&mut self, min_bp: u8) -> Expr {
        if !self.enter() {
            return self.too_deep_expr();
        }
        let start = self.cur().span.start;
        let lhs = self.parse_unary();
        let e = self.parse_infix(start, lhs, min_bp);
        self.leave();
        e
    }

    /// Skips what cannot be parsed because nesting is too deep.
    pub(super) fn too_deep_expr(&mut self) -> Expr {
        let start = self.cur().span.start;
        self.skip_token_tree();
        Expr::new(ExprKind::Error, self.span_from(start))
    }

    /// A line break followed by `.method()`, `&&`, `?`, ... continues the expression.
    fn join_continuation_line(&mut self) {
        if !self.insensitive()
            && self.raw_kind(0) == TokenKind::Newline
            && continues_line(self.raw_kind(1))
        {
            self.skip_newlines();
        }
    }

    pub(super) fn parse_infix(&mut self, start: u32, mut lhs: Expr, min_bp: u8) -> Expr {
        // Each operator applied nests the tree one level deeper.
        let mut links = 0;
        loop {
            self.join_continuation_line();
            let Some((l_bp, r_bp, op)) = infix_info(self.peek()) else {
                break;
            };
            if l_bp < min_bp || !self.enter() {
                break;
            }
            links += 1;
            let op_tok = self.bump();
            self.skip_newlines();
            let kind = match op {
                Infix::Binary(op) => ExprKind::Binary {
                    op,
                    lhs: boxed(lhs),
                    rhs: boxed(self.parse_expr_bp(r_bp)),
                },
                Infix::Assign(op) => {
                    if !matches!(
                        lhs.kind,
                        ExprKind::Ident(_) | ExprKind::Property { .. } | ExprKind::Index { .. }
                    ) {
                        self.error(
                            Diagnostic::error(
                                "invalid-assignment",
                                "cannot assign to this expression",
                            )
                            .with_primary(lhs.span, "not a variable, property or index")
                            .with_secondary(op_tok.span, "assignment here"),
                        );
                    }
                    let value = self.parse_assign_value(r_bp);
                    ExprKind::Assign {
                        op,
                        target: boxed(lhs),
                        value: boxed(value),
                    }
                }
                Infix::Ternary => {
                    let then = self.parse_expr_bp(0);
                    self.join_continuation_line();
                    if self.eat(TokenKind::Colon).is_some() {
                        self.skip_newlines();
                    } else {
                        let t = self.cur();
                        self.error_unexpected(t, "`:` of the `? :` expression");
                    }
                    let otherwise = self.parse_expr_bp(r_bp);
                    ExprKind::Ternary {
                        cond: boxed(lhs),
                        then: boxed(then),
                        otherwise: boxed(otherwise),
                    }
                }
                Infix::Elvis => ExprKind::Elvis {
                    value: boxed(lhs),
                    fallback: boxed(self.parse_expr_bp(r_bp)),
                },
                Infix::Range(inclusive) => ExprKind::Range {
                    from: boxed(lhs),
                    to: boxed(self.parse_expr_bp(r_bp)),
                    inclusive,
                },
                Infix::InstanceOf | Infix::As => {
                    let ty = self.expect_type("a type name");
                    let expr = boxed(lhs);
                    match op {
                        Infix::As => ExprKind::Cast { expr, ty },
                        _ => ExprKind::InstanceOf { expr, ty },
                    }
                }
            };
            lhs = Expr::new(kind, self.span_from(start));
        }
        self.depth -= links;
        lhs
    }

    /// The value of an assignment: in statement context it may be a command call
    /// (`x = sh script: 'ls', returnStdout: true`).
    fn parse_assign_value(&mut self, r_bp: u8) -> Expr {
        if !self.insensitive() && self.at(TokenKind::Ident) {
            return self.parse_command_or_expr();
        }
        self.parse_expr_bp(r_bp)
    }

    fn parse_unary(&mut self) -> Expr {
        let t = self.cur();
        let op = match t.kind {
            TokenKind::Bang => Some(UnaryOp::Not),
            TokenKind::Minus => Some(UnaryOp::Neg),
            TokenKind::Plus => Some(UnaryOp::Plus),
            TokenKind::Tilde => Some(UnaryOp::BitNot),
            _ => None,
        };
        if let Some(op) = op {
            self.bump();
            let expr = self.parse_expr_bp(PREFIX_BP);
            return Expr::new(
                ExprKind::Unary {
                    op,
                    expr: boxed(expr),
                },
                self.span_from(t.span.start),
            );
        }
        if matches!(t.kind, TokenKind::Inc | TokenKind::Dec) {
            self.bump();
            let target = self.parse_expr_bp(PREFIX_BP);
            return Expr::new(
                ExprKind::IncDec {
                    target: boxed(target),
                    increment: t.kind == TokenKind::Inc,
                    prefix: true,
                },
                self.span_from(t.span.start),
            );
        }
        let primary = self.parse_primary();
        // A missing operand sits where the previous token ended, before `t` (a line break,
        // say, that a continuation line's `.x` then follows): the chain starts at the operand.
        let start = primary.span.start.min(t.span.start);
        self.parse_postfix(start, primary, false)
    }

    /// An expression statement: a command call `sh 'make'` / `foo.bar x, y: 1`, or an
    /// ordinary expression.
    pub(super) fn parse_command_or_expr(&mut self) -> Expr {
        if !matches!(self.peek(), TokenKind::Ident | TokenKind::Kw(Keyword::This)) {
            return self.parse_expr();
        }
        // Callers (statements, assignments) have already entered a nesting level.
        let start = self.cur().span.start;
        let primary = self.parse_primary();
        let head = self.parse_postfix(start, primary, true);
        if self.command_arg_follows(&head) {
            self.parse_command(start, head)
        } else {
            self.parse_infix(start, head, 0)
        }
    }

    /// After a statement's head `name` or `a.b.c`, a token on the same line that can start
    /// an argument makes a command call.
    fn command_arg_follows(&mut self, head: &Expr) -> bool {
        if head.dotted_name().is_none() {
            return false;
        }
        match self.raw_kind(0) {
            TokenKind::Ident
            | TokenKind::Int
            | TokenKind::Float
            | TokenKind::StrStart(_)
            | TokenKind::Kw(
                Keyword::True | Keyword::False | Keyword::Null | Keyword::This | Keyword::New,
            ) => true,
            TokenKind::LBracket => self.space_before(),
            _ => false,
        }
    }

    fn parse_command(&mut self, start: u32, callee: Expr) -> Expr {
        let mut args = Vec::new();
        loop {
            args.push(self.parse_arg());
            if self.eat(TokenKind::Comma).is_none() {
                break;
            }
            self.skip_newlines();
        }
        let kind = ExprKind::Call {
            callee: boxed(callee),
            args,
            closure: None,
            parens: false,
        };
        Expr::new(kind, self.span_from(start))
    }

    /// One argument, positional or named (`name: value`, `'name': value`).
    pub(super) fn parse_arg(&mut self) -> Arg {
        let t = self.cur();
        let start = t.span.start;
        if matches!(t.kind, TokenKind::Ident | TokenKind::Kw(_)) && self.nth(1) == TokenKind::Colon
        {
            self.bump();
            self.bump();
            self.skip_newlines();
            let name = Ident {
                name: self.text(t.span).to_string(),
                span: t.span,
            };
            let value = self.parse_expr();
            return Arg {
                name: Some(name),
                value,
                span: self.span_from(start),
            };
        }
        let value = self.parse_expr();
        if self.at(TokenKind::Colon) {
            // A missing name is an empty error node where the previous token ended.
            let start = start.min(value.span.start);
            let colon = self.bump();
            self.skip_newlines();
            let name = match value.as_plain_str() {
                Some(name) => Ident {
                    name,
                    span: value.span,
                },
                None => {
                    self.error(
                        Diagnostic::error(
                            "invalid-argument-name",
                            "an argument name must be a name or a plain string",
                        )
                        .with_primary(value.span, "not a name")
                        .with_secondary(colon.span, "named argument because of this `:`"),
                    );
                    Ident {
                        name: String::new(),
                        span: value.span,
                    }
                }
            };
            let value = self.parse_expr();
            return Arg {
                name: Some(name),
                value,
                span: self.span_from(start),
            };
        }
        Arg {
            name: None,
            span: value.span,
            value,
        }
    }

    /// `( args )` after a callee; the current token is `(`.
    pub(super) fn parse_paren_args(&mut self) -> Vec<Arg> {
        let open = self.bump();
        self.with_nl(true, |p| {
            let mut args = Vec::new();
            loop {
                if matches!(
                    p.peek(),
                    TokenKind::RParen
                        | TokenKind::RBrace
                        | TokenKind::RBracket
                        | TokenKind::Eof
                        | TokenKind::InterpEnd
                ) {
                    break;
                }
                let errors = p.diags.len();
                args.push(p.parse_arg());
                if p.eat(TokenKind::Comma).is_some() {
                    continue;
                }
                p.list_item_end(TokenKind::RParen, errors, "`,` or `)`");
                break;
            }
            p.expect_closer(TokenKind::RParen, open, "the argument list");
            args
        })
    }

    /// Member access, calls, indexing and trailing closures after `e`. At a statement's head
    /// (`head`), `name [x]` with a space is a command call, not an index.
    pub(super) fn parse_postfix(&mut self, start: u32, mut e: Expr, head: bool) -> Expr {
        // Each member access, call or index nests the tree one level deeper.
        let mut links = 0;
        loop {
            self.join_continuation_line();
            let t = self.cur();
            if postfix_starts(t.kind) {
                if !self.enter() {
                    break;
                }
                links += 1;
            }
            let kind = match t.kind {
                TokenKind::Dot | TokenKind::SafeDot | TokenKind::SpreadDot => {
                    self.bump();
                    self.skip_newlines();
                    let name = self.member_name();
                    ExprKind::Property {
                        target: boxed(e),
                        name,
                        safe: t.kind == TokenKind::SafeDot,
                        spread: t.kind == TokenKind::SpreadDot,
                    }
                }
                TokenKind::MethodRef => {
                    self.bump();
                    let name = self.member_name();
                    ExprKind::MethodPointer {
                        target: boxed(e),
                        name,
                    }
                }
                TokenKind::LParen => {
                    let args = self.parse_paren_args();
                    ExprKind::Call {
                        callee: boxed(e),
                        args,
                        closure: None,
                        parens: true,
                    }
                }
                TokenKind::LBracket
                    if !(head && self.space_before() && e.dotted_name().is_some()) =>
                {
                    self.parse_index(e)
                }
                TokenKind::LBrace if takes_closure(&e) => self.attach_closure(e),
                TokenKind::Newline
                    if head && takes_closure(&e) && self.raw_kind(1) == TokenKind::LBrace =>
                {
                    // `stage('x')` with `{` on the next line (Allman style).
                    self.skip_newlines();
                    self.attach_closure(e)
                }
                TokenKind::Inc | TokenKind::Dec => {
                    self.bump();
                    ExprKind::IncDec {
                        target: boxed(e),
                        increment: t.kind == TokenKind::Inc,
                        prefix: false,
                    }
                }
                _ => break,
            };
            e = Expr::new(kind, self.span_from(start));
        }
        self.depth -= links;
        e
    }

    fn parse_index(&mut self, target: Expr) -> ExprKind {
        let open = self.bump();
        let index = self.with_nl(true, |p| {
            let errors = p.diags.len();
            let index = p.parse_expr();
            p.list_item_end(TokenKind::RBracket, errors, "`]`");
            p.expect_closer(TokenKind::RBracket, open, "the index");
            index
        });
        ExprKind::Index {
            target: boxed(target),
            index: boxed(index),
        }
    }

    /// `f { }` or `f(x) { }`: the closure becomes the call's trailing closure.
    fn attach_closure(&mut self, e: Expr) -> ExprKind {
        let closure = Some(Box::new(self.parse_closure()));
        match e.kind {
            ExprKind::Call {
                callee,
                args,
                closure: None,
                parens,
            } => ExprKind::Call {
                callee,
                args,
                closure,
                parens,
            },
            kind => ExprKind::Call {
                callee: boxed(Expr::new(kind, e.span)),
                args: Vec::new(),
                closure,
                parens: false,
            },
        }
    }

    /// The name after `.`: an identifier, a keyword (`.class`) or a plain string.
    fn member_name(&mut self) -> Ident {
        let t = self.cur();
        match t.kind {
            TokenKind::Ident | TokenKind::Kw(_) => {
                self.bump();
                Ident {
                    name: self.text(t.span).to_string(),
                    span: t.span,
                }
            }
            TokenKind::StrStart(_) => {
                let s = self.parse_primary();
                let name = s.as_plain_str().unwrap_or_default();
                Ident { name, span: s.span }
            }
            _ => {
                self.error_unexpected(t, "a property or method name");
                Ident {
                    name: String::new(),
                    span: Span::at(self.prev_end),
                }
            }
        }
    }
}

/// Tokens that may continue a postfix chain (the chain may still end there).
fn postfix_starts(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Dot
            | TokenKind::SafeDot
            | TokenKind::SpreadDot
            | TokenKind::MethodRef
            | TokenKind::LParen
            | TokenKind::LBracket
            | TokenKind::LBrace
            | TokenKind::Newline
            | TokenKind::Inc
            | TokenKind::Dec
    )
}

/// Whether `{` after `e` is a trailing closure: after a name, a property or a call that has
/// none yet.
fn takes_closure(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Ident(_) | ExprKind::Property { .. } => true,
        ExprKind::Call { closure, .. } => closure.is_none(),
        _ => false,
    }
}
