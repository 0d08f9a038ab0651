//! Shared libraries in builds: loaded from a directory and from a git repository made in
//! the test, steps with named arguments and blocks from `steps { }` and scripts, modules,
//! resources, pipelines defined by parameters, and errors naming library, file and line.

#![allow(
    clippy::expect_used,
    reason = "test helpers: a failed setup stops the test"
)]

use crate::harness::{RAN_OK, Run, run_any, setup};
use kiln_engine::BuildResult;
use kiln_library::{Libraries, LibrarySource, LibrarySources};
use kiln_model::LibraryRef;
use kiln_script::ScriptEngine;
use kiln_testkit::git;
use std::path::Path;
use std::sync::Arc;

/// Writes a library's files under `dir`.
fn write_library(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
}

const LIBRARY: &[(&str, &str)] = &[
    (
        "vars/greet.rhai",
        r#"import "acme/text" as text;
fn call(args) {
    let who = if type_of(args) == "map" { args.name } else { args };
    echo(text::shout(`hello ${who}`));
    sh(`echo "from sh: ${who}"`);
    who.len()
}
"#,
    ),
    (
        "vars/withTool.rhai",
        r#"fn call(args, body) {
    echo(`setting up ${args.tool}`);
    withEnv([`TOOL=${args.tool}`], || { body.call(); });
    echo(`done with ${args.tool}`);
}
"#,
    ),
    (
        "vars/settings.rhai",
        r#"fn call() {
    let text = libraryResource("acme/settings.txt");
    text.trim();
    echo(`settings: ${text}`);
}
"#,
    ),
    (
        "vars/broken.rhai",
        "fn call(args) {\n    let x = 1;\n    x.no_such_method();\n}\n",
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
        post: #{ always: ["echo 'post ran'"] },
    }
}
"#,
    ),
    (
        "vars/spin.rhai",
        "fn call() {\n    let n = 0;\n    loop { n += 1; }\n}\n",
    ),
    (
        "vars/grow.rhai",
        "fn call() {\n    let s = \"x\";\n    loop { s += s; }\n}\n",
    ),
    ("src/acme/text.rhai", "fn shout(s) { s.to_upper() }\n"),
    ("resources/acme/settings.txt", "fast=true\n"),
];

fn dir_library(root: &Path) -> Libraries {
    let dir = root.join("acme-lib");
    write_library(&dir, LIBRARY);
    let lib = kiln_library::load_dir("acme", "local", &dir, &ScriptEngine::new()).expect("load");
    Libraries::new(vec![Arc::new(lib)])
}

async fn run_with_library(jenkinsfile: &str) -> Run {
    let s = setup();
    let libs = dir_library(s.dir.path());
    run_any(jenkinsfile, s, libs).await
}

#[tokio::test]
async fn library_steps_run_from_steps_and_scripts() {
    let run = run_with_library(
        r#"
@Library('acme') _
pipeline {
    agent any
    stages {
        stage('Lib') {
            steps {
                greet name: 'steps'
                withTool(tool: 'maven') {
                    sh 'echo "block sees $TOOL"'
                }
                settings()
                script {
                    def n = greet('script')
                    echo "greet returned ${n}"
                    withTool(tool: 'gradle') {
                        echo "closure sees ${env.TOOL}"
                    }
                }
            }
        }
    }
}
"#,
    )
    .await;
    let log = run.log();
    assert_eq!(run.result(), BuildResult::Success, "{log:#?}");
    assert!(run.has_line("HELLO STEPS"), "{log:#?}");
    assert!(run.has_line("from sh: steps"), "{log:#?}");
    assert!(run.has_line("setting up maven"), "{log:#?}");
    assert!(run.has_line("block sees maven"), "{log:#?}");
    assert!(run.has_line("done with maven"), "{log:#?}");
    assert!(run.has_line("settings: fast=true"), "{log:#?}");
    assert!(run.has_line("HELLO SCRIPT"), "{log:#?}");
    assert!(run.has_line("greet returned 6"), "{log:#?}");
    assert!(run.has_line("closure sees gradle"), "{log:#?}");
    // Library log lines belong to the calling stage.
    let lib_stage = run.summary.stages[0].node;
    assert!(run.events.iter().any(|e| matches!(
        e,
        kiln_engine::BuildEvent::Log { node: Some(n), line, .. } if *n == lib_stage && line == "HELLO STEPS"
    )));
}

#[tokio::test]
async fn library_errors_name_library_file_and_line() {
    let run = run_with_library(
        r#"
@Library('acme') _
pipeline {
    agent any
    stages { stage('Broken') { steps { broken 'x' } } }
}
"#,
    )
    .await;
    assert_eq!(run.result(), BuildResult::Failure);
    let log = run.log();
    assert!(
        log.iter()
            .any(|l| l.starts_with("ERROR: ")
                && l.contains("library acme@local, vars/broken.rhai:3:")),
        "{log:#?}"
    );
}

