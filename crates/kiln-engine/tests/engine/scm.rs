//! `checkout scm` and `git` against real repositories made by the tests.

#![expect(
    clippy::expect_used,
    reason = "test support: a failed setup should stop the test"
)]

use crate::harness::{RAN_OK, run, run_with, setup};
use kiln_engine::{BuildResult, ScmInfo, StageOutcome};
use kiln_testkit::git;
use std::path::Path;

/// A repository with two commits on `main`; returns the first commit.
fn make_repo(dir: &Path) -> String {
    std::fs::create_dir_all(dir).expect("repo dir");
    git(dir, &["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(dir.join("hello.txt"), "v1").expect("write");
    git(dir, &["add", "."]);
    git(dir, &["commit", "--quiet", "-m", "one"]);
    let first = git(dir, &["rev-parse", "HEAD"]);
    std::fs::write(dir.join("hello.txt"), "v2").expect("write");
    git(dir, &["commit", "--quiet", "-am", "two"]);
    first
}

#[tokio::test]
async fn implicit_checkout_gets_the_exact_commit() {
    let mut setup = setup();
    let repo = setup.dir.path().join("repo");
    let first = make_repo(&repo);
    setup.spec.scm = Some(ScmInfo {
        url: repo.to_string_lossy().into_owned(),
        commit: first.clone(),
        branch: Some("main".to_owned()),
        tag: None,
        change: Default::default(),
        merge: None,
    });
    let run = run_with(
        r#"
pipeline {
    agent any
    options { checkoutToSubdirectory('src') }
    stages {
        stage('Check') {
            when { branch 'main' }
            steps { sh 'test "$(cat src/hello.txt)" = v1 && echo "commit=$GIT_COMMIT"' }
        }
        stage('Again') { steps { dir('src') { checkout scm } } }
    }
}"#,
        setup,
    )
    .await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
    assert_eq!(run.stage("Check"), RAN_OK);
    assert!(run.has_line(&format!("commit={first}")));
    assert!(run.has_line(&format!(
        "Already at commit {first} in {}",
        run.workspace().join("src").display()
    )));
}

#[tokio::test]
async fn checkout_without_scm_says_so() {
    let run = run("pipeline { agent any; stages { stage('S') { steps { checkout scm } } } }").await;
    assert_eq!(run.stage("S"), StageOutcome::Ran(BuildResult::Failure));
    assert!(run.has_line("ERROR: checkout scm: this build has no SCM"));
}

#[tokio::test]
async fn git_step_clones_a_branch() {
    let setup = setup();
    let repo = setup.dir.path().join("repo");
    make_repo(&repo);
    let file = format!(
        "pipeline {{ agent any; stages {{ stage('S') {{ steps {{ dir('c') {{ git url: '{}', branch: 'main' }}; sh 'test \"$(cat c/hello.txt)\" = v2' }} }} }} }}",
        repo.display()
    );
    let run = run_with(&file, setup).await;
    assert_eq!(run.result(), BuildResult::Success, "{:#?}", run.log());
}
