//! Cost of a `script { }` block and of a shared-library step call, compared with the same
//! step written in `steps { }`: whole builds of N `echo` calls each way, medians of several
//! runs, and the overhead per call. Run: `cargo bench -p kiln-engine --bench scripts`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use kiln_engine::{BuildCause, BuildScripts, BuildSpec, NoCredentials};
use kiln_executor::LocalExecutor;
use kiln_library::Libraries;
use kiln_model::Document;
use kiln_script::ScriptEngine;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const CALLS: usize = 200;
const RUNS: usize = 7;

struct NoInput;

#[async_trait::async_trait]
impl kiln_engine::InputHandler for NoInput {
    async fn request(&self, _: kiln_engine::InputRequest) -> kiln_engine::InputAnswer {
        kiln_engine::InputAnswer::Abort {
            by: "bench".to_owned(),
        }
    }
}

fn jenkinsfile(step: &str) -> String {
    let steps: String = (0..CALLS)
        .map(|i| step.replace("N", &i.to_string()))
        .collect();
    format!(
        "@Library('bench') _\npipeline {{\n agent any\n stages {{ stage('S') {{ steps {{\n{steps} }} }} }}\n}}\n"
    )
}

async fn build(text: &str, libraries: &Arc<Libraries>, dir: &std::path::Path) -> Duration {
    let (doc, _) = kiln_model::load(text);
    let Some(Document::Declarative(p)) = doc else {
        panic!("declarative")
    };
    let plan = kiln_plan::plan(&p);
    let spec = BuildSpec {
        job_name: "bench".to_owned(),
        number: 1,
        params: BTreeMap::new(),
        base_env: BTreeMap::new(),
        scm: None,
        build_dir: dir.join("build"),
        cause: BuildCause::User("bench".to_owned()),
        credentials: Arc::new(NoCredentials),
        input: Arc::new(NoInput),
        workspace_is_checkout: false,
        previous_result: None,
        agents: None,
        services: Default::default(),
        coordinator: std::sync::Arc::new(kiln_engine::NoCoordinator),
    };
    let scripts = BuildScripts {
        libraries: Arc::clone(libraries),
        source: None,
        ..BuildScripts::default()
    };
    let executor = Arc::new(LocalExecutor::new(dir.join("ws")));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let started = Instant::now();
    let summary = kiln_engine::BuildRun::new(&plan, spec, executor)
        .scripts(scripts)
        .run(tx, CancellationToken::new())
        .await;
    let took = started.elapsed();
    drain.await.unwrap();
    assert_eq!(summary.result, kiln_engine::BuildResult::Success);
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("ws")).unwrap();
    let lib_dir = dir.path().join("lib");
    std::fs::create_dir_all(lib_dir.join("vars")).unwrap();
    std::fs::write(
        lib_dir.join("vars/say.rhai"),
        "fn call(args) { echo(`said ${args}`); }\n",
    )
    .unwrap();
    let lib = kiln_library::load_dir("bench", "local", &lib_dir, &ScriptEngine::new()).unwrap();
    let libraries = Arc::new(Libraries::new(vec![Arc::new(lib)]));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let variants = [
        ("steps { echo }", jenkinsfile("echo 'line N'\n")),
        ("script { echo }", jenkinsfile("script { echo 'line N' }\n")),
        ("library step", jenkinsfile("say 'N'\n")),
        (
            "script { library step }",
            jenkinsfile("script { say('N') }\n"),
        ),
    ];
    let mut medians = Vec::new();
    for (name, text) in &variants {
        let _ = runtime.block_on(build(text, &libraries, dir.path()));
        let times: Vec<Duration> = (0..RUNS)
            .map(|_| runtime.block_on(build(text, &libraries, dir.path())))
            .collect();
        let m = median(times);
        medians.push(m);
        println!(
            "{name:<26} {CALLS} calls: median {:>8.2} ms, {:>7.1} us per call",
            m.as_secs_f64() * 1e3,
            m.as_secs_f64() * 1e6 / CALLS as f64
        );
    }
    let base = medians[0].as_secs_f64();
    for (i, (name, _)) in variants.iter().enumerate().skip(1) {
        let overhead = (medians[i].as_secs_f64() - base) * 1e6 / CALLS as f64;
        println!(
            "{name:<26} overhead per call vs steps {{ }}: {overhead:>7.1} us (ratio {:.1}x)",
            medians[i].as_secs_f64() / base
        );
    }
}
