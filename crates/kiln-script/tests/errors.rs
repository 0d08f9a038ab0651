//! Errors: positions mapped back to the Jenkinsfile, the sandbox limits, cancellation,
//! and what is reported as unsupported before anything runs.

use kiln_diagnostics::SourceFile;
use kiln_script::{Limits, NoSteps, ScriptContext, ScriptEngine, ScriptError};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn run_with(
    engine: &ScriptEngine,
    src: &str,
) -> (Result<kiln_script::Value, ScriptError>, SourceFile) {
    let (file, diags) = kiln_syntax::parse(src);
    assert!(diags.is_empty(), "parse errors in {src:?}: {diags:?}");
    let source = SourceFile::new("Jenkinsfile", src);
    let mut ctx = ScriptContext::new();
    ctx.source = Some(Arc::new(source.clone()));
    (
        engine.eval_block(&file.statements, &mut ctx, &mut NoSteps),
        source,
    )
}

/// Runs `src`, expects an error, returns it and the text its span covers.
#[track_caller]
fn fail(engine: &ScriptEngine, src: &str) -> (ScriptError, String) {
    let (r, source) = run_with(engine, src);
    match r {
        Ok(v) => panic!("{src:?} succeeded with {v}"),
        Err(e) => {
            let text = source.slice(e.span()).to_string();
            (e, text)
        }
    }
}

#[track_caller]
fn check_span(src: &str, message: &str, spanned: &str, line: usize) {
    let (e, text) = fail(&ScriptEngine::new(), src);
    assert!(e.to_string().contains(message), "{src:?}: {e}");
    assert_eq!(text, spanned, "{src:?}: span of {e:?}");
    assert!(
        e.to_string().ends_with(&format!("(line {line})")),
        "{src:?}: {e}"
    );
}

#[test]
fn runtime_errors_point_at_the_groovy_expression() {
    check_span(
        "def a = 1\ndef b = [x: 2]\ndef c = b.x.nope()\n",
        "no method `nope()`",
        "b.x.nope()",
        3,
    );
    check_span(
        "def m = null\n\nm.size()",
        "cannot invoke method `size()` on null",
        "m.size()",
        3,
    );
    check_span(
        "def x = 1\nerror(\"bad ${x}\")",
        "bad 1",
        "error(\"bad ${x}\")",
        2,
    );
    check_span(
        "def s = 'abc'\ns.substring(5)",
        "out of range",
        "s.substring(5)",
        2,
    );
    check_span(
        "def x = 'a'\n\n\nx - null",
        "cannot subtract null",
        "x - null",
        4,
    );
    check_span(
        "def f(v) {\n  if (v) {\n    throw new Exception('deep')\n  }\n}\nf(true)",
        "deep",
        "throw new Exception('deep')",
        3,
    );
    check_span(
        "def out = []\n[1, 2].each {\n  out << it.nope\n}",
        "no property `nope`",
        "it.nope",
        3,
    );
    check_span(
        "def f(a, b) { a }\nf(1)",
        "function `f` cannot be called with 1 argument(s)",
        "f(1)",
        2,
    );
}

#[test]
fn errors_convert_to_diagnostics() {
    let (e, _) = fail(&ScriptEngine::new(), "def x = 1\nx.foo()");
    let d = e.to_diagnostic();
    assert_eq!(d.code, "script-error");
    assert_eq!(d.primary_span(), e.span());
    assert!(d.message.contains("no method `foo()`"));
}

