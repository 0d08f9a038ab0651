//! Groovy classes a script defines, closure parameters with defaults, and the JDK classes
//! kiln provides (`URL`): `check(source, expected)` runs the source as a script block and
//! compares Groovy's `toString()` of its value.

use kiln_script::{NoSteps, ScriptContext, ScriptEngine, ScriptError, StepCall, StepHost, Value};
use std::collections::BTreeMap;
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

#[test]
fn url_parts_as_java_gives_them() {
    let u = "def u = new URL('https://bob@example.com:8443/a/b.txt?x=1&y=2#top')";
    check(&format!("{u}; u.protocol"), "https");
    check(&format!("{u}; u.host"), "example.com");
    check(&format!("{u}; u.port"), "8443");
    check(&format!("{u}; u.getDefaultPort()"), "443");
    check(&format!("{u}; u.path"), "/a/b.txt");
    check(&format!("{u}; u.query"), "x=1&y=2");
    check(&format!("{u}; u.ref"), "top");
    check(&format!("{u}; u.userInfo"), "bob");
    check(&format!("{u}; u.authority"), "bob@example.com:8443");
    check(&format!("{u}; u.file"), "/a/b.txt?x=1&y=2");
    check(
        &format!("{u}; \"${{u}}\""),
        "https://bob@example.com:8443/a/b.txt?x=1&y=2#top",
    );
    check(
        "def u = new URL('http://h'); [u.port, u.path, u.query]",
        "[-1, , null]",
    );
    check("new URL('http://[::1]:80/x').host", "[::1]");
    check_err("new URL('nope')", "no protocol: nope");
    check_err("new URL('gopher://x')", "unknown protocol: gopher");
    check_err("new URL('http://h:99999/')", "invalid port number");
    check_err("new URL('http://h/').text", "would read from the network");
    check_err(
        "new URL('http://h/').openConnection()",
        "would read from the network",
    );
}

/// A workspace of files served through `readFile`, `fileExists` and `writeFile`.
#[derive(Default)]
struct Workspace {
    files: BTreeMap<String, String>,
}

impl StepHost for Workspace {
    fn has_step(&self, name: &str) -> bool {
        matches!(name, "readFile" | "fileExists" | "writeFile")
    }

    fn call_step(&mut self, name: &str, call: StepCall<'_>) -> Result<Value, String> {
        let file = call.arg("file").map(|v| v.to_string()).unwrap_or_default();
        match name {
            "readFile" => self
                .files
                .get(&file)
                .map(|t| Value::Str(t.clone()))
                .ok_or_else(|| format!("no such file: {file}")),
            "fileExists" => Ok(Value::Bool(self.files.contains_key(&file))),
            "writeFile" => {
                let text = call
                    .named
                    .get("text")
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                self.files.insert(file, text);
                Ok(Value::Null)
            }
            _ => Err(format!("no step {name}")),
        }
    }
}

fn run_in_workspace(src: &str, ws: &mut Workspace) -> Result<Value, ScriptError> {
    let (file, diags) = kiln_syntax::parse(src);
    assert!(diags.is_empty(), "parse errors in {src:?}: {diags:?}");
    let mut ctx = ScriptContext::new();
    ctx.env.insert("WORKSPACE".into(), "/ws/job".into());
    engine().eval_block(&file.statements, &mut ctx, ws)
}

#[test]
fn files_are_read_and_written_in_the_workspace_through_steps() {
    let mut ws = Workspace::default();
    ws.files
        .insert("ci/version.txt".into(), "1.2.3\nnext\n".into());
    let ok = |src: &str, ws: &mut Workspace| match run_in_workspace(src, ws) {
        Ok(v) => v.to_string(),
        Err(e) => panic!("{src}: {e}"),
    };
    assert_eq!(
        ok("new File('ci/version.txt').text.trim()", &mut ws),
        "1.2.3\nnext"
    );
    assert_eq!(
        ok("new File('ci/version.txt').readLines()", &mut ws),
        "[1.2.3, next]"
    );
    assert_eq!(
        ok("new File('/ws/job/ci/version.txt').exists()", &mut ws),
        "true"
    );
    assert_eq!(ok("new File('ci', 'nope.txt').exists()", &mut ws), "false");
    assert_eq!(
        ok(
            "def f = new File('ci/./version.txt'); [f.name, f.parent]",
            &mut ws
        ),
        "[version.txt, ci]"
    );
    ok("new File('out/report.txt').write('done')", &mut ws);
    assert_eq!(
        ws.files.get("out/report.txt").map(String::as_str),
        Some("done")
    );
    for outside in [
        "new File('/etc/passwd').text",
        "new File('../other/secret').text",
        "new File('/ws/jobber/x').exists()",
    ] {
        match run_in_workspace(outside, &mut ws) {
            Ok(v) => panic!("{outside} read {v}"),
            Err(e) => assert!(
                e.to_string().contains("is outside the workspace"),
                "{outside}: {e}"
            ),
        }
    }
}

