//! The lexer: source text to tokens, with Groovy's lexical rules.
//!
//! It is a loop over a stack of modes rather than recursion, so strings nested in
//! interpolations nested in strings cost no stack. Code inside `${...}` is lexed like any
//! other code until the `}` that balances the `${`. String bodies are lexed in
//! [`crate::string`].

use crate::ast::Quote;
use crate::token::{Keyword, Token, TokenKind};
use kiln_diagnostics::{Diagnostic, Span};

/// The lexer's output.
pub(crate) struct Lexed {
    pub tokens: Vec<Token>,
    /// Decoded string texts, indexed by [`TokenKind::StrText`].
    pub texts: Vec<String>,
    pub shebang: Option<Span>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Mode {
    /// Code: the file itself, or the inside of `${...}` (`interp`), where `depth` counts the
    /// `{` opened inside so the balancing `}` can be told apart.
    Code { interp: bool, depth: u32 },
    /// A string body; `open` is where its opening quote is.
    Str { quote: Quote, open: usize },
}

pub(crate) struct Lexer<'s> {
    pub(crate) src: &'s str,
    pub(crate) bytes: &'s [u8],
    pub(crate) pos: usize,
    base: u32,
    allow_shebang: bool,
    pub(crate) modes: Vec<Mode>,
    pub(crate) tokens: Vec<Token>,
    pub(crate) texts: Vec<String>,
    pub(crate) diags: Vec<Diagnostic>,
    shebang: Option<Span>,
}

/// Lexes `src`; every span is shifted by `base`.
pub(crate) fn lex(src: &str, base: u32, allow_shebang: bool) -> (Lexed, Vec<Diagnostic>) {
    let mut lx = Lexer {
        src,
        bytes: src.as_bytes(),
        pos: 0,
        base,
        allow_shebang,
        modes: vec![Mode::Code {
            interp: false,
            depth: 0,
        }],
        tokens: Vec::with_capacity(src.len() / 3 + 1),
        texts: Vec::new(),
        diags: Vec::new(),
        shebang: None,
    };
    lx.run();
    let lexed = Lexed {
        tokens: lx.tokens,
        texts: lx.texts,
        shebang: lx.shebang,
    };
    (lexed, lx.diags)
}

pub(crate) fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

