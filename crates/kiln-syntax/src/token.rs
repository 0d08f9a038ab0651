//! Tokens: what the lexer hands the parser.
//!
//! Strings are not single tokens: a string is `StrStart`, then `StrText` runs and
//! interpolations (`InterpStart` or `ShortInterpStart`, ordinary tokens, `InterpEnd`), then
//! `StrEnd`. The lexer always closes what it opens, even on bad input, so the parser never
//! has to guess where a string ends.

use crate::ast::Quote;
use kiln_diagnostics::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Ident,
    Kw(Keyword),
    Int,
    Float,
    StrStart(Quote),
    /// A run of literal string text; the index is into the lexer's decoded texts.
    StrText(u32),
    /// `${`
    InterpStart,
    /// `$` of `$name.prop`
    ShortInterpStart,
    /// The `}` of `${...}`, or an empty token after `$name.prop`.
    InterpEnd,
    StrEnd,

    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Semi,
    Colon,
    Dot,
    /// `?.`
    SafeDot,
    /// `*.`
    SpreadDot,
    /// `.&`
    MethodRef,
    Question,
    /// `?:`
    Elvis,
    /// `->`
    Arrow,
    At,

    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    /// `**`
    Pow,
    /// `++`
    Inc,
    /// `--`
    Dec,
    /// `!`
    Bang,
    /// `~`
    Tilde,
    /// `=`
    Eq,
    EqEq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    /// `<=>`
    Cmp,
    /// `=~`
    Find,
    /// `==~`
    Match,
    AndAnd,
    OrOr,
    Amp,
    Pipe,
    Caret,
    Shl,
    Shr,
    /// `>>>`
    UShr,
    /// `..`
    Range,
    /// `..<`
    RangeExcl,
    /// `!in`
    NotIn,
    PlusEq,
    MinusEq,
    StarEq,
    SlashEq,
    PercentEq,
    PowEq,
    /// `?=` and `?:=`
    ElvisEq,

    /// One or more line breaks (with the comments and blank lines between them).
    Newline,
    Eof,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keyword {
    Def,
    If,
    Else,
    For,
    While,
    Do,
    Switch,
    Case,
    Default,
    Try,
    Catch,
    Finally,
    Return,
    Break,
    Continue,
    Throw,
    Import,
    Package,
    Class,
    Interface,
    Enum,
    Trait,
    New,
    In,
    Instanceof,
    As,
    True,
    False,
    Null,
    Void,
    Static,
    Final,
    Private,
    Public,
    Protected,
    Abstract,
    Synchronized,
    This,
    Super,
}

impl Keyword {
    pub fn lookup(s: &str) -> Option<Keyword> {
        use Keyword::*;
        Some(match s {
            "def" => Def,
            "if" => If,
            "else" => Else,
            "for" => For,
            "while" => While,
            "do" => Do,
            "switch" => Switch,
            "case" => Case,
            "default" => Default,
            "try" => Try,
            "catch" => Catch,
            "finally" => Finally,
            "return" => Return,
            "break" => Break,
            "continue" => Continue,
            "throw" => Throw,
            "import" => Import,
            "package" => Package,
            "class" => Class,
            "interface" => Interface,
            "enum" => Enum,
            "trait" => Trait,
            "new" => New,
            "in" => In,
            "instanceof" => Instanceof,
            "as" => As,
            "true" => True,
            "false" => False,
            "null" => Null,
            "void" => Void,
            "static" => Static,
            "final" => Final,
            "private" => Private,
            "public" => Public,
            "protected" => Protected,
            "abstract" => Abstract,
            "synchronized" => Synchronized,
            "this" => This,
            "super" => Super,
            _ => return None,
        })
    }

    /// Keywords that are values: a `/` after them is division, not a regex.
    pub fn is_value(self) -> bool {
        matches!(
            self,
            Keyword::True | Keyword::False | Keyword::Null | Keyword::This | Keyword::Super
        )
    }

    /// Declaration modifiers, skipped before `def`, types and classes.
    pub fn is_modifier(self) -> bool {
        matches!(
            self,
            Keyword::Static
                | Keyword::Final
                | Keyword::Private
                | Keyword::Public
                | Keyword::Protected
                | Keyword::Abstract
                | Keyword::Synchronized
        )
    }
}

impl TokenKind {
    /// How the token is named in "expected X, found Y" messages.
    pub fn describe(self) -> &'static str {
        use TokenKind::*;
        match self {
            Ident => "an identifier",
            Kw(_) => "a keyword",
            Int | Float => "a number",
            StrStart(_) | StrText(_) | StrEnd => "a string",
            InterpStart | ShortInterpStart => "`$`",
            InterpEnd => "the end of the interpolation",
            Newline => "a line break",
            Eof => "the end of the file",
            _ => self.punct().unwrap_or("a token"),
        }
    }

    /// The source text of a punctuation or operator token.
    pub fn punct(self) -> Option<&'static str> {
        use TokenKind::*;
        Some(match self {
            LParen => "`(`",
            RParen => "`)`",
            LBracket => "`[`",
            RBracket => "`]`",
            LBrace => "`{`",
            RBrace => "`}`",
            Comma => "`,`",
            Semi => "`;`",
            Colon => "`:`",
            Dot => "`.`",
            SafeDot => "`?.`",
            SpreadDot => "`*.`",
            MethodRef => "`.&`",
            Question => "`?`",
            Elvis => "`?:`",
            Arrow => "`->`",
            At => "`@`",
            Plus => "`+`",
            Minus => "`-`",
            Star => "`*`",
            Slash => "`/`",
            Percent => "`%`",
            Pow => "`**`",
            Inc => "`++`",
            Dec => "`--`",
            Bang => "`!`",
            Tilde => "`~`",
            Eq => "`=`",
            EqEq => "`==`",
            NotEq => "`!=`",
            Lt => "`<`",
            Le => "`<=`",
            Gt => "`>`",
            Ge => "`>=`",
            Cmp => "`<=>`",
            Find => "`=~`",
            Match => "`==~`",
            AndAnd => "`&&`",
            OrOr => "`||`",
            Amp => "`&`",
            Pipe => "`|`",
            Caret => "`^`",
            Shl => "`<<`",
            Shr => "`>>`",
            UShr => "`>>>`",
            Range => "`..`",
            RangeExcl => "`..<`",
            NotIn => "`!in`",
            PlusEq => "`+=`",
            MinusEq => "`-=`",
            StarEq => "`*=`",
            SlashEq => "`/=`",
            PercentEq => "`%=`",
            PowEq => "`**=`",
            ElvisEq => "`?=`",
            _ => return None,
        })
    }

    /// After this token a `/` starts a slashy string rather than a division.
    pub fn allows_regex(self) -> bool {
        use TokenKind::*;
        match self {
            Ident | Int | Float | StrEnd | RParen | RBracket | RBrace | InterpEnd | Inc | Dec => {
                false
            }
            Kw(k) => !k.is_value(),
            _ => true,
        }
    }
}
