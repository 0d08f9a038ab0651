//! Limits: deep nesting is reported rather than overflowing the stack (checked on a 2 MiB
//! thread, the size test threads get), and the work is linear in the input.

use kiln_syntax::parse_with_stats;

/// Runs `f` on a thread with the default test-thread stack of 2 MiB.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

fn assert_reports_nesting(input: String) {
    on_small_stack(move || {
        let (file, diags) = kiln_syntax::parse(&input);
        super::spans::check_file(&file, &input);
        assert!(
            diags.iter().any(|d| d.code == "nesting-too-deep"),
            "no nesting diagnostic for {:?}...",
            &input[..input.len().min(40)]
        );
    });
}

#[test]
fn deep_nesting_is_a_diagnostic_not_a_stack_overflow() {
    const N: usize = 100_000;
    for open in [
        "(",
        "[",
        "{",
        "!",
        "-",
        "x = ",
        "a ? ",
        "\"${",
        "foo(",
        "[a: ",
        "x = { -> ",
        "if (x) ",
        "@A ",
    ] {
        assert_reports_nesting(open.repeat(N));
    }
    assert_reports_nesting("a.b(".repeat(N));
    assert_reports_nesting("stage('x') {\n".repeat(N));
}

#[test]
fn nesting_within_the_limit_parses() {
    on_small_stack(|| {
        let depth = 50;
        let text = format!(
            "{}sh 'x'\n{}",
            "stage('s') {\n".repeat(depth),
            "}\n".repeat(depth)
        );
        let (_, diags) = kiln_syntax::parse(&text);
        assert!(diags.is_empty(), "{diags:?}");
        let text = format!("x = {}1{}", "(".repeat(150), ")".repeat(150));
        let (_, diags) = kiln_syntax::parse(&text);
        assert!(diags.is_empty(), "{diags:?}");
    });
}

const STAGE: &str = r#"
stage("build ${n}") {
    when { expression { return params.X == 'y' && env.Z != null } }
    steps {
        sh 'make -j4'
        script {
            def m = [a: 1, b: [2, 3]]
            if (m.a > 0) { echo "a is ${m.a}" } else { error 'no' }
            m.each { k, v -> println "$k=$v" }
        }
    }
}
"#;

/// Steps for `unit` repeated 1 and 10 times must grow at most 20-fold.
fn assert_linear(name: &str, unit: &str) {
    let small = unit.repeat(200);
    let large = unit.repeat(2_000);
    let (_, _, s) = parse_with_stats(&small);
    let (_, _, l) = parse_with_stats(&large);
    assert!(s.steps > 0, "{name}: no work counted");
    let ratio = l.steps as f64 / s.steps as f64;
    assert!(
        ratio <= 20.0,
        "{name}: 10x input took {ratio:.1}x the steps ({} vs {})",
        l.steps,
        s.steps
    );
}

#[test]
fn work_is_linear_in_the_input() {
    assert_linear("realistic stages", STAGE);
    assert_linear("unclosed parens", "foo(a, ");
    assert_linear("unclosed brackets", "[1, ");
    assert_linear("unclosed braces", "x {\n");
    assert_linear("closing garbage", ") ] } ");
    assert_linear("unterminated strings", "sh 'abc\n");
    assert_linear("interpolations", "\"${a}${b.c(d)}$e.f\" + ");
    assert_linear("declaration lookahead", "List<Map<String, ");
    assert_linear("closure lookahead", "{ a, b, c, d, e ");
    assert_linear("commands", "echo a, b, c\n");
    assert_linear("operators", "a + b * c ?: d ? e : f && ");
    assert_linear("deep nesting", "(");
}
