//! Primary expressions: literals, strings with interpolation, lists and maps, closures,
//! parentheses and `new`.

use super::Parser;
use crate::ast::{Closure, Expr, ExprKind, Ident, MapEntry, MapKey, StrPart, StringLit, TypeName};
use crate::token::{Keyword, Token, TokenKind};
use kiln_diagnostics::{Diagnostic, Span};

/// Tokens an `expected an expression` error leaves in place for the caller to handle.
fn is_structural(k: TokenKind) -> bool {
    matches!(
        k,
        TokenKind::RParen
            | TokenKind::RBracket
            | TokenKind::RBrace
            | TokenKind::Newline
            | TokenKind::Semi
            | TokenKind::Comma
            | TokenKind::Colon
            | TokenKind::Arrow
            | TokenKind::Eof
            | TokenKind::InterpEnd
            | TokenKind::StrEnd
            | TokenKind::StrText(_)
    )
}

impl Parser<'_> {
    pub(super) fn parse_primary(&mut self) -> Expr {
        let t = self.cur();
        let kind = match t.kind {
            TokenKind::Int => {
                self.bump();
                ExprKind::Int(self.int_value(t))
            }
            TokenKind::Float => {
                self.bump();
                ExprKind::Float(self.float_value(t))
            }
            TokenKind::StrStart(_) => return self.parse_string(),
            TokenKind::Kw(Keyword::True) => {
                self.bump();
                ExprKind::Bool(true)
            }
            TokenKind::Kw(Keyword::False) => {
                self.bump();
                ExprKind::Bool(false)
            }
            TokenKind::Kw(Keyword::Null) => {
                self.bump();
                ExprKind::Null
            }
            TokenKind::Ident | TokenKind::Kw(Keyword::This | Keyword::Super) => {
                self.bump();
                ExprKind::Ident(self.text(t.span).to_string())
            }
            TokenKind::LParen => return self.parse_parens(),
            TokenKind::LBracket => return self.parse_list_or_map(),
            TokenKind::LBrace => {
                let c = self.parse_closure();
                let span = c.span;
                return Expr::new(ExprKind::Closure(Box::new(c)), span);
            }
            TokenKind::Kw(Keyword::New) => return self.parse_new(),
            _ => {
                let d = Diagnostic::error(
                    "expected-expression",
                    format!("expected an expression, found {}", t.kind.describe()),
                )
                .with_primary(Self::point(t), "expected an expression");
                self.error(d);
                if is_structural(t.kind) {
                    return Expr::new(ExprKind::Error, Span::at(self.prev_end));
                }
                self.bump();
                ExprKind::Error
            }
        };
        Expr::new(kind, t.span)
    }

    fn int_value(&mut self, t: Token) -> i64 {
        let raw = self.text(t.span);
        let digits: String = raw
            .trim_end_matches(['l', 'L', 'g', 'G', 'i', 'I'])
            .chars()
            .filter(|&c| c != '_')
            .collect();
        let lower = digits.to_ascii_lowercase();
        let parsed = if let Some(hex) = lower.strip_prefix("0x") {
            i64::from_str_radix(hex, 16)
        } else if let Some(bin) = lower.strip_prefix("0b") {
            i64::from_str_radix(bin, 2)
        } else if lower.len() > 1 && lower.starts_with('0') {
            i64::from_str_radix(&lower[1..], 8)
        } else {
            lower.parse::<i64>()
        };
        match parsed {
            Ok(v) => v,
            Err(e) => {
                let too_large = matches!(
                    e.kind(),
                    std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow
                );
                let (code, msg) = if too_large {
                    ("integer-too-large", "integer literal is too large")
                } else {
                    ("invalid-number", "invalid integer literal")
                };
                self.error(Diagnostic::error(code, msg).with_primary(t.span, "here"));
                0
            }
        }
    }

    fn float_value(&mut self, t: Token) -> f64 {
        let raw = self.text(t.span);
        let digits: String = raw
            .trim_end_matches(['d', 'D', 'f', 'F', 'g', 'G'])
            .chars()
            .filter(|&c| c != '_')
            .collect();
        digits.parse::<f64>().unwrap_or_else(|_| {
            self.error(
                Diagnostic::error("invalid-number", "invalid number literal")
                    .with_primary(t.span, "here"),
            );
            0.0
        })
    }

    /// `( expr )`; the expression keeps its own span.
    fn parse_parens(&mut self) -> Expr {
        let open = self.bump();
        if let Some(ty) = self.cast_type() {
            let expr = self.parse_expr_bp(super::expr::PREFIX_BP);
            return Expr::new(
                ExprKind::Cast {
                    expr: Box::new(expr),
                    ty,
                },
                self.span_from(open.span.start),
            );
        }
        self.with_nl(true, |p| {
            let errors = p.diags.len();
            let e = p.parse_expr();
            p.list_item_end(TokenKind::RParen, errors, "`)`");
            p.expect_closer(TokenKind::RParen, open, "the parenthesized expression");
            e
        })
    }

    /// After `(`: a Java-style cast's type and `)`, as in `(Collection) ['a', 'b']`, when a
    /// capitalised class name (not an all-capitals constant) stands alone in the parentheses
    /// and an operand follows; nothing is consumed otherwise.
    fn cast_type(&mut self) -> Option<TypeName> {
        if self.nth(0) != TokenKind::Ident || self.nth(1) != TokenKind::RParen {
            return None;
        }
        if !matches!(
            self.nth(2),
            TokenKind::LBracket
                | TokenKind::Ident
                | TokenKind::StrStart(_)
                | TokenKind::Int
                | TokenKind::Float
                | TokenKind::LParen
        ) {
            return None;
        }
        let t = self.cur();
        let name = self.text(t.span);
        let class_like = name.starts_with(|c: char| c.is_ascii_uppercase())
            && name.chars().any(|c| c.is_ascii_lowercase());
        if !class_like {
            return None;
        }
        let ty = TypeName {
            name: name.to_string(),
            span: t.span,
        };
        self.bump();
        self.bump();
        Some(ty)
    }

    /// A string: its text runs and interpolations, up to the lexer's `StrEnd`.
    pub(super) fn parse_string(&mut self) -> Expr {
        let open = self.bump();
        let TokenKind::StrStart(quote) = open.kind else {
            return Expr::new(ExprKind::Error, open.span);
        };
        let mut parts = Vec::new();
        loop {
            let t = self.raw(self.pos);
            match t.kind {
                TokenKind::StrText(idx) => {
                    self.bump_raw();
                    let text = self.take_text(idx);
                    parts.push(StrPart::Text { text, span: t.span });
                }
                TokenKind::InterpStart => {
                    self.bump_raw();
                    parts.push(StrPart::Interp(self.parse_interpolation(t)));
                }
                TokenKind::ShortInterpStart => {
                    self.bump_raw();
                    parts.push(StrPart::Interp(self.parse_short_interpolation()));
                }
                TokenKind::StrEnd => {
                    self.bump_raw();
                    break;
                }
                // The lexer closes every string; anything else means a bug upstream, and
                // stopping here keeps the parser total.
                _ => break,
            }
        }
        let lit = StringLit { quote, parts };
        Expr::new(ExprKind::Str(lit), self.span_from(open.span.start))
    }

    /// Consumes the raw current token (string parts are not subject to line-break rules).
    fn bump_raw(&mut self) {
        let t = self.raw(self.pos);
        if t.kind != TokenKind::Eof {
            self.pos += 1;
        }
        self.prev_end = t.span.end;
        self.steps += 1;
    }

    /// `${ expr }`; `open` is the `${` token.
    fn parse_interpolation(&mut self, open: Token) -> Expr {
        self.with_nl(true, |p| {
            if p.at(TokenKind::InterpEnd) {
                let end = p.bump();
                let span = open.span.to(end.span);
                p.error(
                    Diagnostic::error("empty-interpolation", "empty interpolation `${}`")
                        .with_primary(span, "expected an expression inside"),
                );
                return Expr::new(ExprKind::Error, span);
            }
            let errors = p.diags.len();
            // A command call is allowed, as in Groovy: `"${tool 'jdk17'}/bin"`.
            let e = if p.enter() {
                let e = p.parse_command_or_expr();
                p.leave();
                e
            } else {
                p.too_deep_expr()
            };
            if !p.at(TokenKind::InterpEnd) {
                if !p.has_errors_since(errors) {
                    let t = p.cur();
                    let d = Diagnostic::error(
                        "unexpected-token",
                        format!(
                            "expected `}}` to close the interpolation, found {}",
                            t.kind.describe()
                        ),
                    )
                    .with_primary(Self::point(t), "expected `}`")
                    .with_secondary(open.span, "interpolation starts here");
                    p.error(d);
                }
                p.skip_to_interp_end();
            }
            if p.at(TokenKind::InterpEnd) {
                p.bump_raw();
            }
            e
        })
    }

    /// `$name.prop.prop`: the lexer has produced identifiers and dots only.
    fn parse_short_interpolation(&mut self) -> Expr {
        let first = self.raw(self.pos);
        let start = first.span.start;
        let mut e = Expr::new(ExprKind::Error, Span::at(start));
        if first.kind == TokenKind::Ident {
            self.bump_raw();
            e = Expr::new(
                ExprKind::Ident(self.text(first.span).to_string()),
                first.span,
            );
        }
        while self.raw(self.pos).kind == TokenKind::Dot {
            self.bump_raw();
            let t = self.raw(self.pos);
            if t.kind != TokenKind::Ident {
                break;
            }
            self.bump_raw();
            let name = Ident {
                name: self.text(t.span).to_string(),
                span: t.span,
            };
            let kind = ExprKind::Property {
                target: Box::new(e),
                name,
                safe: false,
                spread: false,
            };
            e = Expr::new(kind, self.span_from(start));
        }
        if self.raw(self.pos).kind == TokenKind::InterpEnd {
            self.bump_raw();
            // The end token is empty: keep the span on the name.
            self.prev_end = e.span.end;
        }
        e
    }

    /// `[a, b]`, `[k: v, 'x': y, (expr): z]` or `[:]`.
    fn parse_list_or_map(&mut self) -> Expr {
        let open = self.bump();
        let start = open.span.start;
        self.with_nl(true, |p| {
            if p.at(TokenKind::Colon) && p.nth(1) == TokenKind::RBracket {
                p.bump();
                p.bump();
                return Expr::new(ExprKind::Map(Vec::new()), p.span_from(start));
            }
            let mut items = Vec::new();
            let mut entries = Vec::new();
            loop {
                if matches!(
                    p.peek(),
                    TokenKind::RBracket | TokenKind::RBrace | TokenKind::RParen | TokenKind::Eof
                ) {
                    break;
                }
                let errors = p.diags.len();
                match p.parse_element() {
                    Element::Item(e) => items.push(e),
                    Element::Entry(e) => entries.push(e),
                }
                if p.eat(TokenKind::Comma).is_some() {
                    continue;
                }
                p.list_item_end(TokenKind::RBracket, errors, "`,` or `]`");
                break;
            }
            let what = if entries.is_empty() {
                "the list"
            } else {
                "the map"
            };
            p.expect_closer(TokenKind::RBracket, open, what);
            let span = p.span_from(start);
            if !entries.is_empty() && !items.is_empty() {
                p.error(
                    Diagnostic::error(
                        "mixed-list-map",
                        "a literal cannot mix list items and map entries",
                    )
                    .with_primary(items[0].span, "a list item")
                    .with_secondary(entries[0].span, "a map entry"),
                );
            }
            let kind = if entries.is_empty() {
                ExprKind::List(items)
            } else {
                ExprKind::Map(entries)
            };
            Expr::new(kind, span)
        })
    }

    fn parse_element(&mut self) -> Element {
        let t = self.cur();
        let start = t.span.start;
        if matches!(t.kind, TokenKind::Ident | TokenKind::Kw(_)) && self.nth(1) == TokenKind::Colon
        {
            self.bump();
            self.bump();
            let key = MapKey::Name(Ident {
                name: self.text(t.span).to_string(),
                span: t.span,
            });
            let value = self.parse_expr();
            let span = self.span_from(start);
            return Element::Entry(MapEntry { key, value, span });
        }
        let parenthesized = t.kind == TokenKind::LParen;
        let e = self.parse_expr();
        if self.eat(TokenKind::Colon).is_none() {
            return Element::Item(e);
        }
        // A missing key is an empty error node where the previous token ended.
        let start = start.min(e.span.start);
        let key = match e.as_plain_str() {
            Some(name) if !parenthesized => MapKey::Name(Ident { name, span: e.span }),
            _ => MapKey::Expr(e),
        };
        let value = self.parse_expr();
        let span = self.span_from(start);
        Element::Entry(MapEntry { key, value, span })
    }

    /// `{ params -> statements }` or `{ statements }`; the current token is `{`.
    pub(super) fn parse_closure(&mut self) -> Closure {
        let open = self.bump();
        self.with_nl(false, |p| {
            let mut params = Vec::new();
            let explicit_params = p.closure_has_params();
            if explicit_params {
                params = p.parse_params(TokenKind::Arrow);
                p.eat(TokenKind::Arrow);
            }
            let body = p.parse_stmts(super::stmt::StmtsEnd::Brace);
            p.expect_closer(TokenKind::RBrace, open, "the closure");
            Closure {
                params,
                explicit_params,
                body,
                span: p.span_from(open.span.start),
            }
        })
    }

    /// Bounded lookahead: do the tokens after `{` look like `a, String b ->`?
    fn closure_has_params(&mut self) -> bool {
        const LIMIT: usize = 64;
        let mut i = self.pos;
        for _ in 0..LIMIT {
            self.steps += 1;
            match self.raw(i).kind {
                TokenKind::Arrow => return true,
                TokenKind::Ident
                | TokenKind::Comma
                | TokenKind::Dot
                | TokenKind::Lt
                | TokenKind::Gt
                | TokenKind::Shr
                | TokenKind::Question
                | TokenKind::LBracket
                | TokenKind::RBracket
                | TokenKind::Kw(Keyword::Def | Keyword::Final)
                | TokenKind::Newline => i += 1,
                // `{ a, b = 5 -> ...}`: a default value, up to the arrow.
                TokenKind::Eq => return self.default_reaches_arrow(i + 1, LIMIT),
                _ => return false,
            }
        }
        false
    }

    /// Bounded lookahead from a parameter's default value: does an `->` follow at the
    /// same nesting level, before the line, the statement or a block ends?
    fn default_reaches_arrow(&mut self, mut i: usize, limit: usize) -> bool {
        let mut depth = 0usize;
        for _ in 0..limit {
            self.steps += 1;
            match self.raw(i).kind {
                TokenKind::Arrow if depth == 0 => return true,
                TokenKind::LParen | TokenKind::LBracket => depth += 1,
                TokenKind::RParen | TokenKind::RBracket if depth > 0 => depth -= 1,
                TokenKind::RParen | TokenKind::RBracket => return false,
                TokenKind::LBrace | TokenKind::RBrace | TokenKind::Semi | TokenKind::Eof => {
                    return false;
                }
                TokenKind::Newline if depth == 0 => return false,
                _ => {}
            }
            i += 1;
        }
        false
    }

    /// `new Type(args)`: kept so kiln can report it.
    fn parse_new(&mut self) -> Expr {
        let kw = self.bump();
        let ty = self.expect_type("a type name after `new`");
        let mut args = Vec::new();
        if self.raw_kind(0) == TokenKind::LParen {
            args = self.parse_paren_args();
        } else if self.raw_kind(0) == TokenKind::LBracket {
            let open = self.bump();
            self.with_nl(true, |p| {
                let value = p.parse_expr();
                args.push(crate::ast::Arg {
                    name: None,
                    span: value.span,
                    value,
                });
                p.expect_closer(TokenKind::RBracket, open, "the array size");
            });
        }
        if self.raw_kind(0) == TokenKind::LBrace {
            // An anonymous class body: skipped, `new` is reported by kiln-model anyway.
            self.skip_token_tree();
        }
        Expr::new(ExprKind::New { ty, args }, self.span_from(kw.span.start))
    }
}

enum Element {
    Item(Expr),
    Entry(MapEntry),
}
