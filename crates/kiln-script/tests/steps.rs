//! Steps called from scripts through a fake host: arguments, return values, closure
//! bodies calling back into the script, errors both ways, and state left in the context.

use kiln_script::{NoSteps, ScriptContext, ScriptEngine, ScriptError, StepCall, StepHost, Value};

/// A host recording calls; `sh` returns canned output, `dir` and `withEnv` run their body,
/// `parallel` runs each branch closure, `fail` fails.
#[derive(Default)]
struct Fake {
    log: Vec<String>,
    dir: Vec<String>,
}

impl StepHost for Fake {
    fn has_step(&self, name: &str) -> bool {
        matches!(
            name,
            "sh" | "echo" | "dir" | "parallel" | "fail" | "readFile" | "stage" | "retry"
        )
    }

    fn call_step(&mut self, name: &str, call: StepCall<'_>) -> Result<Value, String> {
        let arg = call
            .arg("script")
            .map(|v| v.to_string())
            .unwrap_or_default();
        match name {
            "sh" => {
                self.log.push(format!("sh {arg} in {}", self.dir.join("/")));
                if call.named.get("returnStdout") == Some(&Value::Bool(true)) {
                    return Ok(Value::Str("abc123\n".into()));
                }
                if call.named.get("returnStatus") == Some(&Value::Bool(true)) {
                    return Ok(Value::Int(if arg.contains("false") { 1 } else { 0 }));
                }
                if arg.contains("false") {
                    return Err("script returned exit code 1".into());
                }
                Ok(Value::Null)
            }
            "echo" => {
                self.log.push(format!("echo {arg}"));
                Ok(Value::Null)
            }
            "readFile" => Ok(Value::Str("version=1.2.3\n".into())),
            "dir" | "stage" => {
                self.dir.push(arg.clone());
                self.log.push(format!("enter {arg}"));
                let r = call.run_body(self);
                self.log.push(format!("leave {arg}"));
                self.dir.pop();
                r
            }
            "retry" => {
                let times = match call.positional.first() {
                    Some(Value::Int(n)) => *n,
                    _ => 1,
                };
                let mut last = Err("never ran".to_string());
                for _ in 0..times {
                    last = call.run_body(self);
                    if last.is_ok() {
                        break;
                    }
                }
                last
            }
            "parallel" => {
                let Some(Value::Map(branches)) = call.positional.first().cloned() else {
                    return Err("parallel needs a map".into());
                };
                for (branch, closure) in branches {
                    let Value::Closure(c) = closure else {
                        return Err(format!("branch {branch} is not a closure"));
                    };
                    self.log.push(format!("branch {branch}"));
                    call.call_closure(self, c, vec![])?;
                }
                Ok(Value::Null)
            }
            "fail" => Err(format!("step failed: {arg}")),
            _ => Err(format!("unknown step {name}")),
        }
    }
}

fn run(src: &str, ctx: &mut ScriptContext, host: &mut Fake) -> Result<Value, ScriptError> {
    let (file, diags) = kiln_syntax::parse(src);
    assert!(diags.is_empty(), "{diags:?}");
    ScriptEngine::new().eval_block(&file.statements, ctx, host)
}

#[track_caller]
fn check(src: &str, value: &str, log: &[&str]) {
    let mut host = Fake::default();
    let mut ctx = ScriptContext::new();
    let v = run(src, &mut ctx, &mut host).unwrap_or_else(|e| panic!("{src:?}: {e}"));
    assert_eq!(v.to_string(), value, "{src:?}");
    assert_eq!(host.log, log, "{src:?}");
}

#[test]
fn steps_take_arguments_and_return_values() {
    check(
        "def out = sh(script: 'git rev-parse HEAD', returnStdout: true).trim()\nout",
        "abc123",
        &["sh git rev-parse HEAD in "],
    );
    check(
        "def rc = sh(script: 'false', returnStatus: true)\nrc == 1 ? 'failed' : 'ok'",
        "failed",
        &["sh false in "],
    );
    check("sh 'make'", "null", &["sh make in "]);
    check("echo \"v${1 + 1}\"", "null", &["echo v2"]);
    check("println 'to echo'", "null", &["echo to echo"]);
    check(
        "def v = readFile('version.properties').split('=')[1].trim()\necho v",
        "null",
        &["echo 1.2.3"],
    );
}

#[test]
fn closures_run_inside_steps_and_call_steps_again() {
    check(
        "dir('sub') {\n  sh 'make'\n  dir('deeper') { sh 'test' }\n}\n'done'",
        "done",
        &[
            "enter sub",
            "sh make in sub",
            "enter deeper",
            "sh test in sub/deeper",
            "leave deeper",
            "leave sub",
        ],
    );
    check(
        "def r = dir('x') { 'from body' }\nr",
        "from body",
        &["enter x", "leave x"],
    );
    check(
        "def count = 0\nstage('Build') { count++; sh \"step ${count}\" }\ncount",
        "1",
        &["enter Build", "sh step 1 in Build", "leave Build"],
    );
    check(
        "def branches = [:]\nfor (n in ['a', 'b']) {\n  def name = n\n  branches[name] = { sh \"test ${name}\" }\n}\nparallel branches",
        "null",
        &["branch a", "sh test a in ", "branch b", "sh test b in "],
    );
    check(
        "def helper(x) { sh \"helper ${x}\" }\ndir('d') { helper(1) }",
        "null",
        &["enter d", "sh helper 1 in d", "leave d"],
    );
}