#[test]
fn unknown_classes_are_lint_errors_unless_defined_elsewhere_in_the_file() {
    let (file, _) = kiln_syntax::parse("def w = new Widget()\ndef z = new Zot()");
    let diags = engine().check_block(&file.statements);
    let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "`new Widget(...)`: class `Widget` is not defined in this Jenkinsfile and kiln does not provide it",
            "`new Zot(...)`: class `Zot` is not defined in this Jenkinsfile and kiln does not provide it",
        ]
    );
    let known = ["Zot".to_string(), "Widget".to_string()]
        .into_iter()
        .collect();
    assert!(
        engine()
            .check_block_with_classes(&file.statements, &known)
            .is_empty()
    );
    // JDK classes kiln does not provide are refused by name, whatever the file defines.
    let (file, _) = kiln_syntax::parse("new Socket('h', 1)");
    let diags = engine().check_block_with_classes(&file.statements, &known);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0].message, "`new Socket(...)` is not supported");
    // At run time a class of an earlier block is found; one of none is an error.
    check_err("new Zot()", "class `Zot` is not defined in the Jenkinsfile");
    check_err(
        "new java.net.Socket('h', 1)",
        "the class `java.net.Socket` is not provided by kiln",
    );
}

#[test]
fn maps_keep_insertion_order_as_linked_hash_map() {
    check(
        "def out = []; [name: 1, kind: 2, alpha: 3].each { k, v -> out << k }; out",
        "[name, kind, alpha]",
    );
    check("[zeta: 1, alpha: 2]", "[zeta:1, alpha:2]");
    check("[zeta: 1, alpha: 2].keySet()", "[zeta, alpha]");
    check("[zeta: 1, alpha: 2].values()", "[1, 2]");
    check("[zeta: 1, alpha: 2].collect { k, v -> k }", "[zeta, alpha]");
    check(
        "def l = []; for (e in [z: 1, a: 2]) { l << e.key }; l",
        "[z, a]",
    );
    check(
        "def m = [:]; m.z = 1; m['a'] = 2; m.put('m', 3); m",
        "[z:1, a:2, m:3]",
    );
    // A key put again keeps its place; a removed one put again goes last.
    check("def m = [b: 1, a: 2]; m.b = 3; m", "[b:3, a:2]");
    check(
        "def m = [b: 1, a: 2]; m.remove('b'); m.b = 3; m",
        "[a:2, b:3]",
    );
    check("[b: 1, a: 2, b: 3]", "[b:3, a:2]");
    check("[z: 1] + [a: 2]", "[z:1, a:2]");
    check("[z: 1, a: 2].findAll { k, v -> true }", "[z:1, a:2]");
    check("['z', 'a', 'z'].groupBy { it }", "[z:[z, z], a:[a]]");
    check(
        "['z', 'a'].collectEntries { [(it): it.size()] }",
        "[z:1, a:1]",
    );
    check("def k = 'dyn'; [z: 1, (k): 2, a: 3]", "[z:1, dyn:2, a:3]");
    check("[z: 1, a: 2] == [a: 2, z: 1]", "true");
    check("[z: 1, a: 2].size()", "2");
    check("new LinkedHashMap([z: 1, a: 2])", "[z:1, a:2]");
    check("def m = new TreeMap(); m.z = 1; m.a = 2; m", "[a:2, z:1]");
    check("[z: 1, a: 2] as TreeMap", "[a:2, z:1]");
    // JSON in both directions keeps the order written.
    check(
        "JsonOutput.toJson([z: 1, a: [y: true, b: null]])",
        r#"{"z":1,"a":{"y":true,"b":null}}"#,
    );
    check(
        "new JsonSlurper().parseText('{\"z\": 1, \"a\": 2}').keySet()",
        "[z, a]",
    );
    check(
        "JsonOutput.prettyPrint('{\"z\": [1, {}], \"a\": []}')",
        "{\n    \"z\": [\n        1,\n        {}\n    ],\n    \"a\": []\n}",
    );
}

