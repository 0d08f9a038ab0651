//! File steps stay in the build's workspace (issue 11): outside it, `readFile`, `writeFile`,
//! `fileExists` and `dir` are refused with the path named.

use crate::harness::{run_with, setup};
use kiln_engine::BuildResult;

/// Runs `step` in a stage of its own and returns the log and the build's result.
async fn refused(step: &str, path: &std::path::Path) {
    let setup = setup();
    let jenkinsfile = format!(
        "pipeline {{ agent any; stages {{ stage('S') {{ steps {{ {} }} }} }} }}",
        step.replace("PATH", &path.display().to_string())
    );
    let run = run_with(&jenkinsfile, setup).await;
    let log = run.log().join("\n");
    assert_eq!(run.result(), BuildResult::Failure, "{step}:\n{log}");
    assert!(
        log.contains(&format!(
            "`{}` refused: it is outside the build's workspace",
            path.display()
        )),
        "{step}:\n{log}"
    );
}

#[tokio::test]
async fn file_steps_outside_the_workspace_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("kiln.yaml");
    std::fs::write(&secret, "token: x").unwrap();
    refused("readFile file: 'PATH'", &secret).await;
    refused(
        "writeFile file: 'PATH', text: 'x'",
        &outside.path().join("new"),
    )
    .await;
    refused("fileExists 'PATH'", &secret).await;
    refused("dir('PATH') { echo 'in' }", outside.path()).await;
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "token: x");
    assert!(!outside.path().join("new").exists());
}

#[tokio::test]
async fn a_link_in_the_workspace_does_not_lead_out_of_it() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "s3cr3t").unwrap();
    let setup = setup();
    std::os::unix::fs::symlink(outside.path(), setup.workspace().join("out")).unwrap();
    let run = run_with(
        "pipeline { agent any; stages { stage('S') { steps { writeFile file: 'ok.txt', text: 'fine'\n sh 'cat ok.txt'\n readFile 'out/secret' } } } }",
        setup,
    )
    .await;
    let log = run.log().join("\n");
    assert!(run.has_line("fine"), "the workspace file is read: {log}");
    assert!(!log.contains("s3cr3t") && log.contains("refused"), "{log}");
    assert_eq!(run.result(), BuildResult::Failure, "{log}");
}

/// `cleanWs(deleteDirs: true)` deletes matching directories that hold no file (which a file
/// listing never sees) as ws-cleanup's directory scan does; a directory holding an excluded
/// file stays, and without `deleteDirs` empty directories stay.
#[tokio::test]
async fn clean_ws_delete_dirs_removes_matching_empty_directories() {
    let setup = setup();
    let ws = setup.workspace();
    for d in [
        "build/empty/deeper",
        "build/keep",
        "src/empty",
        "kept-empty",
    ] {
        std::fs::create_dir_all(ws.join(d)).unwrap();
    }
    std::fs::write(ws.join("build/keep/notes.txt"), "stay").unwrap();
    std::fs::write(ws.join("build/out.o"), "go").unwrap();
    let run = run_with(
        r#"
pipeline {
    agent any
    stages {
        stage('Clean') {
            steps {
                cleanWs(patterns: [[pattern: 'kept-empty/**', type: 'INCLUDE']])
                cleanWs(deleteDirs: true, patterns: [[pattern: 'build/**', type: 'INCLUDE'], [pattern: 'src/empty', type: 'INCLUDE'], [pattern: '**/*.txt', type: 'EXCLUDE']])
            }
        }
    }
}"#,
        setup,
    )
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    assert!(
        ws.join("kept-empty").is_dir(),
        "no deleteDirs: directories stay"
    );
    assert!(!ws.join("build/empty").exists(), "{:#?}", run.log());
    assert!(!ws.join("src/empty").exists(), "{:#?}", run.log());
    assert!(!ws.join("build/out.o").exists());
    assert!(ws.join("build/keep/notes.txt").is_file());
    assert!(ws.join("src").is_dir(), "`src` does not match");
}
