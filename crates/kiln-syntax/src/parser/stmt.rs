//! Statements: blocks, control flow, and the dispatch to declarations and expressions.

use super::Parser;
use crate::ast::{Block, Catch, Expr, ExprKind, Ident, Stmt, StmtKind, SwitchCase, TypeName};
use crate::token::{Keyword, TokenKind};
use kiln_diagnostics::{Diagnostic, Span};

/// Where a statement list ends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum StmtsEnd {
    /// At the end of the file; a stray `}` is an error.
    File,
    /// At the `}` of a block or closure.
    Brace,
    /// At `case`, `default` or the `}` of a switch.
    Case,
}

impl Parser<'_> {
    pub(crate) fn parse_stmts(&mut self, end: StmtsEnd) -> Vec<Stmt> {
        let mut out = Vec::new();
        loop {
            while matches!(self.raw_kind(0), TokenKind::Newline | TokenKind::Semi) {
                self.bump();
            }
            match self.raw_kind(0) {
                TokenKind::Eof => break,
                TokenKind::RBrace if end != StmtsEnd::File => break,
                TokenKind::Kw(Keyword::Case | Keyword::Default) if end == StmtsEnd::Case => break,
                TokenKind::RBrace => {
                    let t = self.bump();
                    self.error(
                        Diagnostic::error("unexpected-token", "unexpected `}`")
                            .with_primary(t.span, "no `{` to close here"),
                    );
                    continue;
                }
                _ => {}
            }
            let before = self.pos;
            let errors = self.diags.len();
            out.push(self.parse_stmt());
            self.finish_stmt(errors);
            if self.pos == before {
                self.bump();
            }
        }
        out
    }

    /// After a statement: the line must end (or `;`, or the block's `}`).
    pub(super) fn finish_stmt(&mut self, errors: usize) {
        let t = self.raw(self.pos);
        if matches!(
            t.kind,
            TokenKind::Newline | TokenKind::Semi | TokenKind::RBrace | TokenKind::Eof
        ) {
            return;
        }
        if !self.has_errors_since(errors) {
            self.error_unexpected(t, "a line break or `;` after the statement");
        }
        self.recover_stmt();
    }

    pub(crate) fn parse_stmt(&mut self) -> Stmt {
        if !self.enter() {
            let start = self.cur().span.start;
            self.skip_token_tree();
            self.recover_stmt();
            return Stmt {
                kind: StmtKind::Error,
                span: self.span_from(start),
            };
        }
        let s = self.parse_stmt_inner();
        self.leave();
        s
    }

    fn parse_stmt_inner(&mut self) -> Stmt {
        let t = self.cur();
        let start = t.span.start;
        let kind = match t.kind {
            TokenKind::At => return self.parse_annotated(),
            TokenKind::LBrace => StmtKind::Block(self.parse_block()),
            TokenKind::Kw(kw) => match kw {
                Keyword::Import => return self.parse_import(),
                Keyword::Def => {
                    self.bump();
                    let ty = self.type_after_def();
                    return self.parse_declaration_rest(start, ty);
                }
                Keyword::Void => {
                    let ty = self.parse_type();
                    return self.parse_declaration_rest(start, ty);
                }
                k if k.is_modifier() => return self.parse_modified(start),
                Keyword::Class | Keyword::Interface | Keyword::Enum | Keyword::Trait => {
                    return self.parse_class(start);
                }
                Keyword::If => self.parse_if(),
                Keyword::For => self.parse_for(),
                Keyword::While => {
                    self.bump();
                    let cond = self.parse_paren_cond("`while`");
                    let body = self.parse_body();
                    StmtKind::While { cond, body }
                }
                Keyword::Do => return self.parse_do(start),
                Keyword::Switch => self.parse_switch(),
                Keyword::Try => self.parse_try(),
                Keyword::Return => {
                    self.bump();
                    StmtKind::Return(self.optional_value())
                }
                Keyword::Throw => {
                    self.bump();
                    StmtKind::Throw(self.parse_expr())
                }
                Keyword::Break | Keyword::Continue => {
                    self.bump();
                    if self.raw_kind(0) == TokenKind::Ident {
                        let label = self.bump();
                        self.warn_label(label.span);
                    }
                    if kw == Keyword::Break {
                        StmtKind::Break
                    } else {
                        StmtKind::Continue
                    }
                }
                Keyword::Package => {
                    let import = self.parse_import();
                    self.error(
                        Diagnostic::warning(
                            "ignored-package",
                            "`package` declarations are ignored",
                        )
                        .with_primary(import.span, "ignored"),
                    );
                    return Stmt {
                        kind: StmtKind::Error,
                        span: import.span,
                    };
                }
                _ => StmtKind::Expr(self.parse_command_or_expr()),
            },
            TokenKind::Ident if self.raw_kind(1) == TokenKind::Colon => {
                self.bump();
                self.bump();
                self.warn_label(Span::new(t.span.start, self.prev_end));
                self.skip_newlines();
                if matches!(self.raw_kind(0), TokenKind::RBrace | TokenKind::Eof) {
                    return Stmt {
                        kind: StmtKind::Error,
                        span: self.span_from(start),
                    };
                }
                return self.parse_stmt();
            }
            TokenKind::Ident if self.looks_like_declaration() => {
                let ty = self.parse_type();
                return self.parse_declaration_rest(start, ty);
            }
            _ => StmtKind::Expr(self.parse_command_or_expr()),
        };
        Stmt {
            kind,
            span: self.span_from(start),
        }
    }

    fn warn_label(&mut self, span: Span) {
        self.error(
            Diagnostic::warning("ignored-label", "statement labels are not supported")
                .with_primary(span, "this label is ignored"),
        );
    }

    /// `private static final ...` before a declaration or class.
    fn parse_modified(&mut self, start: u32) -> Stmt {
        while matches!(self.peek(), TokenKind::Kw(k) if k.is_modifier()) {
            self.bump();
        }
        self.parse_after_modifiers(start)
    }

    /// A declaration after its modifiers (`static`, `final`, ...).
    pub(super) fn parse_after_modifiers(&mut self, start: u32) -> Stmt {
        let t = self.cur();
        match t.kind {
            TokenKind::Kw(Keyword::Def) => {
                self.bump();
                let ty = self.type_after_def();
                self.parse_declaration_rest(start, ty)
            }
            TokenKind::Kw(Keyword::Class | Keyword::Interface | Keyword::Enum | Keyword::Trait) => {
                self.parse_class(start)
            }
            TokenKind::Ident if matches!(self.raw_kind(1), TokenKind::Eq | TokenKind::LParen) => {
                self.parse_declaration_rest(start, None)
            }
            TokenKind::Ident | TokenKind::Kw(Keyword::Void) => {
                let ty = self.parse_type();
                self.parse_declaration_rest(start, ty)
            }
            _ => {
                self.error_unexpected(t, "a declaration after the modifiers");
                self.recover_stmt();
                Stmt {
                    kind: StmtKind::Error,
                    span: self.span_from(start),
                }
            }
        }
    }

    /// The type Groovy allows after `def` (`def boolean ok()`, `def String name = ...`,
    /// `def List<String> xs`), read as the declaration's type; `None` when the name follows.
    fn type_after_def(&mut self) -> Option<TypeName> {
        let typed = self.raw_kind(0) == TokenKind::Ident
            && matches!(
                self.raw_kind(1),
                TokenKind::Ident | TokenKind::Lt | TokenKind::Dot | TokenKind::LBracket
            );
        if typed { self.parse_type() } else { None }
    }

    /// `return` with a value, or alone at the end of the line or block.
    fn optional_value(&mut self) -> Option<Expr> {
        match self.raw_kind(0) {
            TokenKind::Newline | TokenKind::Semi | TokenKind::RBrace | TokenKind::Eof => None,
            _ => Some(self.parse_command_or_expr()),
        }
    }

    /// `{ statements }`; the current token is `{`.
    pub(crate) fn parse_block(&mut self) -> Block {
        let open = self.bump();
        self.with_nl(false, |p| {
            let statements = p.parse_stmts(StmtsEnd::Brace);
            p.expect_closer(TokenKind::RBrace, open, "the block");
            Block {
                statements,
                span: p.span_from(open.span.start),
            }
        })
    }

    /// The body of `if`, `for`, `while`: a block, or one statement wrapped in a block.
    fn parse_body(&mut self) -> Block {
        self.skip_newlines();
        if self.at(TokenKind::LBrace) {
            return self.parse_block();
        }
        let t = self.cur();
        if matches!(t.kind, TokenKind::RBrace | TokenKind::Eof | TokenKind::Semi) {
            self.error_unexpected(t, "a statement or `{`");
            return Block {
                statements: Vec::new(),
                span: Span::at(self.prev_end),
            };
        }
        let stmt = self.parse_stmt();
        Block {
            span: stmt.span,
            statements: vec![stmt],
        }
    }

    /// Skips line breaks when the next line starts with `kind` (`else`, `catch`, `{`).
    pub(crate) fn skip_newlines_before(&mut self, kind: TokenKind) {
        if self.raw_kind(0) == TokenKind::Newline && self.raw_kind(1) == kind {
            self.skip_newlines();
        }
    }

    /// `( expr )` after `if`, `while`, `switch`.
    fn parse_paren_cond(&mut self, what: &str) -> Expr {
        let t = self.cur();
        if t.kind != TokenKind::LParen {
            self.error_unexpected(t, &format!("`(` after {what}"));
            return Expr::new(ExprKind::Error, Span::at(self.prev_end));
        }
        let open = self.bump();
        self.with_nl(true, |p| {
            let errors = p.diags.len();
            let cond = p.parse_expr();
            p.list_item_end(TokenKind::RParen, errors, "`)`");
            p.expect_closer(TokenKind::RParen, open, "the condition");
            cond
        })
    }

    fn parse_if(&mut self) -> StmtKind {
        self.bump();
        let cond = self.parse_paren_cond("`if`");
        let then = self.parse_body();
        self.skip_newlines_before(TokenKind::Kw(Keyword::Else));
        let mut otherwise = None;
        if self.eat(TokenKind::Kw(Keyword::Else)).is_some() {
            self.skip_newlines();
            let stmt = if self.at(TokenKind::Kw(Keyword::If)) {
                self.parse_stmt()
            } else {
                let body = self.parse_body();
                Stmt {
                    span: body.span,
                    kind: StmtKind::Block(body),
                }
            };
            otherwise = Some(Box::new(stmt));
        }
        StmtKind::If {
            cond,
            then,
            otherwise,
        }
    }

    fn parse_for(&mut self) -> StmtKind {
        self.bump();
        let t = self.cur();
        if t.kind != TokenKind::LParen {
            self.error_unexpected(t, "`(` after `for`");
            self.recover_stmt();
            return StmtKind::Error;
        }
        let open = self.bump();
        let header = self.with_nl(true, |p| {
            let header = if p.for_in_ahead() {
                p.parse_for_in_header()
            } else {
                p.parse_for_classic_header()
            };
            if !p.at(TokenKind::RParen) {
                p.skip_until_closer(TokenKind::RParen);
            }
            p.expect_closer(TokenKind::RParen, open, "the `for` header");
            header
        });
        let body = self.parse_body();
        match header {
            ForHeader::In { var, iterable } => StmtKind::ForIn {
                var,
                iterable,
                body,
            },
            ForHeader::Classic { init, cond, update } => StmtKind::ForClassic {
                init,
                cond,
                update,
                body,
            },
        }
    }

    /// Bounded lookahead: `[def|Type] name in|:` ahead of the first `;` or `=`.
    fn for_in_ahead(&mut self) -> bool {
        for n in 0..8 {
            match self.nth(n) {
                TokenKind::Kw(Keyword::In) | TokenKind::Colon => return n > 0,
                TokenKind::Ident
                | TokenKind::Dot
                | TokenKind::Lt
                | TokenKind::Gt
                | TokenKind::Comma
                | TokenKind::LBracket
                | TokenKind::RBracket
                | TokenKind::Kw(Keyword::Def | Keyword::Final) => {}
                _ => return false,
            }
        }
        false
    }

    fn parse_for_in_header(&mut self) -> ForHeader {
        let mut var = None;
        while !matches!(
            self.peek(),
            TokenKind::Kw(Keyword::In) | TokenKind::Colon | TokenKind::Eof | TokenKind::RParen
        ) {
            let t = self.bump();
            if t.kind == TokenKind::Ident {
                var = Some(Ident {
                    name: self.text(t.span).to_string(),
                    span: t.span,
                });
            }
        }
        self.bump();
        let var = var.unwrap_or_else(|| Ident {
            name: String::new(),
            span: Span::at(self.prev_end),
        });
        ForHeader::In {
            var,
            iterable: self.parse_expr(),
        }
    }

    fn parse_for_classic_header(&mut self) -> ForHeader {
        let init = if self.at(TokenKind::Semi) {
            None
        } else {
            Some(Box::new(self.parse_stmt()))
        };
        self.expect_semi_in_for();
        let cond = if self.at(TokenKind::Semi) {
            None
        } else {
            Some(self.parse_expr())
        };
        self.expect_semi_in_for();
        let update = if self.at(TokenKind::RParen) {
            None
        } else {
            Some(self.parse_expr())
        };
        ForHeader::Classic { init, cond, update }
    }

    fn expect_semi_in_for(&mut self) {
        if self.eat(TokenKind::Semi).is_none() {
            let t = self.cur();
            self.error_unexpected(t, "`;` in the `for` header");
        }
    }

    /// `do { } while (x)`: Groovy 2 (Jenkins) has no do-while; reported and skipped.
    fn parse_do(&mut self, start: u32) -> Stmt {
        let kw = self.bump();
        self.error(
            Diagnostic::error(
                "unsupported-syntax",
                "`do ... while` loops are not supported",
            )
            .with_primary(kw.span, "use a `while` loop")
            .with_note("note: Jenkins runs Groovy 2, which has no `do ... while`"),
        );
        self.skip_newlines();
        if self.at(TokenKind::LBrace) {
            self.skip_token_tree();
        }
        self.skip_newlines_before(TokenKind::Kw(Keyword::While));
        if self.eat(TokenKind::Kw(Keyword::While)).is_some() && self.at(TokenKind::LParen) {
            self.skip_token_tree();
        }
        Stmt {
            kind: StmtKind::Error,
            span: self.span_from(start),
        }
    }

    fn parse_switch(&mut self) -> StmtKind {
        self.bump();
        let subject = self.parse_paren_cond("`switch`");
        self.skip_newlines();
        let t = self.cur();
        if t.kind != TokenKind::LBrace {
            self.error_unexpected(t, "`{` to start the switch body");
            return StmtKind::Switch {
                subject,
                cases: Vec::new(),
            };
        }
        let open = self.bump();
        let cases = self.with_nl(false, |p| {
            let mut cases = Vec::new();
            loop {
                let stray = p.parse_stmts(StmtsEnd::Case);
                if let Some(first) = stray.first() {
                    p.error(
                        Diagnostic::error("unexpected-token", "expected `case` or `default`")
                            .with_primary(first.span, "a statement outside any `case`"),
                    );
                }
                let t = p.cur();
                let value = match t.kind {
                    TokenKind::Kw(Keyword::Case) => {
                        p.bump();
                        Some(p.parse_expr())
                    }
                    TokenKind::Kw(Keyword::Default) => {
                        p.bump();
                        None
                    }
                    _ => break,
                };
                if p.eat(TokenKind::Colon).is_none() {
                    let t = p.cur();
                    p.error_unexpected(t, "`:` after the case");
                }
                let body = p.parse_stmts(StmtsEnd::Case);
                cases.push(SwitchCase {
                    value,
                    body,
                    span: p.span_from(t.span.start),
                });
            }
            p.expect_closer(TokenKind::RBrace, open, "the switch");
            cases
        });
        StmtKind::Switch { subject, cases }
    }

    fn parse_try(&mut self) -> StmtKind {
        let kw = self.bump();
        self.skip_newlines();
        let body = self.block_or_error("`{` after `try`");
        let mut catches = Vec::new();
        loop {
            self.skip_newlines_before(TokenKind::Kw(Keyword::Catch));
            if self.eat(TokenKind::Kw(Keyword::Catch)).is_none() {
                break;
            }
            catches.push(self.parse_catch());
        }
        self.skip_newlines_before(TokenKind::Kw(Keyword::Finally));
        let mut finally = None;
        if self.eat(TokenKind::Kw(Keyword::Finally)).is_some() {
            self.skip_newlines();
            finally = Some(self.block_or_error("`{` after `finally`"));
        }
        if catches.is_empty() && finally.is_none() {
            let t = self.cur();
            self.error(
                Diagnostic::error(
                    "unexpected-token",
                    "expected `catch` or `finally` after `try`",
                )
                .with_primary(Self::point(t), "expected `catch` or `finally`")
                .with_secondary(kw.span, "this `try`"),
            );
        }
        StmtKind::Try {
            body,
            catches,
            finally,
        }
    }

    fn block_or_error(&mut self, what: &str) -> Block {
        if self.at(TokenKind::LBrace) {
            return self.parse_block();
        }
        let t = self.cur();
        self.error_unexpected(t, what);
        Block {
            statements: Vec::new(),
            span: Span::at(self.prev_end),
        }
    }

    /// `catch (e)`, `catch (Exception e)`, `catch (A | B e)`; `catch` is consumed.
    fn parse_catch(&mut self) -> Catch {
        let t = self.cur();
        let mut types: Vec<TypeName> = Vec::new();
        let mut name = Ident {
            name: String::new(),
            span: Span::at(self.prev_end),
        };
        if t.kind == TokenKind::LParen {
            let open = self.bump();
            self.with_nl(true, |p| {
                while matches!(p.peek(), TokenKind::Kw(Keyword::Final | Keyword::Def)) {
                    p.bump();
                }
                loop {
                    let t = p.cur();
                    if t.kind == TokenKind::Ident && p.nth(1) == TokenKind::RParen {
                        p.bump();
                        name = Ident {
                            name: p.text(t.span).to_string(),
                            span: t.span,
                        };
                        break;
                    }
                    match p.parse_type() {
                        Some(ty) => types.push(ty),
                        None => {
                            p.error_unexpected(t, "an exception type or name");
                            p.skip_until_closer(TokenKind::RParen);
                            break;
                        }
                    }
                    p.eat(TokenKind::Pipe);
                }
                p.expect_closer(TokenKind::RParen, open, "the `catch` clause");
            });
        } else {
            self.error_unexpected(t, "`(` after `catch`");
        }
        self.skip_newlines();
        let body = self.block_or_error("`{` after the `catch` clause");
        Catch { types, name, body }
    }
}

enum ForHeader {
    In {
        var: Ident,
        iterable: Expr,
    },
    Classic {
        init: Option<Box<Stmt>>,
        cond: Option<Expr>,
        update: Option<Expr>,
    },
}
