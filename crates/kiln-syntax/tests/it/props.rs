//! Property tests: any input parses without panicking, and every span stays in bounds.

use proptest::prelude::*;

/// Fragments of Groovy, so random sequences reach deep into the parser.
const ALPHABET: &[&str] = &[
    "pipeline",
    "stage",
    "sh",
    "def",
    "if",
    "else",
    "for",
    "in",
    "while",
    "switch",
    "case",
    "default",
    "try",
    "catch",
    "finally",
    "return",
    "new",
    "class",
    "import",
    "@Library",
    "_",
    "x",
    "env",
    ".",
    "?.",
    "*.",
    ".&",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    ";",
    "->",
    "=",
    "==",
    "=~",
    "==~",
    "?",
    "?:",
    "+",
    "-",
    "*",
    "/",
    "**",
    "!",
    "++",
    "..",
    "..<",
    "<",
    ">",
    "&&",
    "||",
    "'",
    "\"",
    "'''",
    "\"\"\"",
    "${",
    "$",
    "\\",
    "1",
    "0x1F",
    "1.5e3",
    "99999999999999999999",
    "'a'",
    "\"b $c ${d}\"",
    "/re/",
    "//",
    "/*",
    "*/",
    "\n",
    " ",
    "\t",
    "#!",
    "é",
    "\u{1F600}",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(ALPHABET), 0..80).prop_map(|v| v.concat())
}

fn check(text: &str) {
    let (file, _) = kiln_syntax::parse(text);
    super::spans::check_file(&file, text);
    let _ = kiln_syntax::dump(&file, text);
    let (expr, _) = kiln_syntax::parse_expression(text, 7);
    super::spans::check_expr(&expr, text, 7);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn token_soup_never_panics(text in token_soup()) {
        check(&text);
    }
}
