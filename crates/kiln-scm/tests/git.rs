//! GitCache against real repositories made with `git init` in temporary directories.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_scm::{GitCache, ScmError, normalize_url};
use kiln_testkit::git;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn commit_file(repo: &Path, name: &str, content: &str) -> String {
    let path = repo.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, content).unwrap();
    git(repo, &["add", name]);
    git(repo, &["commit", "-q", "-m", &format!("change {name}")]);
    git(repo, &["rev-parse", "HEAD"])
}

/// A repository with `main` (two commits), `feature` (one more), an annotated tag `v1`
/// on main's first commit and a lightweight tag `light` on feature.
struct Fixture {
    _tmp: tempfile::TempDir,
    repo: PathBuf,
    cache: GitCache,
    first: String,
    main: String,
    feature: String,
    work: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::Builder::new()
        .prefix("kiln-scm-test-")
        .tempdir()
        .unwrap();
    let repo = tmp.path().join("origin");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    let first = commit_file(&repo, "Jenkinsfile", "pipeline { agent any }\n");
    git(&repo, &["tag", "-a", "v1", "-m", "version 1"]);
    let main = commit_file(&repo, "src/app.txt", "app v2\n");
    git(&repo, &["checkout", "-q", "-b", "feature"]);
    let feature = commit_file(&repo, "src/app.txt", "app feature\n");
    git(&repo, &["tag", "light"]);
    git(&repo, &["checkout", "-q", "main"]);
    let cache = GitCache::new(tmp.path().join("data/git"));
    let work = tmp.path().join("work");
    Fixture {
        repo,
        cache,
        first,
        main,
        feature,
        work,
        _tmp: tmp,
    }
}

impl Fixture {
    fn url(&self) -> String {
        format!("file://{}", self.repo.display())
    }
}

#[tokio::test]
async fn resolves_branches_tags_and_commits() {
    let f = fixture();
    let url = f.url();
    f.cache.fetch(&url).await.unwrap();
    assert_eq!(f.cache.resolve(&url, "main").await.unwrap(), f.main);
    assert_eq!(f.cache.resolve(&url, "feature").await.unwrap(), f.feature);
    assert_eq!(
        f.cache.resolve(&url, "v1").await.unwrap(),
        f.first,
        "annotated tag peeled"
    );
    assert_eq!(
        f.cache.resolve(&url, &f.first[..10]).await.unwrap(),
        f.first
    );
    let err = f.cache.resolve(&url, "nope").await.unwrap_err();
    assert!(matches!(err, ScmError::UnknownRef { .. }));
    assert_eq!(
        err.to_string(),
        format!("{url} has no branch or tag `nope`")
    );
}

#[tokio::test]
async fn lists_branches_and_tags() {
    let f = fixture();
    let url = f.url();
    let branches = f.cache.branches(&url).await.unwrap();
    assert_eq!(
        branches,
        vec![
            ("feature".to_owned(), f.feature.clone()),
            ("main".to_owned(), f.main.clone())
        ]
    );
    let tags = f.cache.tags(&url).await.unwrap();
    assert_eq!(
        tags,
        vec![
            ("light".to_owned(), f.feature.clone()),
            ("v1".to_owned(), f.first.clone())
        ]
    );
}

#[tokio::test]
async fn reads_files_at_a_commit() {
    let f = fixture();
    let url = f.url();
    let at_main = f
        .cache
        .read_file(&url, &f.main, "src/app.txt")
        .await
        .unwrap();
    assert_eq!(at_main, b"app v2\n");
    let at_feature = f
        .cache
        .read_file(&url, &f.feature, "./src/app.txt")
        .await
        .unwrap();
    assert_eq!(at_feature, b"app feature\n");
    let missing = f
        .cache
        .read_file(&url, &f.first, "src/app.txt")
        .await
        .unwrap_err();
    assert_eq!(
        missing.to_string(),
        format!("{url} has no file `src/app.txt` at commit {}", f.first)
    );
    let bad_commit = "0123456789012345678901234567890123456789";
    let err = f
        .cache
        .read_file(&url, bad_commit, "Jenkinsfile")
        .await
        .unwrap_err();
    assert!(matches!(err, ScmError::Git { .. }), "{err:?}");
}

