//! Shared libraries as a pipeline loads them: local directories, `vars/` global steps,
//! `resources/` files, versions checked out of a real git repository made by the test,
//! the errors that name library and file, and pipelines built from parameters.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed setup should stop it loudly"
)]

use kiln_diagnostics::Span;
use kiln_library::{
    Libraries, LibraryError, LibrarySource, LibrarySources, generated_pipeline, load, load_dir,
    render_pipeline,
};
use kiln_model::LibraryRef;
use kiln_scm::GitCache;
use kiln_script::ScriptEngine;
use kiln_testkit::GitRepo;
use std::path::Path;
use std::sync::Arc;

/// Writes `files` (path, text) below `dir`.
fn write(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn lib_ref(name: &str, version: Option<&str>) -> LibraryRef {
    LibraryRef {
        name: name.to_owned(),
        version: version.map(str::to_owned),
        span: Span::default(),
        computed: None,
    }
}

/// Loads `refs` from `sources` with a git cache in `cache_dir`.
async fn load_refs(
    refs: &[LibraryRef],
    sources: &LibrarySources,
    cache_dir: &Path,
) -> Result<Libraries, LibraryError> {
    load(
        refs,
        sources,
        &GitCache::new(cache_dir),
        &ScriptEngine::new(),
    )
    .await
}

/// The libraries in `dirs` (name, directory), loaded as local directories.
fn local(dirs: &[(&str, &Path)]) -> Libraries {
    let engine = ScriptEngine::new();
    Libraries::new(
        dirs.iter()
            .map(|(name, dir)| Arc::new(load_dir(name, "local", dir, &engine).unwrap()))
            .collect(),
    )
}

const GREET: (&str, &str) = (
    "vars/greet.rhai",
    "fn call(args) { echo(`hello ${args.name}`); }\n",
);

#[test]
fn a_directory_gives_global_steps_and_resources() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            GREET,
            ("vars/notes.txt", "not a step: only .rhai files are"),
            ("resources/config/app.json", "{\"port\": 8080}\n"),
        ],
    );
    let libs = local(&[("acme", dir.path())]);
    let lib = libs.iter().next().unwrap();
    assert_eq!(lib.label(), "acme@local");
    assert_eq!(
        lib.resources.keys().collect::<Vec<_>>(),
        ["config/app.json"]
    );
    assert_eq!(libs.step_names(), ["greet"]);
    assert!(libs.step("greet").is_some());
    assert!(libs.step("notes").is_none());
    assert_eq!(libs.resource("config/app.json"), Some("{\"port\": 8080}\n"));
    assert_eq!(
        libs.resource("/config/app.json"),
        Some("{\"port\": 8080}\n"),
        "a leading slash names the same resource"
    );
    assert_eq!(libs.resource("config/missing.json"), None);
}