#[test]
fn an_endless_loop_hits_the_time_limit_and_names_the_line() {
    let engine = ScriptEngine::with_limits(Limits {
        time_limit: Duration::from_millis(200),
        max_operations: u64::MAX,
        ..Limits::default()
    });
    let started = Instant::now();
    let (e, text) = fail(&engine, "def i = 0\nwhile (true) {\n  i++\n}");
    assert!(matches!(e, ScriptError::TimeLimit { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("script exceeded its time limit (line"),
        "{e}"
    );
    // The limit strikes wherever the loop happens to be: any part of the loop is right.
    let loop_start = u32::try_from("def i = 0\n".len()).unwrap();
    assert!(
        !text.is_empty() && e.span().start >= loop_start,
        "{text:?} at {:?}",
        e.span()
    );
    // A bound far above the 200 ms limit: the loop was stopped, not run to completion.
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn an_endless_loop_hits_the_operation_limit() {
    let engine = ScriptEngine::with_limits(Limits {
        max_operations: 10_000,
        ..Limits::default()
    });
    let (e, _) = fail(&engine, "def i = 0\nwhile (true) { i++ }");
    assert!(e.to_string().contains("operation limit"), "{e}");
    assert!(e.to_string().ends_with("(line 2)"), "{e}");
}

#[test]
fn growing_a_string_hits_the_size_limit() {
    let engine = ScriptEngine::with_limits(Limits {
        max_string_size: 1024 * 1024,
        ..Limits::default()
    });
    let (e, text) = fail(&engine, "def s = 'x'\nwhile (true) {\n  s = s + s\n}");
    assert!(matches!(e, ScriptError::Limit { .. }), "{e:?}");
    assert!(e.to_string().contains("too large"), "{e}");
    assert!(text.contains("s + s"), "{text:?}");
}

#[test]
fn a_list_cannot_grow_without_bound() {
    let engine = ScriptEngine::with_limits(Limits {
        max_array_size: 1000,
        ..Limits::default()
    });
    let (e, _) = fail(&engine, "def l = []\nwhile (true) { l << 1 }");
    assert!(matches!(e, ScriptError::Limit { .. }), "{e:?}");
}

#[test]
fn endless_recursion_hits_the_call_depth() {
    let (e, _) = fail(&ScriptEngine::new(), "def f(n) { f(n + 1) }\nf(0)");
    assert!(matches!(e, ScriptError::Limit { .. }), "{e:?}");
}

#[test]
fn limits_cannot_be_caught() {
    let engine = ScriptEngine::with_limits(Limits {
        max_operations: 10_000,
        ..Limits::default()
    });
    let (e, _) = fail(&engine, "try { while (true) {} } catch (e) { 'caught' }");
    assert!(e.to_string().contains("operation limit"), "{e}");
}

#[test]
fn cancellation_stops_the_script() {
    let engine = ScriptEngine::new();
    let (file, _) = kiln_syntax::parse("def i = 0\nwhile (true) { i++ }");
    let mut ctx = ScriptContext::new();
    let flag = ctx.cancel.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        flag.store(true, Ordering::Relaxed);
    });
    let e = engine
        .eval_block(&file.statements, &mut ctx, &mut NoSteps)
        .expect_err("cancelled");
    t.join().expect("thread");
    assert!(e.is_cancelled(), "{e:?}");
    assert_eq!(e.message(), "build was cancelled");
}

#[test]
fn the_sandbox_has_no_eval_or_modules() {
    // Groovy's evaluate/eval and Rhai's import are not reachable.
    let (e, _) = fail(&ScriptEngine::new(), "evaluate('1 + 1')");
    assert!(
        e.to_string()
            .contains("no function or step named `evaluate`"),
        "{e}"
    );
    let (e, _) = fail(&ScriptEngine::new(), "eval('1')");
    assert!(e.to_string().contains("`eval`"), "{e}");
}

/// `check_block` diagnostics for a script: (code, message fragment, spanned text).
#[track_caller]
fn unsupported(src: &str, message: &str, spanned: &str) {
    let (file, _) = kiln_syntax::parse(src);
    let engine = ScriptEngine::new();
    let diags = engine.check_block(&file.statements);
    let d = diags
        .iter()
        .find(|d| d.message.contains(message))
        .unwrap_or_else(|| panic!("{src:?}: no diagnostic with {message:?} in {diags:?}"));
    assert_eq!(d.code, "unsupported-groovy");
    assert_eq!(&src[d.primary_span().range()], spanned, "{src:?}");
    // Running it fails before anything runs, with the same diagnostics.
    let mut ctx = ScriptContext::new();
    let r = engine.eval_block(&file.statements, &mut ctx, &mut NoSteps);
    assert!(matches!(r, Err(ScriptError::Translate { .. })), "{r:?}");
}

#[test]
fn unsupported_groovy_is_reported_before_running() {
    unsupported("def j = Jenkins.instance", "`Jenkins.instance`", "Jenkins");
    unsupported(
        "String.metaClass.shout = { -> 1 }",
        "metaClass",
        "metaClass",
    );
    unsupported(
        "trait Loud { def shout() { 'x' } }",
        "`Loud` cannot be defined",
        "trait Loud { def shout() { 'x' } }",
    );
    unsupported("def p = 'ls'.execute()", "`.execute()`", "execute");
    unsupported(
        "def b = new StringBuilder()",
        "`new StringBuilder(...)`",
        "new StringBuilder()",
    );
    unsupported(
        "import groovy.json.JsonOutput\necho JsonOutput.unescaped('x')",
        "`JsonOutput.unescaped`",
        "JsonOutput.unescaped",
    );
    unsupported(
        "def x = y as java.io.File",
        "`as java.io.File`",
        "java.io.File",
    );
    unsupported(
        "@Grab('org.x:y:1')\nimport org.x.Y",
        "`@Grab`",
        "@Grab('org.x:y:1')",
    );
    unsupported("System.getenv('HOME')", "`System.getenv`", "System.getenv");
}

#[test]
fn supported_scripts_check_clean() {
    let (file, _) = kiln_syntax::parse(
        "@NonCPS\ndef f(x) { x * 2 }\nimport hudson.model.*\ndef r = f(2)\nenv.R = \"${r}\"\ntry { sh 'x' } catch (e) { echo e.message }",
    );
    assert_eq!(ScriptEngine::new().check_block(&file.statements), vec![]);
}

#[test]
fn syntax_errors_are_not_repeated_by_check() {
    let (file, diags) = kiln_syntax::parse("def x = (1 +\n");
    assert!(!diags.is_empty());
    assert_eq!(ScriptEngine::new().check_block(&file.statements), vec![]);
}

/// Guards issue 11: sizes computed from script values are checked before anything is
/// allocated, so these fail at once with a limit error instead of taking the process
/// down (`[1] * 10000000000` asked the allocator for 160 GB).
#[test]
fn allocations_sized_by_script_values_are_checked_first() {
    let cases = [
        (
            "def a = [1] * 10000000000",
            "`*` on a list would make a list of 10000000000 items",
        ),
        (
            "def a = 'x' * 2000000000",
            "`*` on a string would make a string of 2000000000 bytes",
        ),
        (
            "def a = 'xyz'.multiply(9223372036854775807)",
            "more bytes than can be counted",
        ),
        (
            "def a = 'x'.padLeft(2000000000)",
            "padding would make a string of 2000000000 bytes",
        ),
        (
            "def a = (1..10000000000).collect { it }",
            "the range would make a list of 10000000000 items",
        ),
        (
            "def a = (10000000000..1).size()",
            "the range would make a list of 10000000000 items",
        ),
    ];
    for (src, message) in cases {
        let started = Instant::now();
        let (e, text) = fail(&ScriptEngine::new(), src);
        assert!(matches!(e, ScriptError::Limit { .. }), "{src}: {e:?}");
        assert!(e.to_string().contains(message), "{src}: {e}");
        assert!(e.to_string().ends_with("(line 1)"), "{src}: {e}");
        assert!(!text.is_empty(), "{src}: no span");
        // Failing before allocating is immediate; allocating first took seconds.
        assert!(started.elapsed() < Duration::from_secs(30), "{src}");
    }
}

#[test]
fn a_script_cannot_hold_more_than_its_memory_limit_at_once() {
    let engine = ScriptEngine::with_limits(Limits {
        max_memory: 8 * 1024 * 1024,
        ..Limits::default()
    });
    // Each value is under the string limit; together they are over the memory limit:
    // in variables of one scope, and in the locals of calls that have not returned.
    let cases = [
        "def a = 'x' * 3000000\ndef b = a + 'y'\ndef c = b + 'z'\ndef d = c + 'w'\nd.size()",
        "def f(n) {\n  def s = ('x' * 1000000) + n\n  n == 0 ? s.size() : f(n - 1) + s.size()\n}\nf(20)",
        "keep = []\nfor (i in 0..<12) { keep = keep + [('x' * 1000000) + i] }\nkeep.size()",
    ];
    for src in cases {
        let (e, _) = fail(&engine, src);
        assert!(matches!(e, ScriptError::Limit { .. }), "{src}: {e:?}");
        assert!(
            e.to_string()
                .contains("over the script memory limit of 8388608 bytes")
                || e.to_string().contains("too large"),
            "{src}: {e}"
        );
    }
    // The same scripts within a larger limit run.
    let roomy = ScriptEngine::with_limits(Limits {
        max_memory: 256 * 1024 * 1024,
        ..Limits::default()
    });
    for src in cases {
        let (r, _) = run_with(&roomy, src);
        assert!(r.is_ok(), "{src}: {r:?}");
    }
}