#[tokio::test]
async fn new_commits_appear_after_a_fetch() {
    let f = fixture();
    let url = f.url();
    assert_eq!(f.cache.update(&url, "main").await.unwrap(), f.main);
    let newer = commit_file(&f.repo, "README", "news\n");
    assert_eq!(
        f.cache.resolve(&url, "main").await.unwrap(),
        f.main,
        "no fetch yet"
    );
    assert_eq!(f.cache.update(&url, "main").await.unwrap(), newer);
    // A deleted branch disappears from the mirror (fetch --prune).
    git(&f.repo, &["branch", "-q", "-D", "feature"]);
    f.cache.fetch(&url).await.unwrap();
    let names: Vec<String> = f
        .cache
        .branches(&url)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.0)
        .collect();
    assert_eq!(names, ["main"]);
}

#[tokio::test]
async fn plain_paths_and_file_urls_share_one_mirror() {
    let f = fixture();
    let path = f.repo.display().to_string();
    assert_eq!(f.cache.mirror_path(&path), f.cache.mirror_path(&f.url()));
    assert_eq!(normalize_url(&path), normalize_url(&f.url()));
    assert_eq!(f.cache.resolve(&path, "main").await.unwrap(), f.main);
    assert!(f.cache.mirror_path(&path).join("HEAD").is_file());
    let mirrors = std::fs::read_dir(f.cache.dir()).unwrap().count();
    assert_eq!(mirrors, 1, "no temporary clone left behind");
}

#[tokio::test]
async fn concurrent_fetches_of_one_repository_all_succeed() {
    let f = fixture();
    let url = f.url();
    let fetches = (0..4).map(|_| f.cache.fetch(&url));
    for r in futures_join(fetches).await {
        r.unwrap();
    }
    assert_eq!(f.cache.resolve(&url, "main").await.unwrap(), f.main);
}

/// Polls all futures together on the current task (no extra dependency).
async fn futures_join<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for fut in futs {
        set.push(Box::pin(fut));
    }
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, fut) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

#[tokio::test]
async fn checkout_creates_and_reuses_a_workspace() {
    let f = fixture();
    let url = f.url();
    f.cache
        .checkout(&url, &f.main, &f.work, false)
        .await
        .unwrap();
    let read = |p: &str| std::fs::read_to_string(f.work.join(p)).unwrap();
    assert_eq!(read("src/app.txt"), "app v2\n");
    assert_eq!(git(&f.work, &["rev-parse", "HEAD"]), f.main);
    assert_eq!(git(&f.work, &["remote", "get-url", "origin"]), url);

    // Reuse: a local edit is overwritten, an untracked build output is kept.
    std::fs::write(f.work.join("src/app.txt"), "edited\n").unwrap();
    std::fs::write(f.work.join("build.log"), "output\n").unwrap();
    f.cache
        .checkout(&url, &f.feature, &f.work, false)
        .await
        .unwrap();
    assert_eq!(read("src/app.txt"), "app feature\n");
    assert_eq!(read("build.log"), "output\n");
    assert_eq!(git(&f.work, &["rev-parse", "HEAD"]), f.feature);

    // clean: untracked files go.
    f.cache
        .checkout(&url, &f.first, &f.work, true)
        .await
        .unwrap();
    assert!(!f.work.join("build.log").exists());
    assert!(!f.work.join("src/app.txt").exists());
    assert_eq!(read("Jenkinsfile"), "pipeline { agent any }\n");
}

#[tokio::test]
async fn checkout_gets_commits_fetched_after_the_first_checkout() {
    let f = fixture();
    let url = f.url();
    f.cache
        .checkout(&url, &f.main, &f.work, false)
        .await
        .unwrap();
    let newer = commit_file(&f.repo, "README", "news\n");
    let commit = f.cache.update(&url, "main").await.unwrap();
    assert_eq!(commit, newer);
    f.cache
        .checkout(&url, &commit, &f.work, false)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(f.work.join("README")).unwrap(),
        "news\n"
    );
}

#[tokio::test]
async fn checkout_into_an_existing_plain_directory() {
    let f = fixture();
    std::fs::create_dir_all(&f.work).unwrap();
    std::fs::write(f.work.join("leftover"), "x").unwrap();
    f.cache
        .checkout(&f.url(), &f.main, &f.work, false)
        .await
        .unwrap();
    assert!(f.work.join("Jenkinsfile").is_file());
    assert!(f.work.join("leftover").is_file());
}

