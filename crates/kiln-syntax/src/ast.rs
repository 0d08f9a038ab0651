//! The syntax tree of a Jenkinsfile: a Groovy subset, with a span on every node.
//!
//! The tree is generic Groovy: `pipeline { agent any }` is a call of `pipeline` with a
//! trailing closure whose body holds the command call `agent(any)`. Giving directives their
//! meaning is kiln-model's job. Parsing never fails: what could not be parsed becomes an
//! `Error` node next to a diagnostic.

use kiln_diagnostics::Span;
use serde::Serialize;

/// A whole file: statements before, around and including `pipeline { }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct File {
    /// `#!...` on the first line, if any.
    pub shebang: Option<Span>,
    pub statements: Vec<Stmt>,
    pub span: Span,
}

/// An identifier with its span.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// `{ ... }` with its statements; `span` covers the braces.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Block {
    pub statements: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum StmtKind {
    /// An expression used as a statement; most of a Jenkinsfile: `sh 'make'`,
    /// `stage('Build') { ... }`, `FOO = 'bar'` (an [`ExprKind::Assign`]).
    Expr(Expr),
    /// `def x = 1`, `String x`, `final def (a, b) = ...` is not supported.
    /// `ty` is `None` for `def`.
    Var {
        ty: Option<TypeName>,
        name: Ident,
        value: Option<Expr>,
    },
    /// `def (a, b) = value`: each name gets the item of `value` at its index (null past
    /// the end), as Groovy's multiple assignment.
    MultiVar {
        names: Vec<Ident>,
        value: Expr,
    },
    /// `def name(a, String b = 'x') { ... }` or `void name() { ... }` at any level.
    Function {
        name: Ident,
        params: Vec<Param>,
        body: Block,
    },
    If {
        cond: Expr,
        then: Block,
        /// `else if` is an `else` holding one `If` statement.
        otherwise: Option<Box<Stmt>>,
    },
    /// `for (x in items)` and `for (def x : items)`.
    ForIn {
        var: Ident,
        iterable: Expr,
        body: Block,
    },
    /// `for (int i = 0; i < n; i++)`.
    ForClassic {
        init: Option<Box<Stmt>>,
        cond: Option<Expr>,
        update: Option<Expr>,
        body: Block,
    },
    While {
        cond: Expr,
        body: Block,
    },
    Switch {
        subject: Expr,
        cases: Vec<SwitchCase>,
    },
    Try {
        body: Block,
        catches: Vec<Catch>,
        finally: Option<Block>,
    },
    Return(Option<Expr>),
    Break,
    Continue,
    Throw(Expr),
    /// `import a.b.C` / `import static a.b.C.d` / `import a.b.*`; `path` as written.
    Import {
        path: String,
        is_static: bool,
    },
    /// `@Library('lib@ref') _` and other annotations, with what they annotate
    /// (for `@Library` it is the expression `_`).
    Annotated {
        annotation: Annotation,
        target: Box<Stmt>,
    },
    /// A block statement `{ ... }` on its own (rare).
    Block(Block),
    /// A class, interface, enum or trait declaration. A `class` keeps its members and
    /// the class it `extends`; an `enum` its constants and members; the body of an
    /// interface or trait is skipped (`members` is `None`).
    Class {
        name: Ident,
        kind: ClassKind,
        /// The class after `extends` (its last name when dotted).
        extends: Option<Ident>,
        /// An enum's constants, in order.
        constants: Vec<EnumConstant>,
        members: Option<Vec<ClassMember>>,
    },
    /// Something that could not be parsed; a diagnostic says what.
    Error,
}

/// A constant of an enum, with the arguments its constructor gets (`HIGH('h')`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EnumConstant {
    pub name: Ident,
    pub args: Vec<Arg>,
}

/// What a type declaration declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ClassKind {
    Class,
    Interface,
    Enum,
    Trait,
}

/// A field, method or constructor of a class: a `Var` or `Function` statement (the
/// constructor is a `Function` named after the class), `static` or not. Other modifiers
/// (`final`, `private`, ...) are not kept.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassMember {
    pub is_static: bool,
    pub stmt: Stmt,
}