pub(crate) fn is_ident_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl<'s> Lexer<'s> {
    fn run(&mut self) {
        while let Some(mode) = self.modes.last().copied() {
            match mode {
                Mode::Code { .. } if self.pos >= self.bytes.len() => {
                    self.finish_at_eof();
                    break;
                }
                Mode::Code { interp, depth } => self.code_token(interp, depth),
                Mode::Str { quote, open } => self.string_chunk(quote, open),
            }
        }
        let end = self.bytes.len();
        self.push(TokenKind::Eof, end, end);
    }

    /// Closes every open interpolation and string at the end of the input.
    fn finish_at_eof(&mut self) {
        let end = self.bytes.len();
        while let Some(mode) = self.modes.pop() {
            match mode {
                Mode::Code { interp: true, .. } => self.push(TokenKind::InterpEnd, end, end),
                Mode::Code { .. } => {}
                Mode::Str { quote, open } => {
                    self.unterminated_string(quote, open, end);
                    self.push(TokenKind::StrEnd, end, end);
                }
            }
        }
    }

    pub(crate) fn span(&self, start: usize, end: usize) -> Span {
        Span::new(
            self.base.saturating_add(to_u32(start)),
            self.base.saturating_add(to_u32(end)),
        )
    }

    pub(crate) fn push(&mut self, kind: TokenKind, start: usize, end: usize) {
        let span = self.span(start, end);
        self.tokens.push(Token { kind, span });
    }

    pub(crate) fn char_at(&self, pos: usize) -> Option<char> {
        self.src.get(pos..).and_then(|s| s.chars().next())
    }

    fn byte(&self, pos: usize) -> u8 {
        self.bytes.get(pos).copied().unwrap_or(0)
    }

    fn set_mode_depth(&mut self, new_depth: u32) {
        if let Some(Mode::Code { depth, .. }) = self.modes.last_mut() {
            *depth = new_depth;
        }
    }

    /// Whether the innermost enclosing string (for code inside `${}`) must end on its line.
    fn in_single_line_string(&self) -> Option<(Quote, usize)> {
        let n = self.modes.len();
        match self.modes.get(n.wrapping_sub(2)) {
            Some(&Mode::Str {
                quote: quote @ (Quote::Single | Quote::Double),
                open,
            }) => Some((quote, open)),
            _ => None,
        }
    }

    fn code_token(&mut self, interp: bool, depth: u32) {
        let start = self.pos;
        let b = self.bytes[start];
        match b {
            b' ' | b'\t' | b'\r' | 0x0c => self.pos += 1,
            b'\n' => {
                if interp && let Some((quote, open)) = self.in_single_line_string() {
                    // `"${x` and a line break: close both rather than swallow the file.
                    self.unterminated_string(quote, open, start);
                    self.push(TokenKind::InterpEnd, start, start);
                    self.push(TokenKind::StrEnd, start, start);
                    self.modes.truncate(self.modes.len().saturating_sub(2));
                    return;
                }
                self.pos += 1;
                if self.tokens.last().map(|t| t.kind) != Some(TokenKind::Newline) {
                    self.push(TokenKind::Newline, start, start + 1);
                }
            }
            b'\\' if self.byte(start + 1) == b'\n' => self.pos += 2,
            b'\\' if self.byte(start + 1) == b'\r' && self.byte(start + 2) == b'\n' => {
                self.pos += 3;
            }
            b'/' if self.byte(start + 1) == b'/' => {
                while self.pos < self.bytes.len() && self.bytes[self.pos] != b'\n' {
                    self.pos += 1;
                }
            }
            b'/' if self.byte(start + 1) == b'*' => self.block_comment(),
            b'#' if start == 0 && self.allow_shebang && self.byte(1) == b'!' => {
                while self.pos < self.bytes.len() && self.bytes[self.pos] != b'\n' {
                    self.pos += 1;
                }
                self.shebang = Some(self.span(0, self.pos));
            }
            b'0'..=b'9' => self.number(),
            b'\'' | b'"' => self.string_start(b),
            b'/' if self.regex_allowed() => {
                self.pos += 1;
                self.push(TokenKind::StrStart(Quote::Slashy), start, start + 1);
                self.modes.push(Mode::Str {
                    quote: Quote::Slashy,
                    open: start,
                });
            }
            b'{' => {
                self.pos += 1;
                if interp {
                    self.set_mode_depth(depth + 1);
                }
                self.push(TokenKind::LBrace, start, start + 1);
            }
            b'}' => {
                self.pos += 1;
                if interp && depth == 0 {
                    self.push(TokenKind::InterpEnd, start, start + 1);
                    self.modes.pop();
                } else {
                    if interp {
                        self.set_mode_depth(depth - 1);
                    }
                    self.push(TokenKind::RBrace, start, start + 1);
                }
            }
            _ => {
                let c = self.char_at(start).unwrap_or('\u{fffd}');
                if is_ident_start(c) || self.dollar_ident_at(start) {
                    self.ident();
                } else if !self.operator() {
                    self.pos += c.len_utf8().max(1);
                    self.unexpected_char(c, start);
                }
            }
        }
    }

    fn unexpected_char(&mut self, c: char, start: usize) {
        let span = self.span(start, self.pos);
        let shown = if c == '`' {
            "'`'".to_string()
        } else {
            format!("`{c}`")
        };
        let mut d = Diagnostic::error(
            "unexpected-character",
            format!("unexpected character {shown}"),
        )
        .with_primary(span, "not valid here");
        if c == '$' {
            d = d.with_note("help: `$` only has a meaning inside a double-quoted string");
        }
        if c == '`' {
            d = d.with_note(
                "help: Groovy has no backtick strings; quote shell commands with `'...'`",
            );
        }
        self.diags.push(d);
    }

    fn regex_allowed(&self) -> bool {
        self.tokens.last().is_none_or(|t| t.kind.allows_regex())
    }

    fn block_comment(&mut self) {
        let start = self.pos;
        self.pos += 2;
        loop {
            if self.pos >= self.bytes.len() {
                let span = self.span(start, start + 2);
                self.diags.push(
                    Diagnostic::error("unterminated-comment", "unterminated block comment")
                        .with_primary(span, "this comment is never closed")
                        .with_note("help: close it with `*/`"),
                );
                return;
            }
            if self.bytes[self.pos] == b'*' && self.byte(self.pos + 1) == b'/' {
                self.pos += 2;
                return;
            }
            self.pos += 1;
        }
    }

    /// Groovy (like Java) allows `$` in identifiers outside strings: `$class` in
    /// `checkout([$class: 'GitSCM'])`. A `$/` is left alone (it would open a
    /// dollar-slashy string).
    fn dollar_ident_at(&self, pos: usize) -> bool {
        self.byte(pos) == b'$' && self.byte(pos + 1) != b'/'
    }

    fn ident(&mut self) {
        let start = self.pos;
        while let Some(c) = self.char_at(self.pos) {
            if !is_ident_continue(c) && c != '$' {
                break;
            }
            self.pos += c.len_utf8();
        }
        let text = &self.src[start..self.pos];
        let kind = Keyword::lookup(text).map_or(TokenKind::Ident, TokenKind::Kw);
        self.push(kind, start, self.pos);
    }

    fn number(&mut self) {
        let start = self.pos;
        let mut float = false;
        let radix_prefix =
            self.bytes[start] == b'0' && matches!(self.byte(start + 1), b'x' | b'X' | b'b' | b'B');
        if radix_prefix {
            self.pos += 2;
            while self.byte(self.pos).is_ascii_hexdigit() || self.byte(self.pos) == b'_' {
                self.pos += 1;
            }
        } else {
            self.digits();
            if self.byte(self.pos) == b'.' && self.byte(self.pos + 1).is_ascii_digit() {
                float = true;
                self.pos += 1;
                self.digits();
            }
            if matches!(self.byte(self.pos), b'e' | b'E') {
                let sign = usize::from(matches!(self.byte(self.pos + 1), b'+' | b'-'));
                if self.byte(self.pos + 1 + sign).is_ascii_digit() {
                    float = true;
                    self.pos += 1 + sign;
                    self.digits();
                }
            }
        }
        match self.byte(self.pos) {
            b'd' | b'D' | b'f' | b'F' if !radix_prefix => {
                float = true;
                self.pos += 1;
            }
            b'l' | b'L' | b'g' | b'G' | b'i' | b'I' => self.pos += 1,
            _ => {}
        }
        if self.char_at(self.pos).is_some_and(is_ident_continue) {
            let bad = self.pos;
            while self.char_at(self.pos).is_some_and(is_ident_continue) {
                self.pos += self.char_at(self.pos).map_or(1, char::len_utf8);
            }
            let span = self.span(bad, self.pos);
            self.diags.push(
                Diagnostic::error("invalid-number", "invalid number literal")
                    .with_primary(span, "unexpected characters after the number"),
            );
        }
        let kind = if float {
            TokenKind::Float
        } else {
            TokenKind::Int
        };
        self.push(kind, start, self.pos);
    }

    fn digits(&mut self) {
        while self.byte(self.pos).is_ascii_digit() || self.byte(self.pos) == b'_' {
            self.pos += 1;
        }
    }

    fn string_start(&mut self, q: u8) {
        let start = self.pos;
        let triple = self.byte(start + 1) == q && self.byte(start + 2) == q;
        let quote = match (q, triple) {
            (b'\'', false) => Quote::Single,
            (b'\'', true) => Quote::TripleSingle,
            (_, false) => Quote::Double,
            (_, true) => Quote::TripleDouble,
        };
        self.pos += if triple { 3 } else { 1 };
        self.push(TokenKind::StrStart(quote), start, self.pos);
        self.modes.push(Mode::Str { quote, open: start });
    }

    /// Punctuation and operators, longest match first.
    fn operator(&mut self) -> bool {
        use TokenKind::*;
        let start = self.pos;
        let rest = &self.bytes[start..];
        let three: Option<TokenKind> = match rest.get(..3) {
            Some(b"..<") => Some(RangeExcl),
            Some(b"<=>") => Some(Cmp),
            Some(b"==~") => Some(Match),
            Some(b">>>") => Some(UShr),
            Some(b"**=") => Some(PowEq),
            Some(b"?:=") => Some(ElvisEq),
            Some(b"!in") if !self.char_at(start + 3).is_some_and(is_ident_continue) => Some(NotIn),
            _ => None,
        };
        if let Some(kind) = three {
            self.pos += 3;
            self.push(kind, start, self.pos);
            return true;
        }
        let two = match rest.get(..2) {
            Some(b"?.") => Some(SafeDot),
            Some(b"*.") => Some(SpreadDot),
            Some(b".&") => Some(MethodRef),
            Some(b"?:") => Some(Elvis),
            Some(b"->") => Some(Arrow),
            Some(b"**") => Some(Pow),
            Some(b"++") => Some(Inc),
            Some(b"--") => Some(Dec),
            Some(b"==") => Some(EqEq),
            Some(b"!=") => Some(NotEq),
            Some(b"<=") => Some(Le),
            Some(b">=") => Some(Ge),
            Some(b"=~") => Some(Find),
            Some(b"&&") => Some(AndAnd),
            Some(b"||") => Some(OrOr),
            Some(b"<<") => Some(Shl),
            Some(b">>") => Some(Shr),
            Some(b"..") => Some(Range),
            Some(b"+=") => Some(PlusEq),
            Some(b"-=") => Some(MinusEq),
            Some(b"*=") => Some(StarEq),
            Some(b"/=") => Some(SlashEq),
            Some(b"%=") => Some(PercentEq),
            Some(b"?=") => Some(ElvisEq),
            _ => None,
        };
        if let Some(kind) = two {
            self.pos += 2;
            self.push(kind, start, self.pos);
            return true;
        }
        let one = match rest.first() {
            Some(b'(') => LParen,
            Some(b')') => RParen,
            Some(b'[') => LBracket,
            Some(b']') => RBracket,
            Some(b',') => Comma,
            Some(b';') => Semi,
            Some(b':') => Colon,
            Some(b'.') => Dot,
            Some(b'?') => Question,
            Some(b'@') => At,
            Some(b'+') => Plus,
            Some(b'-') => Minus,
            Some(b'*') => Star,
            Some(b'/') => Slash,
            Some(b'%') => Percent,
            Some(b'!') => Bang,
            Some(b'~') => Tilde,
            Some(b'=') => Eq,
            Some(b'<') => Lt,
            Some(b'>') => Gt,
            Some(b'&') => Amp,
            Some(b'|') => Pipe,
            Some(b'^') => Caret,
            _ => return false,
        };
        self.pos += 1;
        self.push(one, start, self.pos);
        true
    }
}

/// Offsets are `u32` (see [`Span`]); larger inputs saturate rather than wrap.
pub(crate) fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