#[tokio::test]
async fn errors_name_the_url_and_what_git_said() {
    let f = fixture();
    let url = format!("file://{}/does-not-exist", f.repo.display());
    let err = f.cache.fetch(&url).await.unwrap_err();
    let ScmError::Git {
        url: u,
        command,
        stderr,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((u.as_str(), command.as_str()), (url.as_str(), "clone"));
    assert!(stderr.contains("does-not-exist"), "{stderr}");
    assert!(
        err.to_string()
            .starts_with(&format!("git clone failed for {url}: "))
    );
    let leftovers = std::fs::read_dir(f.cache.dir()).unwrap().count();
    assert_eq!(leftovers, 0, "a failed clone leaves nothing behind");
}

#[tokio::test]
async fn option_like_names_are_refused() {
    let f = fixture();
    let url = f.url();
    let err = f
        .cache
        .resolve(&url, "--upload-pack=evil")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ScmError::InvalidArgument { what: "branch", .. }),
        "{err:?}"
    );
    let err = f
        .cache
        .checkout(&url, "-f", &f.work, false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ScmError::InvalidArgument { what: "commit", .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn commands_past_the_timeout_are_killed() {
    let f = fixture();
    let cache = GitCache::new(f.cache.dir()).with_timeout(Duration::ZERO);
    let err = cache.fetch(&f.url()).await.unwrap_err();
    assert!(matches!(err, ScmError::Timeout { secs: 0, .. }), "{err:?}");
}

#[tokio::test]
async fn checkout_of_a_commit_only_on_a_pull_request_ref() {
    let f = fixture();
    git(&f.repo, &["checkout", "-q", "-b", "pr"]);
    let pr_head = commit_file(&f.repo, "pr.txt", "proposed\n");
    git(&f.repo, &["update-ref", "refs/pull/1/head", &pr_head]);
    git(&f.repo, &["checkout", "-q", "main"]);
    git(&f.repo, &["branch", "-q", "-D", "pr"]);
    let url = f.url();
    f.cache
        .checkout(&url, &f.main, &f.work, false)
        .await
        .unwrap();
    f.cache.fetch(&url).await.unwrap();
    f.cache
        .checkout(&url, &pr_head, &f.work, false)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(f.work.join("pr.txt")).unwrap(),
        "proposed\n"
    );
}

#[tokio::test]
async fn a_merges_bundle_brings_it_to_a_repository_that_has_only_the_base() {
    let f = fixture();
    let url = f.url();
    f.cache
        .checkout(&url, &f.first, &f.work, false)
        .await
        .unwrap();
    let merged = f
        .cache
        .merge(&url, &f.work, &f.feature, "Merge feature")
        .await
        .unwrap();
    let bundle = f.work.join(".git/merge.bundle");
    f.cache
        .bundle_head(&url, &f.work, &f.first, &bundle)
        .await
        .unwrap();
    let bundle_arg = bundle.display().to_string();
    // A repository with the base (and nothing of the feature) gets the merge from it.
    let other = f.work.with_file_name("other");
    std::fs::create_dir_all(&other).unwrap();
    git(&other, &["init", "-q"]);
    git(&other, &["fetch", "-q", &url, &f.first]);
    git(&other, &["fetch", "-q", &bundle_arg, "HEAD"]);
    assert_eq!(git(&other, &["rev-parse", "FETCH_HEAD"]), merged);
    assert_eq!(
        git(&other, &["rev-parse", &format!("{merged}^2")]),
        f.feature
    );
    // One without the base cannot: the bundle holds only what the base lacks.
    let bare = f.work.with_file_name("bare");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "-q"]);
    let lacking = std::process::Command::new("git")
        .args(["fetch", "-q", &bundle_arg, "HEAD"])
        .current_dir(&bare)
        .output()
        .unwrap();
    assert!(!lacking.status.success());
}

#[tokio::test]
async fn merging_the_same_commits_again_makes_the_same_merge_commit() {
    let f = fixture();
    let url = f.url();
    let mut merges = Vec::new();
    for dir in ["one", "two"] {
        let work = f.work.with_file_name(dir);
        f.cache
            .checkout(&url, &f.first, &work, false)
            .await
            .unwrap();
        let merged = f
            .cache
            .merge(&url, &work, &f.feature, "Merge feature")
            .await
            .unwrap();
        merges.push(merged);
        // (the clock moves on between the two merges)
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    assert_eq!(merges[0], merges[1]);
    let work = f.work.with_file_name("one");
    let who = git(
        &work,
        &["show", "--no-patch", "--format=%an <%ae> %ct", "HEAD"],
    );
    let newest = git(&work, &["show", "--no-patch", "--format=%ct", &f.feature]);
    assert_eq!(who, format!("kiln <kiln@localhost> {newest}"));
}
