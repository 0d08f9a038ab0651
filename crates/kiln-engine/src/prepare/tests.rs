//! `prepare` on each kind of pipeline and each way it fails, with a library in a temporary
//! directory (no git: a directory library is used as it is).

use super::*;
use kiln_library::LibrarySource;
use std::path::Path;

/// A library `acme` whose `vars/` holds `files` (name, Rhai text).
fn library(dir: &Path, files: &[(&str, &str)]) -> LibrarySources {
    let root = dir.join("acme");
    for (name, text) in files {
        let path = root.join("vars").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let mut sources = LibrarySources::new();
    sources.insert("acme", LibrarySource::Dir(root));
    sources
}

const STANDARD: &str = r#"fn pipeline(args) {
    #{
        agent: "any",
        stages: [ #{ name: `Build ${args.language}`, steps: ["echo 'hi'"] } ],
    }
}
"#;

const CALLER: &str = "@Library('acme') _\nstandardPipeline(language: 'go')\n";

/// Prepares `text` (named `Jenkinsfile`) with the library `acme` made of `files`.
async fn prepare_with(text: &str, files: &[(&str, &str)]) -> Result<Prepared, PrepareError> {
    let dir = tempfile::tempdir().unwrap();
    let sources = library(dir.path(), files);
    let cache = Arc::new(GitCache::new(dir.path().join("git")));
    let access = LibraryAccess {
        sources: &sources,
        cache: &cache,
    };
    prepare(Loaded::parse("Jenkinsfile", text), Some(access)).await
}

fn stage_names(prepared: &Prepared) -> Vec<String> {
    prepared
        .plan()
        .nodes
        .iter()
        .map(|n| n.path.join("/"))
        .collect()
}

#[tokio::test]
async fn a_declarative_pipeline_is_ready_as_written() {
    let text =
        "pipeline {\n  agent any\n  stages {\n    stage('A') { steps { echo 'a' } }\n  }\n}\n";
    let prepared = prepare_with(text, &[]).await.unwrap();
    assert!(prepared.scripted.is_none());
    assert!(prepared.caller.is_none());
    assert_eq!(stage_names(&prepared), ["A"]);
    assert_eq!(prepared.loaded.errors(), 0);
    let source = prepared.scripts.source.as_deref().unwrap();
    assert_eq!((source.name(), source.text()), ("Jenkinsfile", text));
}

#[tokio::test]
async fn a_scripted_pipeline_keeps_its_script_and_plans_no_stage() {
    let text = "node {\n  stage('A') { echo 'a' }\n}\n";
    let prepared = prepare_with(text, &[]).await.unwrap();
    assert!(prepared.scripted.is_some());
    assert!(stage_names(&prepared).is_empty());
    assert!(prepared.pipeline.stages.is_empty());
}

#[tokio::test]
async fn a_library_step_defining_the_pipeline_is_replaced_by_what_it_builds() {
    let prepared = prepare_with(CALLER, &[("standardPipeline.rhai", STANDARD)])
        .await
        .unwrap();
    assert!(prepared.scripted.is_none());
    assert_eq!(stage_names(&prepared), ["Build go"]);
    let generated = "acme@local vars/standardPipeline.rhai (generated pipeline)";
    assert_eq!(prepared.loaded.source.name(), generated);
    let source = prepared.scripts.source.as_deref().unwrap();
    assert_eq!(
        source.name(),
        generated,
        "script errors point into the generated text"
    );
    let caller = prepared.caller.as_ref().unwrap();
    assert_eq!(caller.source.name(), "Jenkinsfile");
    assert_eq!(prepared.scripts.libraries.iter().count(), 1);
}

#[tokio::test]
async fn without_library_access_nothing_is_loaded_or_generated() {
    let loaded = Loaded::parse("Jenkinsfile", CALLER);
    let prepared = prepare(loaded, None).await.unwrap();
    assert!(prepared.scripted.is_some());
    assert!(prepared.caller.is_none());
    assert_eq!(prepared.scripts.libraries.iter().count(), 0);
}

