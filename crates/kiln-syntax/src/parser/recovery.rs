//! Error recovery: closing delimiters and skipping to a place where parsing can resume.
//!
//! Every skip here is a plain loop with a counter, never recursion, so recovering from
//! deeply nested garbage costs no stack.

use super::Parser;
use crate::token::{Token, TokenKind};
use kiln_diagnostics::{Diagnostic, Span};

fn is_opener(k: TokenKind) -> bool {
    matches!(
        k,
        TokenKind::LParen | TokenKind::LBracket | TokenKind::LBrace
    )
}

fn is_closer(k: TokenKind) -> bool {
    matches!(
        k,
        TokenKind::RParen | TokenKind::RBracket | TokenKind::RBrace
    )
}

fn closer_text(k: TokenKind) -> &'static str {
    match k {
        TokenKind::RParen => "`)`",
        TokenKind::RBracket => "`]`",
        TokenKind::RBrace => "`}`",
        _ => "the closing delimiter",
    }
}

fn opener_text(k: TokenKind) -> &'static str {
    match k {
        TokenKind::LParen => "`(`",
        TokenKind::LBracket => "`[`",
        TokenKind::LBrace => "`{`",
        TokenKind::InterpStart => "`${`",
        _ => "delimiter",
    }
}

impl Parser<'_> {
    /// Consumes `close` or reports why it is missing, pointing back at `open`. `what` names
    /// the construct: "the call", "the block", ...
    pub(super) fn expect_closer(&mut self, close: TokenKind, open: Token, what: &str) {
        if self.eat(close).is_some() {
            return;
        }
        let found = self.cur();
        let closer = closer_text(close);
        let opener = opener_text(open.kind);
        if found.kind == TokenKind::Eof {
            if self.eof_unclosed_reported || self.too_deep_reported {
                return;
            }
            self.eof_unclosed_reported = true;
            let d = Diagnostic::error(
                "unclosed-delimiter",
                format!("expected {closer} to close {what}, found the end of the file"),
            )
            .with_primary(Self::point(found), format!("expected {closer}"))
            .with_secondary(open.span, format!("this {opener} is never closed"));
            self.error(d);
            return;
        }
        if !is_closer(found.kind) && self.newline_before() {
            // `foo(a, b` and the next line: most likely the delimiter was forgotten. Resume at
            // the line break so the next line parses as the statement it probably is.
            while self.pos > 0 && self.raw(self.pos - 1).kind == TokenKind::Newline {
                self.pos -= 1;
            }
            if self.last_unclosed == Some(self.pos) {
                return;
            }
            self.last_unclosed = Some(self.pos);
            let d = Diagnostic::error(
                "unclosed-delimiter",
                format!("expected {closer} to close {what} before the end of the line"),
            )
            .with_primary(Span::at(self.prev_end), format!("expected {closer}"))
            .with_secondary(open.span, format!("this {opener} is never closed"));
            self.error(d);
            return;
        }
        let code = if is_closer(found.kind) || found.kind == TokenKind::LBrace {
            "unclosed-delimiter"
        } else {
            "unexpected-token"
        };
        let d = Diagnostic::error(
            code,
            format!(
                "expected {closer} to close {what}, found {}",
                found.kind.describe()
            ),
        )
        .with_primary(Self::point(found), format!("expected {closer}"))
        .with_secondary(open.span, format!("to close this {opener}"));
        self.error(d);
    }

    /// Whether a line break comes right before the current token.
    fn newline_before(&self) -> bool {
        self.pos > 0 && self.raw(self.pos - 1).kind == TokenKind::Newline
    }

    /// In a comma-separated list closed by `close`, after an item not followed by `,`: reports
    /// and skips an unexpected token, unless it is a closer, the end of the file or on the
    /// next line, which [`Parser::expect_closer`] reports better.
    pub(super) fn list_item_end(&mut self, close: TokenKind, errors: usize, expected: &str) {
        let t = self.cur();
        // `stage('x' {`: a `{` is most likely a trailing closure after a forgotten `)`.
        let closure_next = t.kind == TokenKind::LBrace && close == TokenKind::RParen;
        if t.kind == close
            || t.kind == TokenKind::Eof
            || is_closer(t.kind)
            || closure_next
            || self.newline_before()
        {
            return;
        }
        if !self.has_errors_since(errors) {
            self.error_unexpected(t, expected);
        }
        self.skip_until_closer(close);
    }

    /// Skips tokens up to (not including) `close` at this nesting level, stopping early at an
    /// unbalanced closer of another kind, the end of an enclosing string or the end of the
    /// file. Used inside `(...)` and `[...]` after an error.
    pub(super) fn skip_until_closer(&mut self, close: TokenKind) {
        let _ = self.skip_balanced(0, false, |k| k == close);
    }

    /// Skips to the end of the statement: a line break, `;`, the `}` of the enclosing block
    /// or the end of the file, stepping over balanced groups. Stray `)` and `]` are skipped.
    pub(super) fn recover_stmt(&mut self) {
        let _ = self.skip_balanced(0, true, |k| {
            matches!(k, TokenKind::Newline | TokenKind::Semi | TokenKind::RBrace)
        });
    }

    /// Skips one token, or a whole balanced group when the current token opens one. Used when
    /// nesting is too deep to parse what follows.
    /// Returns false when a group was left unclosed at the end of the file.
    pub(super) fn skip_token_tree(&mut self) -> bool {
        let first = self.cur();
        if matches!(
            first.kind,
            TokenKind::Eof | TokenKind::InterpEnd | TokenKind::StrEnd
        ) || is_closer(first.kind)
        {
            return true;
        }
        self.bump();
        if is_opener(first.kind) {
            // Stops right after the closer that balances `first`.
            return self.skip_balanced(1, false, |_| true);
        }
        true
    }

    /// Skips the rest of a `${...}` up to its end token.
    pub(super) fn skip_to_interp_end(&mut self) {
        let _ = self.skip_balanced(0, true, |_| false);
    }

    /// The one skipping loop. Starting `depth` groups deep, skips until `stop` holds at depth
    /// zero. Always stops (without consuming) at the end of the file, at the end of an
    /// enclosing string or interpolation, and at a closer that would leave depth zero, unless
    /// `eat_stray` (then stray `)` and `]` are skipped; a stray `}` still stops). Whole
    /// strings are stepped over by counting their start and end tokens.
    /// Returns whether it ended at depth zero.
    #[must_use]
    fn skip_balanced(
        &mut self,
        depth: u32,
        eat_stray: bool,
        stop: impl Fn(TokenKind) -> bool,
    ) -> bool {
        let mut depth = depth;
        let mut strings = 0u32;
        loop {
            let t = self.raw(self.pos);
            let k = t.kind;
            match k {
                TokenKind::Eof => return depth == 0,
                TokenKind::StrStart(_) => strings += 1,
                TokenKind::StrEnd | TokenKind::InterpEnd if strings == 0 => return depth == 0,
                TokenKind::StrEnd => strings -= 1,
                _ if strings > 0 => {}
                _ if depth == 0 && stop(k) => return true,
                _ if is_opener(k) => depth += 1,
                _ if is_closer(k) && depth > 0 => depth -= 1,
                TokenKind::RParen | TokenKind::RBracket if eat_stray => {}
                _ if is_closer(k) => return true,
                _ => {}
            }
            self.pos += 1;
            self.steps += 1;
            if k != TokenKind::Newline {
                self.prev_end = t.span.end;
            }
        }
    }
}
