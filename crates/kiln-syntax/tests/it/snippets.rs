//! Small focused checks, one line each: the tree of a snippet, without spans, on one line.

use kiln_syntax::{dump, dump_expr, parse, parse_expression};

/// The dump on one line with `@start..end` removed.
fn compact(dump: &str) -> String {
    let mut out = String::new();
    for word in dump.split_whitespace() {
        if word.starts_with('@') && word.contains("..") {
            // A span, possibly followed by closing parens.
            out.push_str(word.trim_start_matches(|c| c != ')'));
            continue;
        }
        if !out.is_empty() && !out.ends_with('(') {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.replace(" )", ")")
}

/// `input` parses without diagnostics into `expected` (the file's statements).
fn check(input: &str, expected: &str) {
    let (file, diags) = parse(input);
    super::spans::check_file(&file, input);
    assert!(
        diags.is_empty(),
        "{input:?}: unexpected diagnostics {diags:#?}"
    );
    let got = compact(&dump(&file, input));
    let got = got
        .strip_prefix("(file ")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(&got);
    assert_eq!(got, expected, "for {input:?}");
}

/// `input` reports diagnostics with exactly these codes, in order.
fn check_codes(input: &str, codes: &[&str]) {
    let (file, diags) = parse(input);
    super::spans::check_file(&file, input);
    let got: Vec<&str> = diags.iter().map(|d| d.code).collect();
    assert_eq!(got, codes, "for {input:?}: {diags:#?}");
}

#[test]
fn command_calls() {
    check(
        "sh 'make'",
        r#"(call no-parens (ident sh) (str single (text "make")))"#,
    );
    check("agent any", "(call no-parens (ident agent) (ident any))");
    check(
        "values 'a', 'b'",
        r#"(call no-parens (ident values) (str single (text "a")) (str single (text "b")))"#,
    );
    check(
        "sh script: 'x', label: 'y'",
        r#"(call no-parens (ident sh) (named "script" (str single (text "x"))) (named "label" (str single (text "y"))))"#,
    );
    check(
        "docker.build 'x'",
        r#"(call no-parens (property .build (ident docker)) (str single (text "x")))"#,
    );
    check("retry(3) { }", "(call (ident retry) (int 3) (closure))");
    check("steps { }", "(call no-parens (ident steps) (closure))");
    check("f() { }", "(call (ident f) (closure))");
    check(
        "stage('x')\n{\n}",
        r#"(call (ident stage) (str single (text "x")) (closure))"#,
    );
    check(
        "parallel a: { }, 'b c': { }",
        r#"(call no-parens (ident parallel) (named "a" (closure)) (named "b c" (closure)))"#,
    );
    check(
        "x = sh script: 'ls', returnStdout: true",
        r#"(assign = (ident x) (call no-parens (ident sh) (named "script" (str single (text "ls"))) (named "returnStdout" (bool true))))"#,
    );
    check("a - b", "(binary - (ident a) (ident b))");
    check("a -b", "(binary - (ident a) (ident b))");
    check_codes("a !b", &["unexpected-token"]);
}

#[test]
fn declarations_and_commands_are_told_apart() {
    check(
        "String x = 'a'",
        r#"(var String x (str single (text "a")))"#,
    );
    check("List<String> xs", "(var List<String> xs)");
    check("int i", "(var int i)");
    check(
        "label 'x'",
        r#"(call no-parens (ident label) (str single (text "x")))"#,
    );
    check(
        "checkout scm",
        "(call no-parens (ident checkout) (ident scm))",
    );
    check(
        "def f(String a = 'x', b) { }",
        r#"(function f (param a (type String) (str single (text "x"))) (param b) (block))"#,
    );
    check(
        "private static final String X = 'y'",
        r#"(var String X (str single (text "y")))"#,
    );
}

#[test]
fn line_breaks() {
    check(
        "a\n.b()\n?.c",
        "(property ?.c (call (property .b (ident a))))",
    );
    check(
        "x = a &&\n b\n || c",
        "(assign = (ident x) (binary || (binary && (ident a) (ident b)) (ident c)))",
    );
    check(
        "x = a\n ? b\n : c",
        "(assign = (ident x) (ternary (ident a) (ident b) (ident c)))",
    );
}

#[test]
fn strings() {
    check(r"'${X} $Y \t'", r#"(str single (text "${X} $Y \t"))"#);
    check(
        r#""a $b.c.d() ${e}""#,
        r#"(str double (text "a ") (interp (property .d (property .c (ident b)))) (text "() ") (interp (ident e)))"#,
    );
    check(r#""\$x""#, r#"(str double (text "$x"))"#);
    check(
        r"x = /a\/b$/",
        r#"(assign = (ident x) (str slashy (text "a/b$")))"#,
    );
    check(
        "x = a / b / c",
        "(assign = (ident x) (binary / (binary / (ident a) (ident b)) (ident c)))",
    );
    check(
        r"x =~ /\d+/",
        r#"(binary =~ (ident x) (str slashy (text "\\d+")))"#,
    );
    check(
        r#""${ [a: '}'].collect { k, v -> "$k}" } }""#,
        r#"(str double (interp (call no-parens (property .collect (map (entry "a" (str single (text "}"))))) (closure -> (param k) (param v) (str double (interp (ident k)) (text "}"))))))"#,
    );
    check("'''a\nb'''", r#"(str triple-single (text "a\nb"))"#);
    check("'a\\\nb'", r#"(str single (text "ab"))"#);
    check_codes("'abc", &["unterminated-string"]);
    check_codes(r#""a $ b""#, &["invalid-dollar"]);
    check_codes(r"'\q'", &["invalid-escape"]);
    check_codes(r#""${}""#, &["empty-interpolation"]);
}

#[test]
fn literals_and_operators() {
    check(
        "x = [0x1F, 017, 1_000, 2L, 1.5e3, 10G]",
        "(assign = (ident x) (list (int 31) (int 15) (int 1000) (int 2) (float 1500.0) (int 10)))",
    );
    check(
        "x = 1..<5",
        "(assign = (ident x) (range ..< (int 1) (int 5)))",
    );
    check(
        "x = a ?: b",
        "(assign = (ident x) (elvis (ident a) (ident b)))",
    );
    check(
        "x = a !in b",
        "(assign = (ident x) (binary !in (ident a) (ident b)))",
    );
    check(
        "x = -2 ** 2",
        "(assign = (ident x) (unary - (binary ** (int 2) (int 2))))",
    );
    check("x = a*.b", "(assign = (ident x) (property *.b (ident a)))");
    check(
        "x = this.&m",
        "(assign = (ident x) (method-pointer m (ident this)))",
    );
    check(
        "x = y as Integer",
        "(assign = (ident x) (as (ident y) (type Integer)))",
    );
    check("i++", "(postfix ++ (ident i))");
    check("x ?= 1", "(assign ?= (ident x) (int 1))");
    check("x = [:]", "(assign = (ident x) (map))");
    check(
        "x = [(k): 1, default: 2]",
        r#"(assign = (ident x) (map (entry (key (ident k)) (int 1)) (entry "default" (int 2))))"#,
    );
    check_codes("x = 99999999999999999999", &["integer-too-large"]);
}

#[test]
fn statements() {
    check(
        "if (a) b() else c()",
        "(if (ident a) (block (call (ident b))) (else (block (call (ident c)))))",
    );
    check(
        "if (a) {\n} else if (b) {\n}\nelse {\n}",
        "(if (ident a) (block) (else (if (ident b) (block) (else (block)))))",
    );
    check("for (x in xs) { }", "(for-in x (ident xs) (block))");
    check("for (String x : xs) { }", "(for-in x (ident xs) (block))");
    check(
        "for (int i = 0; i < n; i++) { }",
        "(for (var int i (int 0)) (binary < (ident i) (ident n)) (postfix ++ (ident i)) (block))",
    );
    check(
        "switch (x) { case 1: a(); case 2: default: b() }",
        "(switch (ident x) (case (int 1) (call (ident a))) (case (int 2)) (default (call (ident b))))",
    );
    check(
        "try { } catch (A | b.C e) { } finally { }",
        "(try (block) (catch e [A | b.C] (block)) (finally (block)))",
    );
    check(
        "try {\n}\ncatch (e) {\n}",
        "(try (block) (catch e [] (block)))",
    );
    check("return", "(return)");
    check("import static a.b.C.*", "(import static a.b.C.*)");
    check(
        "@Library(['a', 'b@v2']) _",
        r#"(annotated (annotation Library (list (str single (text "a")) (str single (text "b@v2")))) (ident _))"#,
    );
    check(
        "class Foo { def x = { } }",
        "(class Foo (var def x (closure)))",
    );
    check("enum E { A, B }", "(enum E (constant A) (constant B))");
    check(
        "enum E { A(1); int n\n E(x) { n = x } }",
        "(enum E (constant A (int 1)) (var int n) (function E (param x) (block (assign = (ident n) (ident x)))))",
    );
    check("interface I { def f() }", "(interface I)");
    check(
        "abstract class A { abstract def f()\n def g() { f() } }",
        "(class A (function f (block)) (function g (block (call (ident f)))))",
    );
    check_codes("class A { def f()\n}", &["unexpected-token"]);
    check(
        "class B extends a.A implements I, J { }",
        "(class B extends A)",
    );
    check_codes("enum E { A { def f() { } } }", &["unexpected-token"]);
    check(
        "class P { static int n = 1\n P(a) { } }",
        "(class P (static (var int n (int 1))) (function P (param a) (block)))",
    );
    check_codes("def (a, b) = [1, 2]", &[]);
    check_codes("def (a, b) [1, 2]", &["unexpected-token"]);
    check_codes("def (a, 3) = [1, 2]", &["unexpected-token"]);
    check_codes(
        "outer: while (x) { break outer }",
        &["ignored-label", "ignored-label"],
    );
}

#[test]
fn errors_recover_at_statement_boundaries() {
    check_codes(
        "foo(a, b\nbar 'x'\nbaz(",
        &["unclosed-delimiter", "unclosed-delimiter"],
    );
    check_codes(
        "a = \nsh 'x'\n}\nb = )",
        &["unexpected-token", "expected-expression"],
    );
    check_codes("pipeline {\n  stages {\n", &["unclosed-delimiter"]);
}

#[test]
fn expressions_at_an_offset() {
    let (e, diags) = parse_expression("env.X == 'y'", 100);
    assert!(diags.is_empty());
    assert_eq!(
        dump_expr(&e),
        "(binary == @100..112\n  (property .X @100..105\n    (ident env @100..103))\n  (str single @109..112\n    (text \"y\" @110..111)))\n"
    );
    super::spans::check_expr(&e, "env.X == 'y'", 100);
    let (_, diags) = parse_expression("a b", 10);
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].primary_span().start, 12);
}
