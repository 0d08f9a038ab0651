//! Groovy classes a script defines, closure parameters with defaults, and the JDK classes
//! kiln provides (`URL`): `check(source, expected)` runs the source as a script block and
//! compares Groovy's `toString()` of its value.

use kiln_script::{NoSteps, ScriptContext, ScriptEngine, ScriptError, Value};
use std::sync::OnceLock;

fn engine() -> &'static ScriptEngine {
    static ENGINE: OnceLock<ScriptEngine> = OnceLock::new();
    ENGINE.get_or_init(ScriptEngine::new)
}

fn run(src: &str) -> Result<Value, ScriptError> {
    let (file, diags) = kiln_syntax::parse(src);
    assert!(diags.is_empty(), "parse errors in {src:?}: {diags:?}");
    engine().eval_block(&file.statements, &mut ScriptContext::new(), &mut NoSteps)
}

#[track_caller]
fn check(src: &str, expected: &str) {
    match run(src) {
        Ok(v) => assert_eq!(v.to_string(), expected, "script: {src}"),
        Err(e) => {
            let (file, _) = kiln_syntax::parse(src);
            let code = engine().generated_code(&file.statements);
            panic!(
                "script {src:?} failed: {e}\ngenerated: {}",
                code.unwrap_or_else(|d| format!("{d:?}"))
            );
        }
    }
}

#[track_caller]
fn check_err(src: &str, expected: &str) {
    match run(src) {
        Ok(v) => panic!("script {src:?} succeeded with {v}"),
        Err(e) => assert!(
            e.to_string().contains(expected),
            "script {src:?}: error {e} does not contain {expected:?}"
        ),
    }
}

const ZOT: &str = r#"
class Zot {
  String name
  int count = 0
  static final String KIND = 'zot'
  static int made = 0
  def greet(String greeting = 'hi') {
    count++
    return "${greeting} ${name} (${count})"
  }
  static String shout(String s) { s.toUpperCase() + '!' }
  def twice() { greet() + ' / ' + greet('hello') }
}
"#;

#[test]
fn classes_fields_methods_and_statics() {
    check(&format!("{ZOT}\nnew Zot(name: 'x').greet()"), "hi x (1)");
    check(
        &format!("{ZOT}\ndef z = new Zot(name: 'x'); z.twice()"),
        "hi x (1) / hello x (2)",
    );
    check(&format!("{ZOT}\nZot.KIND + Zot.shout('a')"), "zotA!");
    check(
        &format!("{ZOT}\ndef z = new Zot(); z.name = 'y'; z.name"),
        "y",
    );
    check(
        &format!("{ZOT}\ndef z = new Zot(name: 'n'); z.getName()"),
        "n",
    );
    check(
        &format!("{ZOT}\ndef z = new Zot(name: 'n'); z.setCount(5); z.count"),
        "5",
    );
    check(&format!("{ZOT}\nZot.made = 3; Zot.made + 1"), "4");
    // An instance is shared, as Java objects are.
    check(
        &format!(
            "{ZOT}\ndef z = new Zot(name: 'a')\ndef bump(o) {{ o.count = 10 }}\nbump(z)\nz.count"
        ),
        "10",
    );
    check(
        &format!("{ZOT}\ndef l = [new Zot(name: 'a'), new Zot(name: 'b')]; l*.name"),
        "[a, b]",
    );
}

#[test]
fn class_constructors_and_to_string() {
    let src = r#"
class Point {
  int x
  int y
  Point(int x, int y) { this.x = x; this.y = y }
  String toString() { "(${x}, ${y})" }
  Point plus(Point o) { new Point(x + o.x, y + o.y) }
}
"#;
    check(&format!("{src}\n\"${{new Point(1, 2)}}\""), "(1, 2)");
    check(
        &format!("{src}\nnew Point(1, 2).plus(new Point(3, 4)).toString()"),
        "(4, 6)",
    );
    check_err(
        &format!("{src}\nnew Point(1)"),
        "class `Point` has no constructor taking 1 argument(s)",
    );
    check_err(
        &format!("{ZOT}\nnew Zot(nme: 'x')"),
        "no property `nme` in class `Zot`",
    );
    check_err(
        &format!("{ZOT}\nnew Zot().nothing()"),
        "no method `nothing()`",
    );
}

#[test]
fn closure_parameters_with_defaults() {
    check("def c = { a, b = 5 -> a + b }; c(1)", "6");
    check("def c = { a, b = 5 -> a + b }; c(1, 2)", "3");
    check(
        "def c = { String a = 'x', b = [1, 2].size() -> a + b }; c()",
        "x2",
    );
}