/// Guards issue 11: a library's limit errors named `0:0` instead of the line at fault.
#[tokio::test]
async fn library_limit_errors_name_their_line() {
    // An endless loop meets the operation limit or, on a loaded machine, the time limit
    // first: either names the line.
    for (step, message) in [("grow", "too large"), ("spin", "library code exceeded its")] {
        let run = run_with_library(&format!(
            "@Library('acme') _\npipeline {{\n    agent any\n    stages {{ stage('L') {{ steps {{ {step}() }} }} }}\n}}\n"
        ))
        .await;
        assert_eq!(run.result(), BuildResult::Failure);
        let log = run.log();
        let at = format!("library acme@local, vars/{step}.rhai:3:");
        assert!(
            log.iter()
                .any(|l| l.starts_with("ERROR: ") && l.contains(message) && l.contains(&at)),
            "{step}: {log:#?}"
        );
    }
}

#[test]
fn library_syntax_errors_show_when_loading() {
    let dir = tempfile::tempdir().expect("tmp");
    write_library(
        dir.path(),
        &[("vars/bad.rhai", "fn call(args) {\n    let = 3;\n}\n")],
    );
    let err = kiln_library::load_dir("acme", "v1", dir.path(), &ScriptEngine::new())
        .expect_err("a syntax error");
    let text = err.to_string();
    assert!(text.contains("library acme@v1, vars/bad.rhai:2:"), "{text}");
}

#[tokio::test]
async fn pipelines_defined_by_parameters_plan_and_run() {
    let s = setup();
    let libs = dir_library(s.dir.path());
    let (doc, _) = kiln_model::load("@Library('acme') _\nstandardPipeline(language: 'rust')\n");
    let Some(kiln_model::Document::Scripted(script)) = doc else {
        panic!("a scripted document");
    };
    let generated =
        kiln_library::generated_pipeline(&script.script.statements, &libs, &ScriptEngine::new())
            .expect("generated")
            .expect("a pipeline");
    let (doc, diags) = kiln_model::load(&generated.text);
    assert!(diags.is_empty(), "{diags:#?}\n{}", generated.text);
    let Some(kiln_model::Document::Declarative(p)) = doc else {
        panic!("declarative");
    };
    let plan = kiln_plan::plan(&p);
    assert_eq!(
        kiln_plan::to_tree(&plan),
        "pipeline (agent any)\n├── Build [1 step]\n└── Test [1 step]\n"
    );
    let run = run_any(&generated.text, s, libs).await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    assert!(run.has_line("HELLO RUST"));
    assert!(run.has_line("testing rust"));
    assert!(run.has_line("post ran"));
    assert_eq!(run.stage("Test"), RAN_OK);
}

#[tokio::test]
async fn libraries_load_from_a_git_repository_at_a_version() {
    let s = setup();
    let repo = s.dir.path().join("lib-repo");
    std::fs::create_dir_all(&repo).expect("repo");
    git(&repo, &["init", "--quiet", "--initial-branch=main"]);
    write_library(
        &repo,
        &[(
            "vars/version.rhai",
            "fn call() { echo(\"version one\"); }\n",
        )],
    );
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "--quiet", "-m", "v1"]);
    git(&repo, &["tag", "v1"]);
    write_library(
        &repo,
        &[(
            "vars/version.rhai",
            "fn call() { echo(\"version two\"); }\n",
        )],
    );
    git(&repo, &["commit", "--quiet", "-am", "v2"]);
    let mut sources = LibrarySources::new();
    sources.insert(
        "acme",
        LibrarySource::Git {
            url: repo.display().to_string(),
            default_version: None,
        },
    );
    let cache = kiln_scm::GitCache::new(s.dir.path().join("git-cache"));
    let engine = ScriptEngine::new();
    let refs = |version: Option<&str>| {
        vec![LibraryRef {
            computed: None,
            name: "acme".to_owned(),
            version: version.map(str::to_owned),
            span: kiln_diagnostics::Span::default(),
        }]
    };
    let v1 = kiln_library::load(&refs(Some("v1")), &sources, &cache, &engine)
        .await
        .expect("v1");
    let main = kiln_library::load(&refs(None), &sources, &cache, &engine)
        .await
        .expect("main");
    assert_eq!(
        v1.iter().next().map(|l| l.label().to_owned()).as_deref(),
        Some("acme@v1")
    );
    let jenkinsfile = "@Library('acme') _\nnode { stage('V') { version() } }\n";
    let run = run_any(jenkinsfile, s, v1).await;
    assert!(run.has_line("version one"), "{:#?}", run.log());
    let run = run_any(jenkinsfile, setup(), main).await;
    assert!(run.has_line("version two"), "{:#?}", run.log());
    let missing = kiln_library::load(
        &[LibraryRef {
            computed: None,
            name: "other".to_owned(),
            version: None,
            span: kiln_diagnostics::Span::default(),
        }],
        &sources,
        &cache,
        &engine,
    )
    .await
    .expect_err("not configured");
    assert!(
        missing
            .to_string()
            .contains("library `other` is not configured")
    );
}