#[test]
fn step_failures_are_exceptions_scripts_can_catch() {
    check(
        "try {\n  sh 'false'\n} catch (e) {\n  echo \"caught: ${e.message}\"\n}",
        "null",
        &["sh false in ", "echo caught: script returned exit code 1"],
    );
    check(
        "def attempts = 0\nretry(3) { attempts++; if (attempts < 3) { error('again') } }\nattempts",
        "3",
        &[],
    );
    let mut host = Fake::default();
    let e = run(
        "def x = 1\nfail 'boom'",
        &mut ScriptContext::new(),
        &mut host,
    )
    .expect_err("fails");
    assert_eq!(e.message(), "step failed: boom");
    assert!(
        matches!(e, ScriptError::Runtime { ref exception, .. } if exception == "hudson.AbortException")
    );
}

#[test]
fn errors_inside_step_bodies_keep_their_position() {
    let src = "dir('x') {\n  def m = null\n  m.size()\n}";
    let mut host = Fake::default();
    let e = run(src, &mut ScriptContext::new(), &mut host).expect_err("fails");
    assert_eq!(&src[e.span().range()], "m.size()", "{e:?}");
    assert_eq!(host.log, ["enter x", "leave x"]);
}

#[test]
fn env_and_current_build_writes_are_visible_afterwards() {
    let mut ctx = ScriptContext::new();
    ctx.env.insert("KEEP".into(), "1".into());
    let mut host = Fake::default();
    run(
        "env.VERSION = sh(script: 'x', returnStdout: true).trim()\nenv.COUNT = 3\ncurrentBuild.result = 'UNSTABLE'\ncurrentBuild.description = \"v${env.VERSION}\"\nRELEASE = true",
        &mut ctx,
        &mut host,
    )
    .expect("runs");
    assert_eq!(ctx.env.get("VERSION").map(String::as_str), Some("abc123"));
    assert_eq!(ctx.env.get("COUNT").map(String::as_str), Some("3"));
    assert_eq!(ctx.env.get("KEEP").map(String::as_str), Some("1"));
    assert_eq!(ctx.current_build.result.as_deref(), Some("UNSTABLE"));
    assert_eq!(ctx.current_build.description.as_deref(), Some("vabc123"));
    assert_eq!(ctx.var("RELEASE"), Some(Value::Bool(true)));
}

#[test]
fn env_writes_are_kept_when_the_script_fails() {
    let mut ctx = ScriptContext::new();
    let r = run(
        "env.A = 'set'\nerror('stop')",
        &mut ctx,
        &mut Fake::default(),
    );
    assert!(r.is_err());
    assert_eq!(ctx.env.get("A").map(String::as_str), Some("set"));
}

#[test]
fn a_preamble_defines_variables_and_functions_for_later_blocks() {
    let engine = ScriptEngine::new();
    let mut ctx = ScriptContext::new();
    let mut host = Fake::default();
    let (pre, _) = kiln_syntax::parse(
        "def version = '1.0'\ndef greet(who) { \"hello ${who}\" }\ndef twice = { x -> x * 2 }",
    );
    engine
        .eval_block(&pre.statements, &mut ctx, &mut host)
        .expect("preamble");
    let (block, _) = kiln_syntax::parse(
        "version = version + '.1'\necho greet('kiln')\nsh \"build ${version}\"\ntwice(21)",
    );
    let v = engine
        .eval_block(&block.statements, &mut ctx, &mut host)
        .expect("block");
    assert_eq!(v, Value::Int(42));
    assert_eq!(host.log, ["echo hello kiln", "sh build 1.0.1 in "]);
    assert_eq!(ctx.var("version"), Some(Value::Str("1.0.1".into())));
    assert!(ctx.function_names().any(|f| f == "greet"));
    // A condition sees them too.
    let (cond, _) = kiln_syntax::parse("return version.startsWith('1.')");
    assert!(
        engine
            .eval_condition(&cond.statements, &mut ctx)
            .expect("cond")
    );
}

#[test]
fn without_steps_unknown_calls_fail_clearly() {
    let (file, _) = kiln_syntax::parse("sh 'make'");
    let e = ScriptEngine::new()
        .eval_block(&file.statements, &mut ScriptContext::new(), &mut NoSteps)
        .expect_err("no steps");
    assert_eq!(e.message(), "no function or step named `sh`");
}

#[test]
fn expressions_and_interpolation() {
    let engine = ScriptEngine::new();
    let mut ctx = ScriptContext::new();
    ctx.env.insert("BRANCH_NAME".into(), "main".into());
    ctx.params.insert("N".into(), Value::Int(2));
    let e = kiln_syntax::parse_expression("params.N * 2 + 1", 0).0;
    assert_eq!(engine.eval_expr(&e, &mut ctx).expect("eval"), Value::Int(5));
    let e =
        kiln_syntax::parse_expression("\"on ${BRANCH_NAME}: $env.BRANCH_NAME ${params.N}\"", 0).0;
    let kiln_syntax::ast::ExprKind::Str(s) = &e.kind else {
        panic!("not a string")
    };
    assert_eq!(
        engine.interpolate(s, &mut ctx).expect("interp"),
        "on main: main 2"
    );
    let e = kiln_syntax::parse_expression("'${NOT} interpolated'", 0).0;
    let kiln_syntax::ast::ExprKind::Str(s) = &e.kind else {
        panic!("not a string")
    };
    assert_eq!(
        engine.interpolate(s, &mut ctx).expect("single"),
        "${NOT} interpolated"
    );
    let e = kiln_syntax::parse_expression("[a: 1, b: [true, null]]", 0).0;
    assert_eq!(
        engine.eval_expr(&e, &mut ctx).expect("map"),
        Value::Map(vec![
            ("a".into(), Value::Int(1)),
            (
                "b".into(),
                Value::List(vec![Value::Bool(true), Value::Null])
            ),
        ])
    );
}
