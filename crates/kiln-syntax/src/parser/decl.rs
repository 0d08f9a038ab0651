//! Declarations: types, parameters, variables, functions, annotations, imports and classes.

use super::Parser;
use crate::ast::{
    Annotation, Arg, ClassKind, ClassMember, EnumConstant, Ident, Param, Stmt, StmtKind, TypeName,
};
use crate::token::{Keyword, TokenKind};
use kiln_diagnostics::Span;

/// Java's primitive type names, which may start a declaration (`int i = 0`).
const PRIMITIVES: &[&str] = &[
    "boolean", "byte", "char", "short", "int", "long", "float", "double",
];

/// How far declaration lookahead looks before giving up.
const LOOKAHEAD: usize = 64;

impl Parser<'_> {
    /// A type at the current token, if there is one: `a.b.C`, `List<String>`, `int[]`.
    pub(super) fn parse_type(&mut self) -> Option<TypeName> {
        let first = self.cur();
        if !matches!(
            first.kind,
            TokenKind::Ident | TokenKind::Kw(Keyword::Void | Keyword::Def)
        ) {
            return None;
        }
        self.bump();
        while self.raw_kind(0) == TokenKind::Dot && self.raw_kind(1) == TokenKind::Ident {
            self.bump();
            self.bump();
        }
        if self.raw_kind(0) == TokenKind::Lt {
            let mut depth: i64 = 0;
            loop {
                let k = self.raw_kind(0);
                depth += match k {
                    TokenKind::Lt => 1,
                    TokenKind::Gt => -1,
                    TokenKind::Shr => -2,
                    TokenKind::UShr => -3,
                    TokenKind::Ident
                    | TokenKind::Dot
                    | TokenKind::Comma
                    | TokenKind::Question
                    | TokenKind::Amp
                    | TokenKind::LBracket
                    | TokenKind::RBracket
                    | TokenKind::Kw(Keyword::Super) => 0,
                    _ => break,
                };
                self.bump();
                if depth <= 0 {
                    break;
                }
            }
        }
        while self.raw_kind(0) == TokenKind::LBracket && self.raw_kind(1) == TokenKind::RBracket {
            self.bump();
            self.bump();
        }
        let span = self.span_from(first.span.start);
        Some(TypeName {
            name: self.text(span).to_string(),
            span,
        })
    }

    /// A type, or a diagnostic and an empty name.
    pub(super) fn expect_type(&mut self, what: &str) -> TypeName {
        if let Some(ty) = self.parse_type() {
            return ty;
        }
        let t = self.cur();
        self.error_unexpected(t, what);
        TypeName {
            name: String::new(),
            span: Span::at(self.prev_end),
        }
    }

    /// Bounded lookahead at a statement start: `Type name` followed by `=`, `(`, or the end
    /// of the statement. `Type` is capitalized (`String`, `java.util.List`), a primitive, or
    /// has type arguments.
    pub(super) fn looks_like_declaration(&mut self) -> bool {
        let mut toks = Vec::new();
        for n in 0..LOOKAHEAD {
            let t = self.raw(self.pos + n);
            toks.push(t);
            self.steps += 1;
            if matches!(
                t.kind,
                TokenKind::Newline
                    | TokenKind::Eof
                    | TokenKind::Semi
                    | TokenKind::LBrace
                    | TokenKind::Eq
            ) {
                break;
            }
        }
        let kind = |j: usize| toks.get(j).map_or(TokenKind::Eof, |t| t.kind);
        if kind(0) != TokenKind::Ident {
            return false;
        }
        let mut last_segment = toks[0];
        let mut j = 1;
        while kind(j) == TokenKind::Dot && kind(j + 1) == TokenKind::Ident {
            last_segment = toks[j + 1];
            j += 2;
        }
        let generic = kind(j) == TokenKind::Lt;
        if generic {
            let mut depth: i64 = 0;
            loop {
                depth += match kind(j) {
                    TokenKind::Lt => 1,
                    TokenKind::Gt => -1,
                    TokenKind::Shr => -2,
                    TokenKind::Ident
                    | TokenKind::Dot
                    | TokenKind::Comma
                    | TokenKind::Question
                    | TokenKind::LBracket
                    | TokenKind::RBracket => 0,
                    _ => return false,
                };
                j += 1;
                if depth <= 0 {
                    break;
                }
            }
        }
        while kind(j) == TokenKind::LBracket && kind(j + 1) == TokenKind::RBracket {
            j += 2;
        }
        if kind(j) != TokenKind::Ident {
            return false;
        }
        let ends = matches!(
            kind(j + 1),
            TokenKind::Eq
                | TokenKind::LParen
                | TokenKind::Newline
                | TokenKind::Semi
                | TokenKind::RBrace
                | TokenKind::Eof
        );
        let name = self.text(last_segment.span);
        let typeish =
            generic || name.starts_with(|c: char| c.is_uppercase()) || PRIMITIVES.contains(&name);
        ends && typeish
    }

    /// After `def` or a type: `name = value`, `name`, or `name(params) { body }`.
    pub(super) fn parse_declaration_rest(&mut self, start: u32, ty: Option<TypeName>) -> Stmt {
        let t = self.cur();
        if t.kind == TokenKind::LParen && ty.is_none() {
            return self.parse_multi_var(start);
        }
        if !matches!(
            t.kind,
            TokenKind::Ident | TokenKind::Kw(Keyword::Def | Keyword::In)
        ) {
            self.error_unexpected(t, "a variable or function name");
            self.recover_stmt();
            return Stmt {
                kind: StmtKind::Error,
                span: self.span_from(start),
            };
        }
        self.bump();
        let name = Ident {
            name: self.text(t.span).to_string(),
            span: t.span,
        };
        if self.raw_kind(0) == TokenKind::LParen {
            return self.parse_function_rest(start, name);
        }
        let mut value = None;
        if self.eat(TokenKind::Eq).is_some() {
            self.skip_newlines();
            value = Some(self.parse_command_or_expr());
        }
        Stmt {
            kind: StmtKind::Var { ty, name, value },
            span: self.span_from(start),
        }
    }

    /// `(a, String b) = value` after `def`; the types are not kept.
    fn parse_multi_var(&mut self, start: u32) -> Stmt {
        let open = self.bump();
        let mut names = Vec::new();
        let ok = self.with_nl(true, |p| {
            loop {
                // An optional type before the name: `def (String a, int b) = ...`.
                if p.at(TokenKind::Ident) && p.raw_kind(1) == TokenKind::Ident {
                    p.bump();
                }
                let t = p.cur();
                if t.kind != TokenKind::Ident {
                    p.error_unexpected(t, "a variable name");
                    return false;
                }
                p.bump();
                names.push(Ident {
                    name: p.text(t.span).to_string(),
                    span: t.span,
                });
                if p.eat(TokenKind::Comma).is_none() {
                    break;
                }
            }
            p.expect_closer(TokenKind::RParen, open, "the variable list");
            true
        });
        if !ok || self.eat(TokenKind::Eq).is_none() {
            if ok {
                let t = self.cur();
                self.error_unexpected(t, "`=` and the value to take apart");
            }
            self.recover_stmt();
            return Stmt {
                kind: StmtKind::Error,
                span: self.span_from(start),
            };
        }
        self.skip_newlines();
        let value = self.parse_command_or_expr();
        Stmt {
            kind: StmtKind::MultiVar { names, value },
            span: self.span_from(start),
        }
    }

    /// `(params) { body }` after a function's name.
    fn parse_function_rest(&mut self, start: u32, name: Ident) -> Stmt {
        let is_abstract = std::mem::take(&mut self.abstract_member);
        let open = self.bump();
        let params = self.with_nl(true, |p| {
            let params = p.parse_params(TokenKind::RParen);
            p.expect_closer(TokenKind::RParen, open, "the parameter list");
            params
        });
        if self.raw_kind(0) == TokenKind::Ident && self.text(self.raw(self.pos).span) == "throws" {
            while !matches!(
                self.raw_kind(0),
                TokenKind::LBrace | TokenKind::Newline | TokenKind::Eof
            ) {
                self.bump();
            }
        }
        self.skip_newlines_before(TokenKind::LBrace);
        let body = if self.at(TokenKind::LBrace) {
            self.parse_block()
        } else if is_abstract {
            // `abstract def area()`: declared here, defined by the classes that extend it.
            crate::ast::Block {
                statements: Vec::new(),
                span: Span::at(self.prev_end),
            }
        } else {
            let t = self.cur();
            self.error_unexpected(t, "`{` to start the function body");
            crate::ast::Block {
                statements: Vec::new(),
                span: Span::at(self.prev_end),
            }
        };
        Stmt {
            kind: StmtKind::Function { name, params, body },
            span: self.span_from(start),
        }
    }

    /// Parameters up to (not including) `close`: `a`, `String b = 'x'`, `def c`, `final d`.
    pub(super) fn parse_params(&mut self, close: TokenKind) -> Vec<Param> {
        let mut params = Vec::new();
        loop {
            while matches!(self.peek(), TokenKind::Kw(Keyword::Def | Keyword::Final)) {
                self.bump();
            }
            if matches!(self.peek(), TokenKind::Eof | TokenKind::RBrace) || self.at(close) {
                break;
            }
            let first = self.cur();
            let typed = first.kind == TokenKind::Ident
                && matches!(
                    self.nth(1),
                    TokenKind::Ident | TokenKind::Lt | TokenKind::Dot | TokenKind::LBracket
                );
            let ty = if typed { self.parse_type() } else { None };
            let t = self.cur();
            if t.kind != TokenKind::Ident {
                self.error_unexpected(t, "a parameter name");
                self.skip_until_closer(close);
                if close == TokenKind::Arrow {
                    self.skip_params_to_arrow();
                }
                break;
            }
            self.bump();
            let name = Ident {
                name: self.text(t.span).to_string(),
                span: t.span,
            };
            let default = if self.eat(TokenKind::Eq).is_some() {
                Some(self.parse_expr())
            } else {
                None
            };
            params.push(Param { ty, name, default });
            if self.eat(TokenKind::Comma).is_none() {
                if !self.at(close) {
                    let t = self.cur();
                    let what = if close == TokenKind::Arrow {
                        "`,` or `->`"
                    } else {
                        "`,` or `)`"
                    };
                    self.error_unexpected(t, what);
                    self.skip_until_closer(close);
                }
                break;
            }
        }
        params
    }

    /// Closure parameters are on one line before `->`; skip to it after an error.
    fn skip_params_to_arrow(&mut self) {
        while !matches!(
            self.raw_kind(0),
            TokenKind::Arrow | TokenKind::Eof | TokenKind::RBrace | TokenKind::Newline
        ) {
            self.bump();
        }
    }

    /// `@Name`, `@Name(args)` and what follows it.
    pub(super) fn parse_annotated(&mut self) -> Stmt {
        let at = self.bump();
        let start = at.span.start;
        let name_tok = self.cur();
        let mut name = Ident {
            name: String::new(),
            span: Span::at(self.prev_end),
        };
        if name_tok.kind == TokenKind::Ident {
            if let Some(ty) = self.parse_type() {
                name = Ident {
                    name: ty.name,
                    span: ty.span,
                };
            }
        } else {
            self.error_unexpected(name_tok, "an annotation name after `@`");
        }
        let mut args = Vec::new();
        if self.raw_kind(0) == TokenKind::LParen {
            args = self.parse_annotation_args();
        }
        let annotation = Annotation {
            name,
            args,
            span: self.span_from(start),
        };
        self.skip_newlines();
        let target = if matches!(self.peek(), TokenKind::Eof | TokenKind::RBrace) {
            let t = self.cur();
            self.error_unexpected(t, "a declaration after the annotation");
            Stmt {
                kind: StmtKind::Error,
                span: Span::at(self.prev_end),
            }
        } else {
            self.parse_stmt()
        };
        Stmt {
            kind: StmtKind::Annotated {
                annotation,
                target: Box::new(target),
            },
            span: self.span_from(start),
        }
    }

    /// `(value)` or `(key = value, ...)`: `=` named arguments become [`Arg`] names.
    fn parse_annotation_args(&mut self) -> Vec<Arg> {
        let open = self.bump();
        self.with_nl(true, |p| {
            let mut args = Vec::new();
            while !matches!(
                p.peek(),
                TokenKind::RParen | TokenKind::Eof | TokenKind::RBrace
            ) {
                let t = p.cur();
                if t.kind == TokenKind::Ident && p.nth(1) == TokenKind::Eq {
                    p.bump();
                    p.bump();
                    let value = p.parse_expr();
                    let name = Ident {
                        name: p.text(t.span).to_string(),
                        span: t.span,
                    };
                    args.push(Arg {
                        name: Some(name),
                        value,
                        span: p.span_from(t.span.start),
                    });
                } else {
                    args.push(p.parse_arg());
                }
                if p.eat(TokenKind::Comma).is_none() {
                    break;
                }
            }
            if !p.at(TokenKind::RParen) {
                p.skip_until_closer(TokenKind::RParen);
            }
            p.expect_closer(TokenKind::RParen, open, "the annotation arguments");
            args
        })
    }

    /// `import [static] a.b.C [as D]` and `import a.b.*`.
    pub(super) fn parse_import(&mut self) -> Stmt {
        let kw = self.bump();
        let is_static = self.eat(TokenKind::Kw(Keyword::Static)).is_some();
        let path_start = self.cur().span.start;
        let mut path_end = path_start;
        loop {
            let t = self.cur();
            if !matches!(
                t.kind,
                TokenKind::Ident | TokenKind::Kw(_) | TokenKind::Star
            ) {
                self.error_unexpected(t, "a name in the import path");
                self.recover_stmt();
                break;
            }
            self.bump();
            path_end = t.span.end;
            if self.raw_kind(0) != TokenKind::Dot {
                break;
            }
            self.bump();
        }
        let path = self.text(Span::new(path_start, path_end)).to_string();
        if self.eat(TokenKind::Kw(Keyword::As)).is_some() {
            self.eat(TokenKind::Ident);
        }
        Stmt {
            kind: StmtKind::Import { path, is_static },
            span: self.span_from(kw.span.start),
        }
    }

    /// `class Name extends Base ... { members }`, `enum Name { A, B; members }`;
    /// `interface`, `trait`: the body is skipped whole.
    pub(super) fn parse_class(&mut self, start: u32) -> Stmt {
        let kw = self.bump();
        let kind = match kw.kind {
            TokenKind::Kw(Keyword::Interface) => ClassKind::Interface,
            TokenKind::Kw(Keyword::Enum) => ClassKind::Enum,
            TokenKind::Kw(Keyword::Trait) => ClassKind::Trait,
            _ => ClassKind::Class,
        };
        let t = self.cur();
        let name = if t.kind == TokenKind::Ident {
            self.bump();
            Ident {
                name: self.text(t.span).to_string(),
                span: t.span,
            }
        } else {
            self.error_unexpected(t, "a class name");
            Ident {
                name: String::new(),
                span: Span::at(self.prev_end),
            }
        };
        let mut extends = None;
        let mut in_extends = false;
        while !matches!(
            self.peek(),
            TokenKind::LBrace | TokenKind::Eof | TokenKind::RBrace
        ) {
            let t = self.bump();
            if t.kind == TokenKind::Ident {
                match self.text(t.span) {
                    "extends" if kind == ClassKind::Class => in_extends = true,
                    "implements" => in_extends = false,
                    text if in_extends => {
                        extends = Some(Ident {
                            name: text.to_string(),
                            span: t.span,
                        });
                    }
                    _ => {}
                }
            } else if t.kind != TokenKind::Dot {
                in_extends = false;
            }
        }
        let mut members = None;
        let mut constants = Vec::new();
        if self.at(TokenKind::LBrace) {
            let open = self.cur();
            if matches!(kind, ClassKind::Class | ClassKind::Enum) {
                self.bump();
                members = Some(self.with_nl(false, |p| {
                    if kind == ClassKind::Enum {
                        constants = p.parse_enum_constants();
                    }
                    p.parse_class_members(&name.name)
                }));
                self.expect_closer(TokenKind::RBrace, open, "the class body");
            } else if !self.skip_token_tree() {
                self.expect_closer(TokenKind::RBrace, open, "the class body");
            }
        }
        Stmt {
            kind: StmtKind::Class {
                name,
                kind,
                extends,
                constants,
                members,
            },
            span: self.span_from(start),
        }
    }

    /// An enum's constants, `A, B('x'), C;` (a constant's own class body is skipped:
    /// kiln reports it), up to the `;` before its members or the body's `}`.
    fn parse_enum_constants(&mut self) -> Vec<EnumConstant> {
        let mut out = Vec::new();
        loop {
            while matches!(self.raw_kind(0), TokenKind::Newline | TokenKind::Comma) {
                self.bump();
            }
            let t = self.cur();
            match t.kind {
                TokenKind::Ident => {
                    self.bump();
                    let name = Ident {
                        name: self.text(t.span).to_string(),
                        span: t.span,
                    };
                    let args = if self.raw_kind(0) == TokenKind::LParen {
                        self.parse_paren_args()
                    } else {
                        Vec::new()
                    };
                    if self.raw_kind(0) == TokenKind::LBrace {
                        let open = self.cur();
                        self.error_unexpected(open, "`,`, `;` or `}` after an enum constant");
                        self.skip_token_tree();
                    }
                    out.push(EnumConstant { name, args });
                }
                TokenKind::Semi => {
                    self.bump();
                    return out;
                }
                TokenKind::RBrace | TokenKind::Eof => return out,
                _ => {
                    self.error_unexpected(t, "an enum constant");
                    return out;
                }
            }
        }
    }

    /// The members of a class body, up to its `}`.
    fn parse_class_members(&mut self, class: &str) -> Vec<ClassMember> {
        let mut out = Vec::new();
        loop {
            while matches!(self.raw_kind(0), TokenKind::Newline | TokenKind::Semi) {
                self.bump();
            }
            if matches!(self.raw_kind(0), TokenKind::Eof | TokenKind::RBrace) {
                break;
            }
            let before = self.pos;
            let errors = self.diags.len();
            let start = self.cur().span.start;
            let mut is_static = false;
            let mut modified = false;
            let mut is_abstract = false;
            while let TokenKind::Kw(k) = self.peek() {
                if !k.is_modifier() {
                    break;
                }
                is_static |= k == Keyword::Static;
                is_abstract |= k == Keyword::Abstract;
                modified = true;
                self.bump();
            }
            self.abstract_member = is_abstract;
            let t = self.cur();
            let stmt = if t.kind == TokenKind::Ident
                && self.text(t.span) == class
                && self.raw_kind(1) == TokenKind::LParen
            {
                self.bump();
                let name = Ident {
                    name: class.to_string(),
                    span: t.span,
                };
                self.parse_function_rest(start, name)
            } else if modified {
                self.parse_after_modifiers(start)
            } else {
                self.parse_stmt()
            };
            self.abstract_member = false;
            out.push(ClassMember { is_static, stmt });
            self.finish_stmt(errors);
            if self.pos == before {
                self.bump();
            }
        }
        out
    }
}
