//! The recursive-descent parser: tokens to [`ast`](crate::ast) nodes.
//!
//! The parser never fails. Each problem becomes a [`Diagnostic`] and an `Error` node, and
//! parsing resumes at the next statement boundary (a line break, `;` or the `}` of the
//! enclosing block), so one run reports every error. Lookahead is bounded and every loop
//! consumes a token or stops, so the work is linear in the input; recursion is bounded by
//! [`MAX_DEPTH`].
//!
//! Line breaks end statements except inside `(...)`, `[...]` and `${...}`; a stack of
//! "newline-insensitive" flags tracks that (a closure inside parentheses makes them
//! significant again).

mod decl;
mod expr;
mod primary;
mod recovery;
mod stmt;

use crate::ast::{Expr, File};
use crate::lexer::{self, Lexed};
use crate::token::{Token, TokenKind};
use kiln_diagnostics::{Diagnostic, Span};

/// How deep the tree may nest before the parser reports `nesting-too-deep` and stops. A
/// level is a statement, a nested expression, or one link of an operator or member chain:
/// `stage('x') { ... }` costs three. Real pipelines stay under fifty; 256 levels fit a 2 MiB
/// thread stack even in debug builds (measured worst case about 5 KiB per level).
pub(crate) const MAX_DEPTH: u32 = 256;

/// Counters of the work done, for the linear-time test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseStats {
    /// Tokens produced by the lexer.
    pub tokens: usize,
    /// Tokens consumed plus tokens inspected by lookahead.
    pub steps: u64,
}

pub(crate) struct Parser<'s> {
    src: &'s str,
    base: u32,
    tokens: Vec<Token>,
    texts: Vec<String>,
    pos: usize,
    /// End of the last consumed token that is not a line break.
    prev_end: u32,
    diags: Vec<Diagnostic>,
    depth: u32,
    too_deep_reported: bool,
    eof_unclosed_reported: bool,
    /// Where the last "unclosed before the end of the line" was reported, so enclosing
    /// delimiters do not report the same place again.
    last_unclosed: Option<usize>,
    /// Top: whether line breaks are insignificant here.
    nl_insensitive: Vec<bool>,
    steps: u64,
    /// Parsing a class member marked `abstract`: a method may have no body.
    abstract_member: bool,
}

pub(crate) fn parse_file(text: &str) -> (File, Vec<Diagnostic>, ParseStats) {
    let (lexed, lex_diags) = lexer::lex(text, 0, true);
    let shebang = lexed.shebang;
    let mut p = Parser::new(text, 0, lexed, lex_diags);
    let statements = p.parse_stmts(stmt::StmtsEnd::File);
    let span = Span::new(0, lexer::to_u32(text.len()));
    let file = File {
        shebang,
        statements,
        span,
    };
    let (diags, stats) = p.finish();
    (file, diags, stats)
}

pub(crate) fn parse_standalone_expr(text: &str, base: u32) -> (Expr, Vec<Diagnostic>) {
    let (lexed, lex_diags) = lexer::lex(text, base, false);
    let mut p = Parser::new(text, base, lexed, lex_diags);
    p.nl_insensitive.push(true);
    let expr = p.parse_expr();
    if p.peek() != TokenKind::Eof {
        let t = p.cur();
        if !p.has_errors_since(0) {
            p.error_unexpected(t, "the end of the expression");
        }
    }
    let (diags, _) = p.finish();
    (expr, diags)
}

impl<'s> Parser<'s> {
    fn new(src: &'s str, base: u32, lexed: Lexed, diags: Vec<Diagnostic>) -> Self {
        Parser {
            src,
            base,
            tokens: lexed.tokens,
            texts: lexed.texts,
            pos: 0,
            prev_end: base,
            diags,
            depth: 0,
            too_deep_reported: false,
            eof_unclosed_reported: false,
            last_unclosed: None,
            nl_insensitive: vec![false],
            steps: 0,
            abstract_member: false,
        }
    }

    fn finish(mut self) -> (Vec<Diagnostic>, ParseStats) {
        self.diags.sort_by_key(|d| d.primary_span().start);
        let stats = ParseStats {
            tokens: self.tokens.len(),
            steps: self.steps,
        };
        (self.diags, stats)
    }

    // ---- token access -------------------------------------------------------------

    /// The token at raw index `i` (the final `Eof` when past the end).
    fn raw(&self, i: usize) -> Token {
        match self.tokens.get(i).or(self.tokens.last()) {
            Some(t) => *t,
            None => Token {
                kind: TokenKind::Eof,
                span: Span::at(self.base),
            },
        }
    }

    fn insensitive(&self) -> bool {
        self.nl_insensitive.last().copied().unwrap_or(false)
    }

    fn skip_insignificant_newlines(&mut self) {
        if self.insensitive() {
            self.skip_newlines();
        }
    }

    /// Skips line breaks whatever the context.
    fn skip_newlines(&mut self) {
        while self.raw(self.pos).kind == TokenKind::Newline {
            self.pos += 1;
            self.steps += 1;
        }
    }

