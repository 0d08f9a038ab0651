//! String bodies: escapes, GString interpolation, slashy strings.
//!
//! Groovy decodes escapes in every quoted string, single-quoted ones included, but only
//! double-quoted and slashy strings are interpolated: `'${VAR}'` stays as written, for the
//! shell to expand. Slashy strings know one escape, `\/`.

use crate::ast::Quote;
use crate::lexer::{Lexer, Mode, is_ident_continue, is_ident_start};
use crate::token::TokenKind;
use kiln_diagnostics::Diagnostic;

enum Delim {
    Close(usize),
    Text,
    No,
}

fn interpolates(q: Quote) -> bool {
    matches!(q, Quote::Double | Quote::TripleDouble | Quote::Slashy)
}

fn quote_text(q: Quote) -> &'static str {
    match q {
        Quote::Single => "'",
        Quote::Double => "\"",
        Quote::TripleSingle => "'''",
        Quote::TripleDouble => "\"\"\"",
        Quote::Slashy => "/",
    }
}

impl Lexer<'_> {
    /// Lexes string text up to the end of the string or the start of an interpolation.
    pub(crate) fn string_chunk(&mut self, quote: Quote, open: usize) {
        let start = self.pos;
        let mut text = String::new();
        loop {
            if self.pos >= self.bytes.len() {
                self.flush_text(start, text);
                let end = self.pos;
                self.unterminated_string(quote, open, end);
                self.push(TokenKind::StrEnd, end, end);
                self.modes.pop();
                return;
            }
            let b = self.bytes[self.pos];
            match self.closing_delimiter(quote, &mut text) {
                Delim::Close(len) => {
                    self.flush_text(start, text);
                    let at = self.pos;
                    self.pos += len;
                    self.push(TokenKind::StrEnd, at, self.pos);
                    self.modes.pop();
                    return;
                }
                Delim::Text => continue,
                Delim::No => {}
            }
            match b {
                b'\n' if matches!(quote, Quote::Single | Quote::Double) => {
                    self.flush_text(start, text);
                    let end = self.pos;
                    self.unterminated_string(quote, open, end);
                    self.push(TokenKind::StrEnd, end, end);
                    self.modes.pop();
                    return;
                }
                b'\\' if quote == Quote::Slashy => {
                    if self.bytes.get(self.pos + 1) == Some(&b'/') {
                        text.push('/');
                        self.pos += 2;
                    } else {
                        text.push('\\');
                        self.pos += 1;
                    }
                }
                b'\\' => self.escape(&mut text),
                b'$' if interpolates(quote) => {
                    if self.dollar(quote, start, &mut text) {
                        return;
                    }
                }
                _ => {
                    let c = self.char_at(self.pos).unwrap_or('\u{fffd}');
                    text.push(c);
                    self.pos += c.len_utf8().max(1);
                }
            }
        }
    }

    /// At a closing quote: its length. In triple-quoted strings a run of more than three
    /// quotes ends with the last three; the ones before are text, and a run shorter than
    /// three is all text.
    fn closing_delimiter(&mut self, quote: Quote, text: &mut String) -> Delim {
        let b = self.bytes[self.pos];
        let single = |q: u8| if b == q { Delim::Close(1) } else { Delim::No };
        match quote {
            Quote::Single => single(b'\''),
            Quote::Double => single(b'"'),
            Quote::Slashy => single(b'/'),
            Quote::TripleSingle | Quote::TripleDouble => {
                let q = if quote == Quote::TripleSingle {
                    b'\''
                } else {
                    b'"'
                };
                if b != q {
                    return Delim::No;
                }
                let run = self.bytes[self.pos..]
                    .iter()
                    .take_while(|&&c| c == q)
                    .count();
                let as_text = if run < 3 { run } else { run - 3 };
                text.extend(std::iter::repeat_n(char::from(q), as_text));
                self.pos += as_text;
                if run < 3 {
                    Delim::Text
                } else {
                    Delim::Close(3)
                }
            }
        }
    }

    /// Handles `$` in an interpolating string. Returns true when an interpolation token was
    /// emitted (the chunk ends there).
    fn dollar(&mut self, quote: Quote, start: usize, text: &mut String) -> bool {
        let at = self.pos;
        let next = self.char_at(at + 1);
        if next == Some('{') {
            self.flush_text(start, std::mem::take(text));
            self.pos += 2;
            self.push(TokenKind::InterpStart, at, at + 2);
            self.modes.push(Mode::Code {
                interp: true,
                depth: 0,
            });
            return true;
        }
        if next.is_some_and(is_ident_start) {
            self.flush_text(start, std::mem::take(text));
            self.pos += 1;
            self.push(TokenKind::ShortInterpStart, at, at + 1);
            self.short_ident();
            while self.bytes.get(self.pos) == Some(&b'.')
                && self.char_at(self.pos + 1).is_some_and(is_ident_start)
            {
                self.push(TokenKind::Dot, self.pos, self.pos + 1);
                self.pos += 1;
                self.short_ident();
            }
            self.push(TokenKind::InterpEnd, self.pos, self.pos);
            return true;
        }
        self.pos += 1;
        text.push('$');
        if quote != Quote::Slashy {
            let span = self.span(at, at + 1);
            self.diags.push(
                Diagnostic::error("invalid-dollar", "`$` must be followed by a name or `{`")
                    .with_primary(span, "a `$` alone is not allowed in a double-quoted string")
                    .with_note(
                        "help: escape a literal dollar sign as `\\$`, or use a single-quoted string",
                    ),
            );
        }
        false
    }

    fn short_ident(&mut self) {
        let start = self.pos;
        while let Some(c) = self.char_at(self.pos) {
            if !is_ident_continue(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        self.push(TokenKind::Ident, start, self.pos);
    }

    fn flush_text(&mut self, start: usize, text: String) {
        if self.pos > start {
            let idx = u32::try_from(self.texts.len()).unwrap_or(u32::MAX);
            self.texts.push(text);
            self.push(TokenKind::StrText(idx), start, self.pos);
        }
    }

    /// Decodes one escape sequence starting at the backslash.
    fn escape(&mut self, text: &mut String) {
        let at = self.pos;
        let Some(c) = self.char_at(at + 1) else {
            // A backslash at the very end: the string is unterminated anyway.
            self.pos += 1;
            return;
        };
        self.pos += 1 + c.len_utf8();
        let decoded = match c {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'b' => '\u{8}',
            'f' => '\u{c}',
            '\\' | '\'' | '"' | '$' => c,
            '\n' => return,
            '\r' if self.bytes.get(self.pos) == Some(&b'\n') => {
                self.pos += 1;
                return;
            }
            'u' => {
                let ch = self.unicode_escape(at);
                text.push(ch);
                return;
            }
            '0'..='7' => self.octal_escape(c),
            _ => {
                let span = self.span(at, self.pos);
                self.diags.push(
                    Diagnostic::error("invalid-escape", format!("unknown escape sequence `\\{c}`"))
                        .with_primary(span, "not a Groovy escape")
                        .with_note("help: write `\\\\` for a literal backslash"),
                );
                c
            }
        };
        text.push(decoded);
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = self.src.get(at..at + 4)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(digits, 16).ok()
    }

    /// `\uXXXX`, with UTF-16 surrogate pairs written as two escapes.
    fn unicode_escape(&mut self, at: usize) -> char {
        let bad = |lx: &mut Self, end: usize| {
            let span = lx.span(at, end);
            lx.diags.push(
                Diagnostic::error("invalid-escape", "invalid unicode escape")
                    .with_primary(span, "expected `\\u` and four hex digits"),
            );
            '\u{fffd}'
        };
        let Some(hi) = self.hex4(self.pos) else {
            return bad(self, self.pos);
        };
        self.pos += 4;
        if (0xD800..0xDC00).contains(&hi) {
            let next_is_escape = self.src.get(self.pos..self.pos + 2) == Some("\\u");
            if let Some(lo) = self.hex4(self.pos + 2).filter(|_| next_is_escape)
                && (0xDC00..0xE000).contains(&lo)
            {
                self.pos += 6;
                let code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return char::from_u32(code).unwrap_or('\u{fffd}');
            }
            return bad(self, self.pos);
        }
        char::from_u32(hi).unwrap_or_else(|| bad(self, self.pos))
    }

    /// `\0` to `\377`.
    fn octal_escape(&mut self, first: char) -> char {
        let mut value = first.to_digit(8).unwrap_or(0);
        let max_len = if value <= 3 { 3 } else { 2 };
        let mut len = 1;
        while len < max_len {
            match self.bytes.get(self.pos) {
                Some(&b @ b'0'..=b'7') => {
                    value = value * 8 + u32::from(b - b'0');
                    self.pos += 1;
                    len += 1;
                }
                _ => break,
            }
        }
        char::from_u32(value).unwrap_or('\u{fffd}')
    }

    pub(crate) fn unterminated_string(&mut self, quote: Quote, open: usize, end: usize) {
        let q = quote_text(quote);
        let opener = self.span(open, open + q.len());
        let mut d = Diagnostic::error("unterminated-string", "unterminated string")
            .with_primary(opener, format!("this `{q}` is never closed"));
        if end > open + q.len() {
            let at = self.span(end, end);
            let place = if end >= self.bytes.len() {
                "the end of the file"
            } else {
                "the end of the line"
            };
            d = d.with_secondary(at, format!("expected `{q}` before {place}"));
        }
        if matches!(quote, Quote::Single | Quote::Double) {
            d = d.with_note(format!(
                "help: a `{q}` string must end on its line; use `{q}{q}{q}` for text over several lines"
            ));
        }
        self.diags.push(d);
    }
}
