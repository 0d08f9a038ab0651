//! `repo:` jobs: the branch resolved to a commit through the mirror cache, the Jenkinsfile
//! read at that commit, the workspace checked out at exactly that commit.

use crate::support::*;
use kiln_scheduler::TriggerError;
use kiln_types::BuildResult;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repo_job_builds_the_commit_it_resolved() {
    let env = Env::new();
    let repo = env.repo(
        "svc",
        &[
            ("Jenkinsfile", &pipeline("sh 'cat v.txt'")),
            ("v.txt", "one\n"),
        ],
    );
    let c1 = git(&repo, &["rev-parse", "HEAD"]);
    let yaml = format!(
        "jobs:\n  - name: svc\n    repo: file://{}\n",
        repo.display()
    );
    let h = env.start(env.config(&yaml));
    let first = h.trigger(user("svc")).await.unwrap();
    let b1 = env.finished(&first).await;
    assert_eq!(b1.result, Some(BuildResult::Success), "{}", env.log(&first));
    assert_eq!(b1.commit.as_deref(), Some(c1.as_str()));
    assert_eq!(b1.branch.as_deref(), Some("main"));
    assert!(env.log(&first).contains("[Build] one\n"));

    let c2 = commit(&repo, &[("v.txt", "two\n")], "two");
    let second = h.trigger(user("svc")).await.unwrap();
    let b2 = env.finished(&second).await;
    assert_eq!(b2.commit.as_deref(), Some(c2.as_str()));
    assert!(
        env.log(&second).contains("[Build] two\n"),
        "{}",
        env.log(&second)
    );

    // An explicit commit is built exactly, Jenkinsfile included.
    let third = h.trigger(user("svc").commit(c1.clone())).await.unwrap();
    let b3 = env.finished(&third).await;
    assert_eq!(b3.commit.as_deref(), Some(c1.as_str()));
    assert!(
        env.log(&third).contains("[Build] one\n"),
        "{}",
        env.log(&third)
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branch_patterns_need_a_matching_branch() {
    let env = Env::new();
    let repo = env.repo(
        "rel",
        &[(
            "Jenkinsfile",
            &pipeline("sh 'git rev-parse --abbrev-ref HEAD; echo $BRANCH_NAME'"),
        )],
    );
    git(&repo, &["branch", "release/1.0"]);
    let yaml = format!(
        "jobs:\n  - name: rel\n    repo: {}\n    branch: 'release/*'\n",
        repo.display()
    );
    let h = env.start(env.config(&yaml));
    assert!(matches!(
        h.trigger(user("rel")).await,
        Err(TriggerError::BranchRequired { .. })
    ));
    assert!(matches!(
        h.trigger(user("rel").branch("main")).await,
        Err(TriggerError::BranchNotMatched { .. })
    ));
    let id = h.trigger(user("rel").branch("release/1.0")).await.unwrap();
    let b = env.finished(&id).await;
    assert_eq!(b.result, Some(BuildResult::Success), "{}", env.log(&id));
    assert_eq!(b.branch.as_deref(), Some("release/1.0"));
    let url = repo.display().to_string();
    assert_eq!(
        h.jobs_for_push(&format!("{url}/"), Some("release/1.0"), None),
        ["rel"]
    );
    assert!(h.jobs_for_push(&url, Some("main"), None).is_empty());
    assert!(
        h.jobs_for_push("https://example.com/other.git", Some("release/1.0"), None)
            .is_empty()
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_repository_is_refused_with_the_url() {
    let env = Env::new();
    let missing = env.tmp.path().join("no-such-repo");
    let yaml = format!("jobs:\n  - name: gone\n    repo: {}\n", missing.display());
    let h = env.start(env.config(&yaml));
    let err = h.trigger(user("gone")).await.unwrap_err();
    assert!(matches!(err, TriggerError::Source(_)), "{err:?}");
    assert!(err.to_string().contains("no-such-repo"), "{err}");
    h.shutdown().await;
}
