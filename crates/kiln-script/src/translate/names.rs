//! Naming in generated Rhai: user identifiers that Rhai reserves are renamed, and every
//! helper kiln generates or registers starts with [`PREFIX`], which user names never get.

/// The prefix of every generated name; a user identifier starting with it is renamed.
pub(crate) const PREFIX: &str = "__kiln_";

/// Rhai keywords, reserved words and keyword-like functions: not usable as variable names.
const RHAI_RESERVED: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "call",
    "case",
    "catch",
    "const",
    "continue",
    "curry",
    "debug",
    "default",
    "do",
    "else",
    "eval",
    "exit",
    "export",
    "false",
    "fn",
    "for",
    "global",
    "go",
    "goto",
    "if",
    "import",
    "in",
    "is",
    "is_def_fn",
    "is_def_var",
    "is_shared",
    "let",
    "loop",
    "match",
    "module",
    "new",
    "nil",
    "null",
    "package",
    "print",
    "private",
    "protected",
    "public",
    "return",
    "shared",
    "spawn",
    "static",
    "super",
    "switch",
    "sync",
    "this",
    "thread",
    "throw",
    "true",
    "try",
    "type_of",
    "until",
    "use",
    "var",
    "void",
    "while",
    "with",
    "yield",
    "Fn",
    "_",
];

/// The Rhai name of a user variable or parameter.
pub(crate) fn local(name: &str) -> String {
    let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.chars().next().is_some_and(|c| !c.is_ascii_digit());
    if plain && !RHAI_RESERVED.contains(&name) && !name.starts_with(PREFIX) {
        return name.to_string();
    }
    format!("{PREFIX}v_{}", mangle(name))
}

/// The Rhai name of a user function `name` (a separate namespace from helpers).
pub(crate) fn function(name: &str) -> String {
    format!("{PREFIX}fn_{}", mangle(name))
}

/// Identifier characters kept, anything else written as `_xHH_`.
fn mangle(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            out.push_str(&format!("_x{:x}_", c as u32));
        }
    }
    out
}

/// A Rhai string literal for `s`; the generated code stays ASCII, so Rhai's columns are
/// byte offsets.
pub(crate) fn string_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            _ => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// A Rhai float literal.
pub(crate) fn float_literal(x: f64) -> String {
    let s = format!("{x:?}");
    if s.contains('.') {
        return s;
    }
    match s.split_once('e') {
        Some((m, e)) => format!("{m}.0e{e}"),
        None => format!("{s}.0"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_odd_names_are_renamed() {
        assert_eq!(local("count"), "count");
        assert_eq!(local("fn"), "__kiln_v_fn");
        assert_eq!(local("this"), "__kiln_v_this");
        assert_eq!(local("a$b"), "__kiln_v_a_x24_b");
        assert_eq!(local("__kiln_g"), "__kiln_v___kiln_g");
    }

    #[test]
    fn literals_are_ascii() {
        assert_eq!(string_literal("a\"b\\\né"), "\"a\\\"b\\\\\\n\\U000000e9\"");
        assert_eq!(float_literal(1.0), "1.0");
        assert_eq!(float_literal(1e20), "1.0e20");
    }
}
