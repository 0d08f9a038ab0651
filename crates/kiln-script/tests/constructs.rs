//! Each Groovy construct with its observable result: `check(source, expected)` runs the
//! source as a script block and compares Groovy's `toString()` of its value.

use kiln_script::{NoSteps, ScriptContext, ScriptEngine, ScriptError, Value};
use std::sync::OnceLock;

fn engine() -> &'static ScriptEngine {
    static ENGINE: OnceLock<ScriptEngine> = OnceLock::new();
    ENGINE.get_or_init(ScriptEngine::new)
}

fn context() -> ScriptContext {
    let mut ctx = ScriptContext::new();
    ctx.env.insert("BRANCH_NAME".into(), "main".into());
    ctx.env.insert("BUILD_NUMBER".into(), "42".into());
    ctx.params.insert("DEPLOY".into(), Value::Bool(true));
    ctx.params.insert("TARGET".into(), "staging".into());
    ctx.current_build.number = 42;
    ctx
}

fn run(src: &str) -> Result<Value, ScriptError> {
    let (file, diags) = kiln_syntax::parse(src);
    assert!(diags.is_empty(), "parse errors in {src:?}: {diags:?}");
    engine().eval_block(&file.statements, &mut context(), &mut NoSteps)
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
                code.unwrap_or_default()
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
            "script {src:?}: error {e:?} does not contain {expected:?}"
        ),
    }
}