#[test]
fn load_runs_a_workspace_file_and_returns_its_functions() {
    let mut ws = Workspace::default();
    ws.files.insert(
        "ci/helpers.groovy".into(),
        "def greet(n) {\n  writeFile file: 'out.txt', text: \"hi ${n} on ${env.BRANCH}\"\n  return 'done ' + n\n}\ndef twice(x = 2) { x * 2 }\nreturn this\n".into(),
    );
    ws.files.insert(
        "ci/value.groovy".into(),
        "[a: 1, b: 2].keySet().join(',')".into(),
    );
    ws.files
        .insert("ci/bad.groovy".into(), "def ok = 1\ndef x = (\n".into());
    ws.files.insert(
        "ci/unsupported.groovy".into(),
        "\n  def s = new Socket('h', 1)\n".into(),
    );
    let run = |src: &str, ws: &mut Workspace| {
        let (file, diags) = kiln_syntax::parse(src);
        assert!(diags.is_empty(), "{diags:?}");
        let mut ctx = ScriptContext::new();
        ctx.env.insert("BRANCH".into(), "main".into());
        engine().eval_block(&file.statements, &mut ctx, ws)
    };
    let v = run(
        "def h = load 'ci/helpers.groovy'\n[h.greet('kiln'), h.twice(), h.twice(5)]",
        &mut ws,
    );
    assert_eq!(
        v.map(|v| v.to_string()).ok(),
        Some("[done kiln, 4, 10]".to_string())
    );
    assert_eq!(
        ws.files.get("out.txt").map(String::as_str),
        Some("hi kiln on main")
    );
    let v = run("load('ci/value.groovy')", &mut ws);
    assert_eq!(v.map(|v| v.to_string()).ok(), Some("a,b".to_string()));
    let expect_err = |src: &str, fragment: &str, ws: &mut Workspace| match run(src, ws) {
        Ok(v) => panic!("{src} gave {v}"),
        Err(e) => assert!(e.to_string().contains(fragment), "{src}: {e}"),
    };
    expect_err(
        "load 'ci/bad.groovy'",
        "load('ci/bad.groovy'): 3:1:",
        &mut ws,
    );
    expect_err(
        "load 'ci/unsupported.groovy'",
        "load('ci/unsupported.groovy'): 2:11: `new Socket(...)` is not supported",
        &mut ws,
    );
    expect_err(
        "load 'ci/missing.groovy'",
        "no such file: ci/missing.groovy",
        &mut ws,
    );
    expect_err(
        "def h = load 'ci/helpers.groovy'; h.nope()",
        "`ci/helpers.groovy` has no function `nope` taking 0 argument(s)",
        &mut ws,
    );
}

#[test]
fn random_uuids_have_the_version_4_form() {
    let a = run("UUID.randomUUID().toString()").unwrap().to_string();
    let b = run("\"${UUID.randomUUID()}\"").unwrap().to_string();
    assert_ne!(a, b);
    for u in [a, b] {
        let parts: Vec<&str> = u.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12],
            "{u}"
        );
        assert!(parts[2].starts_with('4'), "{u}");
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{u}");
    }
}

const SHAPES: &str = r#"
interface Named { String label() }
class Shape implements Named {
  String name
  int sides = 0
  Shape(String n) { name = n }
  String label() { "${name} with ${sides} sides" }
  String kind() { 'shape' }
}
class Square extends Shape {
  int size = 1
  Square(int s) { super('square'); size = s; sides = 4 }
  String kind() { 'square, a ' + super.kind() }
  int area() { size * size }
}
"#;

#[test]
fn classes_extend_classes_of_the_script() {
    let check_shapes = |code: &str, expected: &str| check(&format!("{SHAPES}\n{code}"), expected);
    check_shapes("new Square(3).label()", "square with 4 sides");
    check_shapes("new Square(3).kind()", "square, a shape");
    check_shapes("new Square(3).area()", "9");
    check_shapes("def s = new Square(2); s.name + ' ' + s.size", "square 2");
    check_shapes("new Shape('blob').kind()", "shape");
    check(
        "abstract class Base { abstract def area()\n def twice() { area() * 2 } }\nclass Sq extends Base { def area() { 3 } }\nnew Sq().twice()",
        "6",
    );
    check_err(
        &format!(
            "{SHAPES}\nclass Odd extends Shape {{ def f() {{ super.nope() }} }}\nnew Odd().f()"
        ),
        "has no method `nope`",
    );
}

#[test]
fn enums_have_constants_names_and_ordinals() {
    let modes = "enum Mode { Debug, Release }\n";
    check(&format!("{modes}Mode.Release.name()"), "Release");
    check(&format!("{modes}Mode.Release.ordinal()"), "1");
    check(&format!("{modes}\"${{Mode.Debug}}\""), "Debug");
    check(
        &format!("{modes}Mode.values().collect {{ it.name() }}"),
        "[Debug, Release]",
    );
    check(
        &format!("{modes}Mode.valueOf('Debug') == Mode.Debug"),
        "true",
    );
    check(&format!("{modes}Mode.Debug == Mode.Release"), "false");
    check(
        &format!(
            "{modes}def m = Mode.Release\nswitch (m) {{ case Mode.Debug: return 'd'; case Mode.Release: return 'r' }}"
        ),
        "r",
    );
    check_err(
        &format!("{modes}Mode.valueOf('Fast')"),
        "No enum constant Mode.Fast",
    );
    check(
        "enum Level { LOW('l'), HIGH('h');\n String code\n Level(String c) { code = c }\n String describe() { name().toLowerCase() + '=' + code } }\nLevel.HIGH.describe()",
        "high=h",
    );
}