    fn cur(&mut self) -> Token {
        self.skip_insignificant_newlines();
        self.raw(self.pos)
    }

    fn peek(&mut self) -> TokenKind {
        self.cur().kind
    }

    /// The kind of the `n`-th significant token after the current one (bounded by `n`).
    fn nth(&mut self, n: usize) -> TokenKind {
        self.skip_insignificant_newlines();
        let skip_nl = self.insensitive();
        let mut i = self.pos;
        let mut seen = 0;
        loop {
            self.steps += 1;
            let t = self.raw(i);
            if t.kind == TokenKind::Eof {
                return t.kind;
            }
            if !(skip_nl && t.kind == TokenKind::Newline) {
                if seen == n {
                    return t.kind;
                }
                seen += 1;
            }
            i += 1;
        }
    }

    /// The raw kind (line breaks included) `n` tokens after the current position.
    fn raw_kind(&self, n: usize) -> TokenKind {
        self.raw(self.pos + n).kind
    }

    fn at(&mut self, kind: TokenKind) -> bool {
        self.peek() == kind
    }

    fn bump(&mut self) -> Token {
        self.skip_insignificant_newlines();
        let t = self.raw(self.pos);
        if t.kind != TokenKind::Eof {
            self.pos += 1;
        }
        if t.kind != TokenKind::Newline {
            self.prev_end = t.span.end;
        }
        self.steps += 1;
        t
    }

    fn eat(&mut self, kind: TokenKind) -> Option<Token> {
        if self.at(kind) {
            Some(self.bump())
        } else {
            None
        }
    }

    /// Whether there is whitespace between the previous token and the current one.
    fn space_before(&self) -> bool {
        self.pos > 0 && self.raw(self.pos).span.start > self.raw(self.pos - 1).span.end
    }

    fn with_nl<T>(&mut self, insensitive: bool, f: impl FnOnce(&mut Self) -> T) -> T {
        self.nl_insensitive.push(insensitive);
        let out = f(self);
        self.nl_insensitive.pop();
        out
    }

    /// The source text of a span.
    fn text(&self, span: Span) -> &'s str {
        let start = span.start.saturating_sub(self.base) as usize;
        let end = span.end.saturating_sub(self.base) as usize;
        self.src.get(start..end).unwrap_or("")
    }

    /// A span from `start` to the end of the last consumed token; when nothing was consumed
    /// since `start`, an empty span where the last token ended.
    fn span_from(&self, start: u32) -> Span {
        if self.prev_end >= start {
            Span::new(start, self.prev_end)
        } else {
            Span::at(self.prev_end)
        }
    }

    fn take_text(&mut self, idx: u32) -> String {
        self.texts
            .get_mut(idx as usize)
            .map(std::mem::take)
            .unwrap_or_default()
    }

    // ---- diagnostics ----------------------------------------------------------------

    fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn has_errors_since(&self, count: usize) -> bool {
        self.diags[count.min(self.diags.len())..]
            .iter()
            .any(Diagnostic::is_error)
    }

    /// The span to point at for a token: for the end of the file, an empty span.
    fn point(t: Token) -> Span {
        if t.kind == TokenKind::Eof {
            Span::at(t.span.start)
        } else {
            t.span
        }
    }

    /// "expected X, found Y" at token `t`.
    fn error_unexpected(&mut self, t: Token, expected: &str) {
        let found = t.kind.describe();
        let d = Diagnostic::error(
            "unexpected-token",
            format!("expected {expected}, found {found}"),
        )
        .with_primary(Self::point(t), format!("expected {expected}"));
        self.error(d);
    }

    // ---- nesting guard --------------------------------------------------------------

    /// Enters one level of nesting (a nested statement or expression, or one more link in an
    /// operator or member chain). When too deep: one diagnostic, and the rest of the input
    /// is skipped, since a tree that deep could not be walked recursively by anyone else
    /// either.
    fn enter(&mut self) -> bool {
        if self.depth >= MAX_DEPTH {
            if !self.too_deep_reported {
                self.too_deep_reported = true;
                let t = self.cur();
                let d = Diagnostic::error("nesting-too-deep", "nesting too deep")
                    .with_primary(Self::point(t), format!("more than {MAX_DEPTH} levels deep"))
                    .with_note("note: the rest of the file is not parsed")
                    .with_note("help: split the code into functions or fewer nested blocks");
                self.error(d);
            }
            self.skip_to_eof();
            return false;
        }
        self.depth += 1;
        true
    }

    fn skip_to_eof(&mut self) {
        let last = self.tokens.len().saturating_sub(1);
        let end = self
            .tokens
            .iter()
            .rev()
            .find(|t| !matches!(t.kind, TokenKind::Eof | TokenKind::Newline))
            .map_or(self.prev_end, |t| t.span.end);
        self.steps += (last.saturating_sub(self.pos)) as u64;
        self.pos = last;
        self.prev_end = self.prev_end.max(end);
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
}
