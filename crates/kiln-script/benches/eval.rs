//! Cost of evaluating scripts repeatedly, as a step inside a loop does: the compile cache
//! makes every evaluation after the first one a cache hit. Prints medians.
//!
//! `cargo bench -p kiln-script --bench eval -- WORD` runs only the measures whose name has
//! WORD (`eval_block`, `one step`...), and `KILN_BENCH_RUNS=N` takes N samples of each
//! (2,000 by default), for a profiler to see one measure alone.

#![expect(
    clippy::expect_used,
    reason = "a benchmark stops loudly when a script fails"
)]

use kiln_script::{NoSteps, ScriptContext, ScriptEngine};
use std::time::{Duration, Instant};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn measure(name: &str, runs: usize, mut f: impl FnMut()) {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    if filter.is_some_and(|word| !name.contains(word.as_str())) {
        return;
    }
    let runs = std::env::var("KILN_BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(runs);
    f();
    let samples = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    println!(
        "{name:<48} median {:>9.1} µs",
        median(samples).as_secs_f64() * 1e6
    );
}

fn main() {
    let engine = ScriptEngine::new();
    let mut ctx = ScriptContext::new();
    for i in 0..40 {
        ctx.env.insert(format!("VAR_{i}"), format!("value {i}"));
    }
    ctx.env.insert("BRANCH_NAME".into(), "main".into());
    ctx.env.insert("BUILD_NUMBER".into(), "17".into());

    let (file, diags) =
        kiln_syntax::parse(r#"echo "building ${env.BRANCH_NAME} #${BUILD_NUMBER}""#);
    assert!(diags.is_empty(), "{diags:?}");
    let gstring = match &file.statements[0].kind {
        kiln_syntax::ast::StmtKind::Expr(call) => match &call.kind {
            kiln_syntax::ast::ExprKind::Call { args, .. } => args[0].value.clone(),
            other => panic!("unexpected {other:?}"),
        },
        other => panic!("unexpected {other:?}"),
    };
    measure("eval_expr: GString with 2 interpolations", 2000, || {
        engine.eval_expr(&gstring, &mut ctx).expect("eval");
    });
    if let kiln_syntax::ast::ExprKind::Str(s) = &gstring.kind {
        measure("interpolate: same GString", 2000, || {
            engine.interpolate(s, &mut ctx).expect("interpolate");
        });
    }

    let script = r#"
        def versions = ['1.0', '1.1', '2.0']
        def latest = versions.last()
        def tags = []
        for (v in versions) {
            if (v.startsWith('1.')) { tags << "legacy-${v}" } else { tags << "current-${v}" }
        }
        env.LATEST = latest
        def summary = tags.join(', ')
        def count = tags.findAll { it.contains('legacy') }.size()
        return "${summary} (${count} legacy)"
    "#;
    let (file, diags) = kiln_syntax::parse(script);
    assert!(diags.is_empty(), "{diags:?}");
    measure("eval_block: 10-line script, no steps", 2000, || {
        engine
            .eval_block(&file.statements, &mut ctx, &mut NoSteps)
            .expect("eval");
    });

    struct Host;
    impl kiln_script::StepHost for Host {
        fn has_step(&self, name: &str) -> bool {
            name == "sh"
        }
        fn call_step(
            &mut self,
            _: &str,
            _: kiln_script::StepCall<'_>,
        ) -> Result<kiln_script::Value, String> {
            Ok(kiln_script::Value::Str("abc123\n".into()))
        }
    }
    let (file, diags) = kiln_syntax::parse(
        "def rev = sh(script: 'git rev-parse HEAD', returnStdout: true).trim()\nenv.REV = rev",
    );
    assert!(diags.is_empty(), "{diags:?}");
    measure("eval_block: one step call (script thread)", 2000, || {
        engine
            .eval_block(&file.statements, &mut ctx, &mut Host)
            .expect("eval");
    });
}