#[tokio::test]
async fn an_invalid_pipeline_comes_back_with_its_diagnostics() {
    let text = "pipeline {\n  agent any\n  stagess { }\n}\n";
    let Err(err) = prepare_with(text, &[]).await else {
        panic!("an invalid pipeline was prepared");
    };
    let PrepareError::Invalid(loaded) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(loaded.source.name(), "Jenkinsfile");
    assert!(loaded.errors() > 0);
    let lines = err.log_lines();
    let last = lines.last().unwrap();
    assert!(
        last.starts_with("ERROR: `Jenkinsfile` is not a valid pipeline (")
            && last.ends_with("); nothing was run"),
        "{last}"
    );
    assert!(lines.iter().any(|l| l.contains("stagess")), "{lines:#?}");
}

#[tokio::test]
async fn unsupported_groovy_in_a_script_is_an_error_of_preparation() {
    let text = "node {\n  def c = new Object()\n}\n";
    let Err(PrepareError::Invalid(loaded)) = prepare_with(text, &[]).await else {
        panic!("unsupported Groovy was prepared");
    };
    assert!(
        loaded.diagnostics.iter().any(|d| d.is_error()),
        "{:#?}",
        loaded.diagnostics
    );
}

#[tokio::test]
async fn a_document_without_pipeline_or_diagnostic_is_no_pipeline() {
    let loaded = Loaded {
        source: SourceFile::new("Jenkinsfile", ""),
        document: None,
        diagnostics: Vec::new(),
    };
    let err = prepare(loaded, None).await.unwrap_err();
    assert!(matches!(err, PrepareError::NoPipeline { .. }), "{err:?}");
    assert_eq!(err.log_lines(), ["ERROR: `Jenkinsfile` holds no pipeline"]);
}

#[tokio::test]
async fn a_library_that_is_not_configured_fails_the_preparation() {
    let text = "@Library('other') _\nnode { echo 'x' }\n";
    let err = prepare_with(text, &[]).await.unwrap_err();
    let PrepareError::Libraries { file, source } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(file, "Jenkinsfile");
    assert!(
        matches!(source.as_ref(), LibraryError::NotConfigured { .. }),
        "{source:?}"
    );
    let lines = err.log_lines();
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].starts_with(
            "ERROR: cannot load the libraries of `Jenkinsfile`: library `other` is not configured"
        ),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_failing_pipeline_step_is_a_generate_error() {
    let failing = "fn pipeline(args) {\n    throw \"no language given\";\n}\n";
    let err = prepare_with(CALLER, &[("standardPipeline.rhai", failing)])
        .await
        .unwrap_err();
    assert!(matches!(err, PrepareError::Generate(_)), "{err:?}");
    assert!(err.to_string().contains("no language given"), "{err}");
}

#[tokio::test]
async fn a_generated_pipeline_with_errors_is_invalid_in_the_generated_text() {
    let bad = "fn pipeline(args) {\n    \"pipeline {\\n  agent any\\n  stagess { }\\n}\\n\"\n}\n";
    let err = prepare_with(CALLER, &[("standardPipeline.rhai", bad)])
        .await
        .unwrap_err();
    let PrepareError::Invalid(loaded) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(
        loaded.source.name(),
        "acme@local vars/standardPipeline.rhai (generated pipeline)"
    );
}

#[tokio::test]
async fn a_generated_scripted_pipeline_is_refused() {
    let scripted = "fn pipeline(args) {\n    \"node {\\n  echo 'x'\\n}\\n\"\n}\n";
    let err = prepare_with(CALLER, &[("standardPipeline.rhai", scripted)])
        .await
        .unwrap_err();
    assert!(
        matches!(err, PrepareError::NotDeclarative { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "acme@local vars/standardPipeline.rhai (generated pipeline) is not a declarative pipeline"
    );
}