/// A type written in a declaration: `String`, `List<String>`, `int[]`, `java.util.Map`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TypeName {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Param {
    pub ty: Option<TypeName>,
    pub name: Ident,
    pub default: Option<Expr>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SwitchCase {
    /// `None` for `default:`.
    pub value: Option<Expr>,
    /// The statements up to the next `case`; fall-through is Groovy's.
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Catch {
    /// `catch (IOException | InterruptedException e)`: the type names; empty for `catch (e)`.
    pub types: Vec<TypeName>,
    pub name: Ident,
    pub body: Block,
}

/// `@Name`, `@Name('value')`, `@Name(['a', 'b'])`, `@Name(key = value)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Annotation {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ExprKind {
    Null,
    Bool(bool),
    /// Integer literal; too-large values are reported and become 0.
    Int(i64),
    Float(f64),
    /// Any string literal; see [`StringLit`].
    Str(StringLit),
    /// A name: a variable, `env`, `params`, a directive keyword like `any`, or `_`.
    Ident(String),
    List(Vec<Expr>),
    /// `[a: 1, 'b': 2, (k): 3]`; `[:]` is an empty map.
    Map(Vec<MapEntry>),
    /// `target.name` or `target?.name` (`safe`), `target*.name` (`spread`).
    Property {
        target: Box<Expr>,
        name: Ident,
        safe: bool,
        spread: bool,
    },
    /// `target[index]`.
    Index {
        target: Box<Expr>,
        index: Box<Expr>,
    },
    /// A call. `callee` is the called expression: an `Ident` for `sh 'x'`, a `Property` for
    /// `docker.image('x').inside { }` or `'a b'.split(' ')`. `parens` tells whether the
    /// arguments were written in parentheses (false for command calls `sh 'x'` and for a
    /// bare trailing closure `steps { }`). Named arguments may come in any order among the
    /// positional ones, as in Groovy.
    Call {
        callee: Box<Expr>,
        args: Vec<Arg>,
        closure: Option<Box<Closure>>,
        parens: bool,
    },
    /// A closure literal that is not a call's trailing closure: `def f = { x -> x + 1 }`.
    Closure(Box<Closure>),
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `cond ? a : b`.
    Ternary {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    /// `a ?: b`.
    Elvis {
        value: Box<Expr>,
        fallback: Box<Expr>,
    },
    /// `target = value`, `target += value`, ...; `target` is an Ident, Property or Index.
    Assign {
        op: AssignOp,
        target: Box<Expr>,
        value: Box<Expr>,
    },
    /// `x++`, `x--`, `++x`, `--x`.
    IncDec {
        target: Box<Expr>,
        increment: bool,
        prefix: bool,
    },
    /// `a..b` and `a..<b`.
    Range {
        from: Box<Expr>,
        to: Box<Expr>,
        inclusive: bool,
    },
    /// `expr as Type`.
    Cast {
        expr: Box<Expr>,
        ty: TypeName,
    },
    /// `expr instanceof Type`.
    InstanceOf {
        expr: Box<Expr>,
        ty: TypeName,
    },
    /// `new Type(args)`: kept so kiln can report it.
    New {
        ty: TypeName,
        args: Vec<Arg>,
    },
    /// `obj.&method`: kept so kiln can report it.
    MethodPointer {
        target: Box<Expr>,
        name: Ident,
    },
    /// Something that could not be parsed; a diagnostic says what.
    Error,
}

/// A string literal. `parts` alternate text and interpolations; a string without
/// interpolation has one `Text` part (or none when empty). Escapes are already decoded
/// in `Text` parts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StringLit {
    pub quote: Quote,
    pub parts: Vec<StrPart>,
}

impl StringLit {
    /// The text of a string without interpolation.
    pub fn as_plain(&self) -> Option<String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                StrPart::Text { text, .. } => out.push_str(text),
                StrPart::Interp(_) => return None,
            }
        }
        Some(out)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Quote {
    /// `'...'`: never interpolated.
    Single,
    /// `"..."`: a GString.
    Double,
    /// `'''...'''`: never interpolated.
    TripleSingle,
    /// `"""..."""`: a GString.
    TripleDouble,
    /// `/.../`: a GString where only `\/` is an escape.
    Slashy,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum StrPart {
    /// Literal text (escapes decoded) and the span of its source text.
    Text { text: String, span: Span },
    /// `${expr}` or `$name.prop`; the expression's spans point into the file.
    Interp(Expr),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MapEntry {
    pub key: MapKey,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum MapKey {
    /// `name:` or `'name':` — a constant key.
    Name(Ident),
    /// `(expr):` or `"${x}":` — a computed key.
    Expr(Expr),
}

/// One call argument: positional (`name` is `None`) or named (`script: 'x'`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

/// `{ a, b -> statements }`; `params` is empty for `{ ... }` (where Groovy supplies `it`);
/// `explicit_params` tells `{ -> ... }` apart from `{ ... }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Closure {
    pub params: Vec<Param>,
    pub explicit_params: bool,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum UnaryOp {
    Not,
    Neg,
    Plus,
    BitNot,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BinaryOp {
    Or,
    And,
    BitOr,
    BitXor,
    BitAnd,
    Eq,
    NotEq,
    /// `<=>`
    Compare,
    Lt,
    Le,
    Gt,
    Ge,
    /// `in`
    In,
    /// `!in`
    NotIn,
    /// `=~`
    Find,
    /// `==~`
    Match,
    Shl,
    Shr,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Pow,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AssignOp {
    Assign,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    /// `?=` is not Groovy; `?:=` (elvis assignment) is Groovy 3.
    Elvis,
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Self {
        Expr { kind, span }
    }

    /// The identifier name when this expression is a plain identifier.
    pub fn as_ident(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::Ident(name) => Some(name),
            _ => None,
        }
    }

    /// The text when this expression is a string literal without interpolation.
    pub fn as_plain_str(&self) -> Option<String> {
        match &self.kind {
            ExprKind::Str(s) => s.as_plain(),
            _ => None,
        }
    }

    /// A dotted name for `a`, `a.b`, `a.b.c` (plain properties only).
    pub fn dotted_name(&self) -> Option<String> {
        match &self.kind {
            ExprKind::Ident(name) => Some(name.clone()),
            ExprKind::Property {
                target,
                name,
                safe: false,
                spread: false,
            } => Some(format!("{}.{}", target.dotted_name()?, name.name)),
            _ => None,
        }
    }
}
