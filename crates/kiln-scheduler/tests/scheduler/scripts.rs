//! Builds with scripts as `kiln run` runs them: scripted pipelines, shared libraries from
//! the configuration's `libraries:`, pipelines defined by parameters, and script checks
//! failing a build before anything runs.

use crate::support::*;
use kiln_store::StageState;
use kiln_types::{BuildResult, StageOutcome};
use std::path::{Path, PathBuf};

/// A library in Jenkins' layout under the test's directory.
fn library(env: &Env) -> PathBuf {
    let dir = env.tmp.path().join("libs").join("acme");
    for (path, text) in [
        (
            "vars/greet.rhai",
            "fn call(args) {\n    echo(`hello ${args.name} from the library`);\n    sh(`echo \"sh says ${args.name}\"`);\n}\n",
        ),
        (
            "vars/standardPipeline.rhai",
            r#"fn pipeline(args) {
    #{
        agent: "any",
        environment: #{ LANG_NAME: args.language },
        stages: [
            #{ name: "Build", steps: [`greet(name: '${args.language}')`] },
            #{ name: "Test", steps: [#{ sh: "echo testing $LANG_NAME" }] },
        ],
    }
}
"#,
        ),
    ] {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn library_config(name: &str, job_dir: &Path, lib: &Path) -> String {
    format!(
        "{}libraries:\n  - name: acme\n    dir: {}\n",
        dir_job(name, job_dir, ""),
        lib.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_pipeline_runs_and_records_its_stages() {
    let env = Env::new();
    let dir = env.dir(
        "scripted",
        "node {\n    stage('A') {\n        sh 'echo a'\n    }\n    stage('B') {\n        echo 'b'\n    }\n}\n",
    );
    let h = env.start(env.config(&dir_job("scripted", &dir, "")));
    let id = h.trigger(user("scripted")).await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    assert!(log.starts_with("Started by user alice\n"), "{log}");
    assert!(log.contains("[A] Stage started\n"), "{log}");
    assert!(log.contains("[A] a\n"), "{log}");
    assert!(log.contains("[B] b\n"), "{log}");
    assert!(log.ends_with("Finished: SUCCESS\n"), "{log}");
    let paths: Vec<&[String]> = b.stages.iter().map(|s| s.path.as_slice()).collect();
    assert_eq!(paths, [["A"], ["B"]], "{:?}", b.stages);
    for s in &b.stages {
        assert_eq!(
            s.state,
            StageState::Done(StageOutcome::Ran(BuildResult::Success))
        );
        assert!(
            s.started_at_ms.is_some() && s.duration_ms.is_some(),
            "{s:?}"
        );
    }
    assert_ne!(b.stages[0].node, b.stages[1].node);
    let view = h.job("scripted").unwrap();
    assert_eq!(view.pipeline_error, None, "a scripted pipeline is no error");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_library_from_the_configuration_runs_its_step() {
    let env = Env::new();
    let lib = library(&env);
    let dir = env.dir(
        "lib",
        "@Library('acme') _\npipeline {\n  agent any\n  stages {\n    stage('Greet') {\n      steps {\n        greet name: 'kiln'\n      }\n    }\n  }\n}\n",
    );
    let h = env.start(env.config(&library_config("lib", &dir, &lib)));
    let id = h.trigger(user("lib")).await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    assert!(
        log.contains("[Greet] hello kiln from the library\n"),
        "{log}"
    );
    assert!(log.contains("[Greet] sh says kiln\n"), "{log}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_defined_by_parameters_runs_the_stages_its_library_builds() {
    let env = Env::new();
    let lib = library(&env);
    let dir = env.dir(
        "standard",
        "@Library('acme') _\nstandardPipeline(language: 'go')\n",
    );
    let h = env.start(env.config(&library_config("standard", &dir, &lib)));
    let id = h.trigger(user("standard")).await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Success), "{log}");
    assert!(log.contains("[Build] hello go from the library\n"), "{log}");
    assert!(log.contains("[Test] testing go\n"), "{log}");
    let paths: Vec<&[String]> = b.stages.iter().map(|s| s.path.as_slice()).collect();
    assert_eq!(paths, [["Build"], ["Test"]]);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_library_that_is_not_configured_fails_the_build_naming_it() {
    let env = Env::new();
    let dir = env.dir("nolib", "@Library('other') _\nnode { echo 'x' }\n");
    let lib = library(&env);
    let h = env.start(env.config(&library_config("nolib", &dir, &lib)));
    let id = h.trigger(user("nolib")).await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Failure), "{log}");
    assert!(log.contains("cannot load the libraries of"), "{log}");
    assert!(log.contains("other"), "{log}");
    assert!(
        log.contains("acme"),
        "the configured libraries are named: {log}"
    );
    assert!(log.ends_with("Finished: FAILURE\n"), "{log}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_groovy_fails_the_build_with_its_position_in_the_log() {
    let env = Env::new();
    let marker = env.tmp.path().join("ran");
    let dir = env.dir(
        "groovy",
        &format!(
            "node {{\n    stage('A') {{\n        def x = Jenkins.instance\n        sh 'touch {}'\n    }}\n}}\n",
            marker.display()
        ),
    );
    let h = env.start(env.config(&dir_job("groovy", &dir, "")));
    let id = h.trigger(user("groovy")).await.unwrap();
    let b = env.finished(&id).await;
    let log = env.log(&id);
    assert_eq!(b.result, Some(BuildResult::Failure), "{log}");
    assert!(
        log.contains("error: the Java class `Jenkins.instance` is not available in kiln scripts\n"),
        "{log}"
    );
    assert!(log.contains("Jenkinsfile:3:17\n"), "{log}");
    assert!(
        log.contains("is not a valid pipeline (1 error); nothing was run"),
        "{log}"
    );
    assert!(log.ends_with("Finished: FAILURE\n"), "{log}");
    assert!(!marker.exists(), "nothing runs after a failed check");
    assert!(b.stages.is_empty());
    h.shutdown().await;
}