#[test]
fn a_directory_without_vars_or_src_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("resources/a.txt", "a")]);
    let err = load_dir("acme", "local", dir.path(), &ScriptEngine::new()).unwrap_err();
    assert!(matches!(err, LibraryError::Layout { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with("library `acme@local` at "), "{text}");
    assert!(
        text.ends_with("has neither a vars/ nor a src/ directory"),
        "{text}"
    );
}

#[test]
fn library_code_errors_name_library_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[("vars/broken.rhai", "fn call() {\n    let x = ;\n}\n")],
    );
    let err = load_dir("acme", "v2", dir.path(), &ScriptEngine::new()).unwrap_err();
    assert!(matches!(err, LibraryError::Code(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("library acme@v2, vars/broken.rhai:2:"),
        "{err}"
    );
}

#[tokio::test]
async fn directory_sources_load_once_per_name_and_ignore_versions() {
    let (lib_dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write(lib_dir.path(), &[GREET]);
    let mut sources = LibrarySources::new();
    sources.insert("acme", LibrarySource::Dir(lib_dir.path().to_path_buf()));
    let refs = [lib_ref("acme", Some("v9")), lib_ref("acme", None)];
    let libs = load_refs(&refs, &sources, cache.path()).await.unwrap();
    let labels: Vec<&str> = libs.iter().map(|l| l.label()).collect();
    assert_eq!(labels, ["acme@local"]);
}

#[tokio::test]
async fn an_unconfigured_library_names_the_known_ones() {
    let cache = tempfile::tempdir().unwrap();
    let mut sources = LibrarySources::new();
    sources.insert("acme", LibrarySource::Dir("/nonexistent".into()));
    sources.insert("tools", LibrarySource::Dir("/nonexistent".into()));
    let err = load_refs(&[lib_ref("acne", None)], &sources, cache.path())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "library `acne` is not configured (known: acme, tools); add it to `libraries:` or \
         pass `--library acne=PATH_OR_URL`"
    );
}

/// A library repository with `v1` tagged and `main` one commit later.
fn versioned_repo(dir: &Path) -> GitRepo {
    let repo = GitRepo::init(dir);
    repo.commit(&[GREET, ("resources/version.txt", "one\n")], "v1");
    repo.tag("v1");
    repo.commit(
        &[
            ("resources/version.txt", "two\n"),
            ("vars/deploy.rhai", "fn call() { echo(\"deploying\"); }\n"),
        ],
        "v2",
    );
    repo
}

fn git_sources(repo: &GitRepo, default_version: Option<&str>) -> LibrarySources {
    let mut sources = LibrarySources::new();
    sources.insert(
        "acme",
        LibrarySource::Git {
            url: repo.url(),
            default_version: default_version.map(str::to_owned),
        },
    );
    sources
}

#[tokio::test]
async fn git_libraries_are_checked_out_at_the_version_asked_for() {
    let (work, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let repo = versioned_repo(&work.path().join("lib"));
    let sources = git_sources(&repo, Some("v1"));
    let v1 = load_refs(&[lib_ref("acme", Some("v1"))], &sources, cache.path())
        .await
        .unwrap();
    assert_eq!(v1.resource("version.txt"), Some("one\n"));
    assert!(v1.step("deploy").is_none(), "v1 has no deploy step");
    let main = load_refs(&[lib_ref("acme", Some("main"))], &sources, cache.path())
        .await
        .unwrap();
    assert_eq!(main.resource("version.txt"), Some("two\n"));
    assert!(main.step("deploy").is_some());
    let labels: Vec<&str> = main.iter().map(|l| l.label()).collect();
    assert_eq!(labels, ["acme@main"]);
    // Without a version in the pipeline, the source's default version is loaded.
    let default = load_refs(&[lib_ref("acme", None)], &sources, cache.path())
        .await
        .unwrap();
    assert_eq!(default.resource("version.txt"), Some("one\n"));
}

#[tokio::test]
async fn a_missing_git_version_is_an_error_naming_library_and_version() {
    let (work, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let repo = versioned_repo(&work.path().join("lib"));
    let sources = git_sources(&repo, None);
    let err = load_refs(&[lib_ref("acme", Some("v7"))], &sources, cache.path())
        .await
        .unwrap_err();
    assert!(matches!(err, LibraryError::Git { .. }), "{err:?}");
    assert!(err.to_string().starts_with("library `acme@v7`: "), "{err}");
}

#[test]
fn library_arguments_are_directories_or_git_urls() {
    let dir = tempfile::tempdir().unwrap();
    let arg = format!("acme={}", dir.path().display());
    assert_eq!(
        LibrarySources::parse_arg(&arg).unwrap(),
        ("acme".into(), LibrarySource::Dir(dir.path().to_path_buf()))
    );
    assert_eq!(
        LibrarySources::parse_arg("acme=https://git.example/acme.git").unwrap(),
        (
            "acme".into(),
            LibrarySource::Git {
                url: "https://git.example/acme.git".into(),
                default_version: None
            }
        )
    );
    for bad in ["acme", "=dir", "acme="] {
        let err = LibrarySources::parse_arg(bad).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("invalid --library `{bad}`: expected NAME=PATH_OR_URL")
        );
    }
}

#[test]
fn the_first_library_wins_a_step_or_resource_both_define() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write(a.path(), &[GREET, ("resources/r.txt", "from a")]);
    write(b.path(), &[GREET, ("resources/r.txt", "from b")]);
    let libs = local(&[("a", a.path()), ("b", b.path())]);
    assert_eq!(libs.step("greet").unwrap().name, "a");
    assert_eq!(libs.resource("r.txt"), Some("from a"));
}

const STANDARD: &str = r#"fn pipeline(args) {
    #{
        agent: "any",
        environment: #{ LANG_NAME: args.language },
        options: ["timestamps()"],
        stages: [
            #{ name: "Build", steps: [`sh 'make ${args.language}'`] },
            #{ name: "Deploy", when: "branch 'main'", steps: [#{ greet: #{ name: "prod" } }] },
        ],
        post: #{ always: ["echo 'done'"] },
    }
}
"#;

fn standard_library(dir: &Path) -> Libraries {
    write(dir, &[GREET, ("vars/standardPipeline.rhai", STANDARD)]);
    local(&[("acme", dir)])
}

#[test]
fn a_pipeline_built_from_parameters_is_declarative_text_that_validates() {
    let dir = tempfile::tempdir().unwrap();
    let libs = standard_library(dir.path());
    let (file, diags) = kiln_syntax::parse("standardPipeline(language: 'rust')\n");
    assert!(diags.is_empty(), "{diags:?}");
    let generated = generated_pipeline(&file.statements, &libs, &ScriptEngine::new())
        .unwrap()
        .expect("a generated pipeline");
    assert_eq!(generated.library, "acme@local");
    assert_eq!(
        generated.file_name(),
        "acme@local vars/standardPipeline.rhai (generated pipeline)"
    );
    insta::assert_snapshot!("standard-pipeline", generated.text);
    let (_, diags) = kiln_model::load(&generated.text);
    assert!(diags.is_empty(), "{diags:#?}\n{}", generated.text);
}

#[test]
fn scripts_that_are_not_one_pipeline_step_call_build_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let libs = standard_library(dir.path());
    for script in [
        "node { echo 'hi' }\n",
        "greet(name: 'x')\n",
        "standardPipeline(language: 'a')\nstandardPipeline(language: 'b')\n",
    ] {
        let (file, _) = kiln_syntax::parse(script);
        let built = generated_pipeline(&file.statements, &libs, &ScriptEngine::new()).unwrap();
        assert_eq!(built, None, "{script}");
    }
}

#[test]
fn a_pipeline_map_with_a_wrong_shape_is_an_error() {
    let bad = kiln_script::Value::Map(vec![(
        "stages".into(),
        kiln_script::Value::Str("not a list".into()),
    )]);
    let err = render_pipeline(&bad).unwrap_err();
    assert!(err.contains("stages"), "{err}");
}