#[test]
fn literals_and_strings() {
    check("null", "null");
    check("true", "true");
    check("42", "42");
    check("1.5", "1.5");
    check("'single ${x}'", "single ${x}");
    check("'''a\nb'''", "a\nb");
    check(r#"def x = 'w'; "hello ${x}""#, "hello w");
    check(r#"def y = null; "v=${y}""#, "v=null");
    check(r#"def m = [z: 5]; "$m.z and ${m.z + 1}""#, "5 and 6");
    check(r#"def n = 3; """n is ${n}""""#, "n is 3");
    check(
        r#""${1.0} ${[1, 'a']} ${[a: 1]} ${[:]}""#,
        "1.0 [1, a] [a:1] [:]",
    );
}

#[test]
fn lists_maps_and_indexing() {
    check("[1, 2, 3]", "[1, 2, 3]");
    check("[a: 1, 'b c': 2]", "[a:1, b c:2]");
    check("def l = [1, 2, 3]; l[-1]", "3");
    check("def l = [1, 2, 3]; l[5]", "null");
    check("def l = [1, 2, 3, 4]; l[1..2]", "[2, 3]");
    check("'hello'[1]", "e");
    check("'hello'[-1]", "o");
    check("def m = [a: 1]; m['a'] + m.a", "2");
    check("def m = [a: [b: [c: 7]]]; m.a.b.c", "7");
    check("def m = [:]; m.x", "null");
    check("def k = 'dyn'; [(k): 1, \"${k}2\": 2]", "[dyn:1, dyn2:2]");
    check("def m = [a: 1]; m.b = 2; m['c'] = 3; m", "[a:1, b:2, c:3]");
    check("def l = [0, 0]; l[1] = 5; l[3] = 7; l", "[0, 5, null, 7]");
    check(
        "def m = [a: [b: 1]]; m.a.b = 2; m.a.c = 3; m",
        "[a:[b:2, c:3]]",
    );
    check("def m = [n: 1]; m.n += 4; m.n++; m", "[n:6]");
}

#[test]
fn globals() {
    check("env.BRANCH_NAME", "main");
    check("BRANCH_NAME", "main");
    check("env.MISSING", "null");
    check("params.DEPLOY", "true");
    check("params.TARGET", "staging");
    check("params.NOPE", "null");
    check("currentBuild.number", "42");
    check("currentBuild.result", "null");
    check("currentBuild.currentResult", "SUCCESS");
    check("currentBuild.getNumber()", "42");
    check("env.X = 'y'; env.X", "y");
    check("env.N = 5; env.N + 1", "51");
    check(
        "currentBuild.result = 'UNSTABLE'; currentBuild.result",
        "UNSTABLE",
    );
    check("FOO = 'bar'; FOO", "bar");
    check("def f() { GLOBAL_V = 3 }; f(); GLOBAL_V", "3");
    check("def f() { env.BRANCH_NAME }; f()", "main");
    check("LIST = []; LIST << 1; LIST.add(2); LIST", "[1, 2]");
    check_err("UNDEFINED_THING", "No such property: UNDEFINED_THING");
}

#[test]
fn operators() {
    check("1 + 2 * 3", "7");
    check("7 / 2", "3.5");
    check("6 / 2", "3");
    check("7.intdiv(2)", "3");
    check("7 % 3", "1");
    check("2 ** 10", "1024");
    check("-(3)", "-3");
    check("'a' + 1", "a1");
    check("1 + 'a'", "1a");
    check("'a' + null", "anull");
    check("[1] + [2]", "[1, 2]");
    check("[1] + 2", "[1, 2]");
    check("[1, 2, 3] - [2]", "[1, 3]");
    check("[a: 1] + [b: 2]", "[a:1, b:2]");
    check("'ab' * 3", "ababab");
    check("1 == 1.0", "true");
    check("'a' == 'a'", "true");
    check("'1' == 1", "false");
    check("[1, [2]] == [1, [2]]", "true");
    check("[a: 1] == [a: 1]", "true");
    check("null == null", "true");
    check("1 != 2", "true");
    check("1 < 2.5", "true");
    check("'abc' < 'abd'", "true");
    check("2 <=> 1", "1");
    check("2 in [1, 2]", "true");
    check("'a' in [b: 1]", "false");
    check("3 !in [1, 2]", "true");
    check("'ell' in 'hello'", "true");
    check("true && 'x'", "true");
    check("0 || ''", "false");
    check("!''", "true");
    check("![]", "true");
    check("!!'x'", "true");
    check("def x = null; x ?: 'default'", "default");
    check("def x = 'set'; x ?: 'default'", "set");
    check("def x = 0; x ? 'yes' : 'no'", "no");
    check("[1] ? 'yes' : 'no'", "yes");
    check("def i = 5; i++; i", "6");
    check("def i = 5; def j = i++; j", "5");
    check("def i = 5; def j = ++i; j", "6");
    check("def i = 5; i += 2; i -= 1; i *= 3; i", "18");
    check("def s = 'a'; s += 'b'; s", "ab");
    check("def x = null; x ?= 4; x", "4");
    check("5 & 3", "1");
    check("5 | 3", "7");
    check("1 << 4", "16");
}

#[test]
fn regexes() {
    check("'release/1.2' ==~ /release\\/.*/", "true");
    check("'release/1.2' ==~ 'release'", "false");
    check(
        "('v1.2.3' =~ /(\\d+)\\.(\\d+)/) ? 'found' : 'none'",
        "found",
    );
    check(
        "def m = ('version: 12' =~ /version: (\\d+)/); m[0][1]",
        "12",
    );
    check("('a1b22' =~ /\\d+/).size()", "2");
    check("'abc'.matches('a.c')", "true");
    check("'a-b_c'.replaceAll('[-_]', '.')", "a.b.c");
    check("'v1.2'.replaceAll(/v(\\d)/, 'V$1')", "V1.2");
    check(
        "def s = 'feature/x'; switch (s) { case ~/feature\\/.*/: 'feat'; break; default: 'other' }",
        "null",
    );
}

#[test]
fn ranges() {
    check("(0..<3).collect { it * 2 }", "[0, 2, 4]");
    check("(1..3).sum()", "6");
    check(
        "def out = []; for (i in 1..3) { out << i }; out",
        "[1, 2, 3]",
    );
    check(
        "def out = []; for (i in 3..1) { out << i }; out",
        "[3, 2, 1]",
    );
    check("(1..4).size()", "4");
    check("def n = 3; (0..<n).toList()", "[0, 1, 2]");
}

#[test]
fn control_flow() {
    check("def x = 5; if (x > 3) { 'big' } else { 'small' }", "big");
    check(
        "def x = 1; if (x > 3) { 'big' } else if (x > 0) { 'pos' } else { 'neg' }",
        "pos",
    );
    check("def x = ''; if (x) { 'yes' } else { 'no' }", "no");
    check("def s = 0; for (x in [1, 2, 3]) { s += x }; s", "6");
    check("def s = 0; for (def x : [1, 2, 3]) { s += x }; s", "6");
    check(
        "def s = 0; for (int i = 0; i < 5; i++) { if (i == 1) { continue }; if (i == 4) { break }; s += i }; s",
        "5",
    );
    check("def i = 0; while (i < 10) { i += 3 }; i", "12");
    check(
        "def out = []; for (e in [a: 1, b: 2]) { out << e.key + '=' + e.value }; out",
        "[a=1, b=2]",
    );
    check("def out = []; for (c in 'ab') { out << c }; out", "[a, b]");
    check(
        "def f(x) { if (x > 0) { return 'pos' }; return 'non-pos' }; f(1) + f(-1)",
        "posnon-pos",
    );
    check("def f(x) { x * 2 }; f(4)", "8");
}

#[test]
fn switch_statements() {
    let sw = |v: &str| {
        format!(
            "def r = []; switch ({v}) {{ case 'a': r << 'A'; break; case ['b', 'c']: r << 'BC'; case 'd': r << 'D'; break; case 1..3: r << 'num'; break; default: r << 'other' }}; r"
        )
    };
    check(&sw("'a'"), "[A]");
    check(&sw("'b'"), "[BC, D]");
    check(&sw("'d'"), "[D]");
    check(&sw("2"), "[num]");
    check(&sw("'zzz'"), "[other]");
    check(
        "def r = []; for (x in [1, 2, 3]) { switch (x) { case 2: continue; default: r << x } }; r",
        "[1, 3]",
    );
    check(
        "def r = ''; switch ('release-1') { case ~/release-\\d+/: r = 'rel'; break; default: r = 'x' }; r",
        "rel",
    );
    check(
        "def r = ''; switch (5) { case { it > 3 }: r = 'gt3'; break; default: r = 'small' }; r",
        "gt3",
    );
    check(
        "def f(x) { switch (x) { case 'a': return 1; default: return 2 } }; f('a') + f('b')",
        "3",
    );
}

#[test]
fn exceptions() {
    check("try { error('boom') } catch (e) { e.message }", "boom");
    check("try { error('boom') } catch (e) { e.getMessage() }", "boom");
    check(
        "try { throw new Exception('x') } catch (Exception e) { \"${e}\" }",
        "java.lang.Exception: x",
    );
    check(
        "try { throw new IllegalStateException('bad') } catch (IllegalArgumentException e) { 'iae' } catch (IllegalStateException e) { 'ise' }",
        "ise",
    );
    check(
        "def log = []; try { log << 'body' } finally { log << 'finally' }; log",
        "[body, finally]",
    );
    check(
        "def log = []; try { try { error('x') } finally { log << 'f' } } catch (e) { log << e.message }; log",
        "[f, x]",
    );
    check(
        "def log = []; try { error('x') } catch (e) { log << 'c' } finally { log << 'f' }; log",
        "[c, f]",
    );
    check("try { null.foo() } catch (e) { 'caught' }", "caught");
    check(
        "try { [1].nope() } catch (e) { e.message }",
        "no method `nope()` with 0 argument(s) on a list",
    );
    check(
        "try { 'x'.toInteger() } catch (NumberFormatException e) { 'nfe' }",
        "nfe",
    );
    check_err("throw new Exception('uncaught')", "uncaught");
    check_err("error('failed here')", "failed here");
    check_err(
        "try { throw new IllegalStateException('s') } catch (IOException e) { 'no' }",
        "s",
    );
}

#[test]
fn closures() {
    check(
        "def out = []; [1, 2].each { out << it * 10 }; out",
        "[10, 20]",
    );
    check("def f = { a, b -> a + b }; f(1, 2)", "3");
    check("def f = { a, b -> a + b }; f.call(2, 3)", "5");
    check("def f = { -> 'none' }; f()", "none");
    check("def total = 0; [1, 2, 3].each { total += it }; total", "6");
    check("[1, 2, 3].collect { it * it }", "[1, 4, 9]");
    check("[1, 2, 3, 4].findAll { it % 2 == 0 }", "[2, 4]");
    check("[1, 2, 3].find { it > 1 }", "2");
    check("[1, 2, 3].find { it > 5 }", "null");
    check("[1, 2, 3].any { it > 2 }", "true");
    check("[1, 2, 3].every { it > 2 }", "false");
    check(
        "def out = []; ['a', 'b'].eachWithIndex { v, i -> out << \"${i}:${v}\" }; out",
        "[0:a, 1:b]",
    );
    check(
        "['a', 'b'].collectEntries { [(it): it.toUpperCase()] }",
        "[a:A, b:B]",
    );
    check("['a', 'b'].collectEntries { [it, 1] }", "[a:1, b:1]");
    check(
        "def out = []; [x: 1, y: 2].each { k, v -> out << k + v }; out",
        "[x1, y2]",
    );
    check(
        "def out = []; [x: 1].each { out << it.key + it.value }; out",
        "[x1]",
    );
    check("[x: 1, y: 2].collect { k, v -> v * 2 }", "[2, 4]");
    check("[x: 1, y: 2].findAll { k, v -> v > 1 }", "[y:2]");
    check("[1, 2, 3].inject(0) { acc, x -> acc + x }", "6");
    check("def twice = { f, x -> f(f(x)) }; twice({ it + 1 }, 0)", "2");
    check(
        "def make = { n -> return { x -> x + n } }; def add2 = make(2); add2(5)",
        "7",
    );
    check("3.times { }; def c = 0; 3.times { c += it }; c", "3");
    check(
        "def helpers = [build: { n -> 'built ' + n }]; helpers.build('x')",
        "built x",
    );
}

#[test]
fn string_methods() {
    check("'  x  '.trim()", "x");
    check("'a,b,,c,,'.split(',')", "[a, b, , c]");
    check("'a b  c'.split()", "[a, b, c]");
    check("'a.b.c'.split('\\\\.')", "[a, b, c]");
    check("'a, b;c'.tokenize(',; ')", "[a, b, c]");
    check("'hello'.contains('ell')", "true");
    check("'hello'.startsWith('he') && 'hello'.endsWith('lo')", "true");
    check("'a-b-c'.replace('-', '+')", "a+b+c");
    check(
        "'MiXeD'.toLowerCase() + 'MiXeD'.toUpperCase()",
        "mixedMIXED",
    );
    check("'42'.toInteger() + 1", "43");
    check("'42\\n'.trim().toInteger()", "42");
    check("'hello'.size() + 'hello'.length()", "10");
    check("'hello'.substring(1, 3) + 'hello'.substring(3)", "ello");
    check("''.isEmpty()", "true");
    check("'hello'.take(2) + 'hello'.drop(3)", "helo");
    check("'7'.padLeft(3, '0')", "007");
    check("'ab'.padRight(4) + '|'", "ab  |");
    check("42.toString() + 'x'.toString()", "42x");
    check("'abc'.reverse()", "cba");
    check("'abc'.capitalize()", "Abc");
    check("'a\\nb'.readLines()", "[a, b]");
    check("'abc'.indexOf('c')", "2");
    check("'${x}'.length()", "4");
    check("'true'.toBoolean()", "true");
    check("'  '.isBlank()", "true");
    check("'aXbX'.count('X')", "2");
    check("'   a\\n   b'.stripIndent()", "a\nb");
}

#[test]
fn list_methods() {
    check("[1, 2].size()", "2");
    check("[].isEmpty()", "true");
    check("[1, 2].contains(2)", "true");
    check("def l = [1]; l.add(2); l << 3; l", "[1, 2, 3]");
    check("[3, 1, 2].first() + [3, 1, 2].last()", "5");
    check("def l = [3, 1, 2]; l.sort(); l", "[1, 2, 3]");
    check("['bb', 'a', 'ccc'].sort { it.size() }", "[a, bb, ccc]");
    check("[3, 1, 2].sort { a, b -> b <=> a }", "[3, 2, 1]");
    check("[1, 2, 1, 3].unique()", "[1, 2, 3]");
    check("[1, 2, 3].reverse()", "[3, 2, 1]");
    check("[1, 2, 3].sum()", "6");
    check("['a', 'b'].sum()", "ab");
    check("[3, 7, 5].max() + [3, 7, 5].min()", "10");
    check("['aa', 'b'].max { it.size() }", "aa");
    check("[1, [2, [3]]].flatten()", "[1, 2, 3]");
    check("[1, 2, 3].join(', ')", "1, 2, 3");
    check("[1, 2, 3].join()", "123");
    check("def l = [1, 2, 3]; l.remove(0); l", "[2, 3]");
    check("def l = ['a', 'b']; l.remove('a'); l", "[b]");
    check("[1, 2, 3].indexOf(2)", "1");
    check("[1, 2, 3, 4].take(2) + [1, 2, 3, 4].drop(3)", "[1, 2, 4]");
    check("[1, 2, 3].subList(1, 3)", "[2, 3]");
    check("[1, 2, 3].count { it > 1 }", "2");
    check(
        "['a', 'bb', 'cc'].groupBy { it.size() }",
        "[1:[a], 2:[bb, cc]]",
    );
    check("[[a: 1], [a: 2]]*.a", "[1, 2]");
    check("[' a ', ' b']*.trim()", "[a, b]");
    check("[[name: 'x']].name", "[x]");
}

#[test]
fn map_methods() {
    check("[a: 1].containsKey('a')", "true");
    check("[a: 1].get('b', 'dflt')", "dflt");
    check("[a: 1].get('a')", "1");
    check("[a: 1, b: 2].keySet()", "[a, b]");
    check("[a: 1, b: 2].values()", "[1, 2]");
    check("[a: 1, b: 2].size()", "2");
    check("def m = [:]; m.put('k', 'v'); m", "[k:v]");
    check("def m = [a: 1, b: 2]; m.remove('a'); m", "[b:2]");
    check("[a: 1].isEmpty()", "false");
    check("[a: 1, b: 2].any { k, v -> v > 1 }", "true");
    check("[a: 1, b: 2].find { it.value == 2 }.key", "b");
    check(
        "[b: 1, a: 2].collectEntries { k, v -> [(k.toUpperCase()): v] }",
        "[B:1, A:2]",
    );
    check("def m = [a: 1]; m.each { k, v -> m2 = k }; m2", "a");
}

#[test]
fn conversions() {
    check("'12' as Integer", "12");
    check("12 as String", "12");
    check("'1.5' as Double", "1.5");
    check("[1, 1, 2] as Set", "[1, 2]");
    check("'x' instanceof String", "true");
    check("[a: 1] instanceof Map", "true");
    check("5 instanceof Integer", "true");
    check("Integer.parseInt('7') + 1", "8");
    check("Math.max(3, 9)", "9");
    check("String.valueOf(5) + 1", "51");
    check("new ArrayList() << 1", "[1]");
    check("new HashMap()", "[:]");
}

#[test]
fn declarations_and_names() {
    check("String s = 'typed'; int n = 2; s * n", "typedtyped");
    check("def fn = 'rhai keyword'; fn", "rhai keyword");
    check(
        "def let = 1; def loop = 2; def is = 3; let + loop + is",
        "6",
    );
    check(
        "def f(String a, b = 'dflt') { a + b }; f('x') + f('x', 'y')",
        "xdfltxy",
    );
    check("def f(Map args) { args.name }; f(name: 'n')", "n");
    check(
        "def f(Map args, Closure body) { args.x + body() }; f(x: 1) { 2 }",
        "3",
    );
    check(
        "def fact(n) { n <= 1 ? 1 : n * fact(n - 1) }; fact(10)",
        "3628800",
    );
    check("@NonCPS\ndef f() { 1 }; f()", "1");
    check("def x = 1; { def y = 2; x = x + y }; x", "3");
    check("def a = null; a?.foo", "null");
    check("def a = null; a?.size()", "null");
    check("def a = [b: null]; a?.b?.c", "null");
    check("println 'hi'; 'after'", "after");
}

#[test]
fn jdk_and_groovy_classes_scripts_use() {
    check(
        "new JsonSlurper().parseText('{\"k\": [1, {\"n\": true}], \"s\": \"x\"}').k[1].n",
        "true",
    );
    check(
        "new groovy.json.JsonSlurperClassic().parseText('[1, 2.5, null]')",
        "[1, 2.5, null]",
    );
    check(
        "JsonOutput.toJson([a: 1, b: [2, 'x', null], c: true])",
        "{\"a\":1,\"b\":[2,\"x\",null],\"c\":true}",
    );
    check(
        "JsonOutput.prettyPrint('{\"a\":[1]}')",
        "{\n    \"a\": [\n        1\n    ]\n}",
    );
    check("System.currentTimeMillis() > 1700000000000", "true");
    check(
        "String.format('%s-%03d|%-4s|%.2f|%5s|%%', 'b', 7, 'x', 3.14159, 'ab')",
        "b-007|x   |3.14|   ab|%",
    );
    check(
        "new Date(0).format(\"yyyy-MM-dd'T'HH:mm:ss.SSS z\")",
        "1970-01-01T00:00:00.000 UTC",
    );
    check("new Date(86400000).time", "86400000");
    check("new Date().format('yyyy').toInteger() >= 2024", "true");
    check_err(
        "new JsonSlurper().parseText('{nope')",
        "cannot parse the JSON text",
    );
    check_err("String.format('%d', 'x')", "`%d` needs an integer");
    check_err(
        "new Date(0).format('QQ')",
        "date pattern letter `QQ` is not supported",
    );
}

#[test]
fn a_command_call_inside_an_interpolation() {
    check("def twice(x) { x * 2 }\n\"got ${twice 21}!\"", "got 42!");
    check(
        "def join(Map m) { m.a + m.b }\n\"${join a: 'x', b: 'y'}\"",
        "xy",
    );
}

#[test]
fn multiple_assignment() {
    check("def (a, b) = [1, 2]\na + b", "3");
    check("def (String x, int y) = ['v', 3]\nx * y", "vvv");
    check("def (a, b, c) = [1]\n\"${a} ${b} ${c}\"", "1 null null");
    check(
        "def (major, minor) = '1.22.3'.tokenize('.')\nminor.toInteger() + 1",
        "23",
    );
    check("def f() { def (p, q) = [4, 5]; p * q }\nf()", "20");
}
