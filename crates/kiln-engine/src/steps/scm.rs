//! `checkout scm` and `git`: real git, run through the executor like any other process.

use super::StepCall;
use super::delegate::{class_of, unsupported_class};
use super::git_scm::GitScm;
use super::process::{Capture, run_process};
use crate::build::Build;
use crate::error::StepError;
use crate::scope::Scope;
use crate::spec::MergeBundle;
use kiln_executor::Executor;
use kiln_script::Value;
use std::path::PathBuf;
use std::sync::Arc;

pub(crate) async fn checkout(call: &StepCall<'_>) -> Result<Value, StepError> {
    let is_scm = match call.args {
        super::Args::Model(_) => call.expr("scm").and_then(|e| e.as_ident()) == Some("scm"),
        super::Args::Script(_) => {
            matches!(call.value("scm")?, Some(v) if v.get("kind").and_then(Value::as_str) == Some("scm"))
        }
    };
    if is_scm {
        return checkout_scm(call.build, call.scope, call.scope.cwd.clone()).await;
    }
    // `scmGit(...)` in a declarative `steps { }` block is a descriptor call, as in scripts.
    let value = super::descriptor::described(call, "scm")?.unwrap_or(Value::Null);
    match class_of(&value) {
        Some((class, _)) if class == "scmGit" || class.rsplit('.').next() == Some("GitSCM") => {
            checkout_git_scm(call, &GitScm::parse(&value)?).await
        }
        Some((class, _)) => Err(unsupported_class("checkout", class)),
        None => Err(StepError::failed(
            "checkout: kiln supports `checkout scm`, `checkout scmGit(...)` and `checkout([$class: 'GitSCM', ...])`; for another repository use `git url: '...', branch: '...'`",
        )),
    }
}

/// `checkout([$class: 'GitSCM', ...])`: fetch (shallow and with the refspec when asked),
/// clean, then check out the branch, detached or under its local name.
async fn checkout_git_scm(call: &StepCall<'_>, scm: &GitScm) -> Result<Value, StepError> {
    if scm.credentials_id.is_some() {
        call.build.notice_once(
            "checkout: `credentialsId` is ignored by kiln; git uses this machine's own credentials"
                .to_owned(),
        );
    }
    for ext in &scm.ignored {
        call.build.notice_once(format!(
            "checkout: the `{ext}` extension is ignored by kiln"
        ));
    }
    let dir = match &scm.subdirectory {
        Some(sub) => call.scope.cwd.join(sub),
        None => call.scope.cwd.clone(),
    };
    let git = Git::new(call.build, call.scope, dir);
    let refspec = scm
        .refspec
        .as_deref()
        .unwrap_or("+refs/heads/*:refs/remotes/origin/*");
    git.fetch_with(&scm.url, refspec, scm.depth).await?;
    let branch = match &scm.branch {
        Some(b) => b.clone(),
        None => git.default_branch().await?,
    };
    if scm.clean {
        git.run(&["clean", "-fdx", "--quiet"]).await?;
    }
    let remote = format!("refs/remotes/origin/{branch}");
    match scm.local_name(&branch) {
        Some(local) => {
            git.run(&["checkout", "--quiet", "--force", "-B", &local, &remote])
                .await?;
        }
        None => {
            git.run(&["checkout", "--quiet", "--force", "--detach", &remote])
                .await?;
        }
    }
    let commit = git.head().await?.unwrap_or_default();
    Ok(Value::Map(vec![
        ("GIT_COMMIT".to_owned(), Value::Str(commit)),
        (
            "GIT_BRANCH".to_owned(),
            Value::Str(format!("origin/{branch}")),
        ),
        ("GIT_URL".to_owned(), Value::Str(scm.url.clone())),
    ]))
}

/// Checks out exactly the build's commit into `dir` (Jenkins' `checkout scm`).
pub(crate) async fn checkout_scm(
    build: &Build,
    scope: &Scope,
    dir: PathBuf,
) -> Result<Value, StepError> {
    let Some(scm) = &build.spec.scm else {
        return Err(StepError::failed("checkout scm: this build has no SCM"));
    };
    let git = Git::new(build, scope, dir);
    if scope.site.user_checkout && git.dir == scope.site.workspace {
        git.log(&format!(
            "Using the checkout in {} as it is",
            git.dir.display()
        ));
    } else if git.head().await?.as_deref() == Some(scm.commit.as_str()) {
        git.log(&format!(
            "Already at commit {} in {}",
            scm.commit,
            git.dir.display()
        ));
    } else {
        git.fetch(&scm.url).await?;
        if !git
            .ok(&["cat-file", "-e", &format!("{}^{{commit}}", scm.commit)])
            .await?
        {
            match &scm.merge {
                Some(merge) => git.fetch_merge(merge).await?,
                None => {
                    git.run(&["fetch", "--quiet", "origin", &scm.commit])
                        .await?;
                }
            }
        }
        git.run(&["checkout", "--quiet", "--force", &scm.commit])
            .await?;
    }
    let mut vars = vec![
        ("GIT_COMMIT".to_owned(), Value::Str(scm.commit.clone())),
        ("GIT_URL".to_owned(), Value::Str(scm.url.clone())),
    ];
    if let Some(b) = &scm.branch {
        vars.push(("GIT_BRANCH".to_owned(), Value::Str(b.clone())));
    }
    Ok(Value::Map(vars))
}

/// `git url: '...', branch: '...'`: clones (or updates) and checks out the branch.
pub(crate) async fn git(call: &StepCall<'_>) -> Result<Value, StepError> {
    let url = call.req_string("url")?;
    let branch = call.string("branch")?;
    if call.has("credentialsId") {
        call.build.notice_once(
            "git: `credentialsId` is ignored by kiln; git uses this machine's own credentials"
                .to_owned(),
        );
    }
    let git = Git::new(call.build, call.scope, call.scope.cwd.clone());
    git.fetch(&url).await?;
    let branch = match branch {
        Some(b) => b,
        None => git.default_branch().await?,
    };
    git.run(&[
        "checkout",
        "--quiet",
        "--force",
        "-B",
        &branch,
        &format!("refs/remotes/origin/{branch}"),
    ])
    .await?;
    let commit = git.head().await?.unwrap_or_default();
    Ok(Value::Map(vec![
        ("GIT_COMMIT".to_owned(), Value::Str(commit)),
        (
            "GIT_BRANCH".to_owned(),
            Value::Str(format!("origin/{branch}")),
        ),
        ("GIT_URL".to_owned(), Value::Str(url)),
    ]))
}

/// The author (`Name <address>`) of the commit checked out in the scope's directory, or
/// `None` when it is not a git work tree (asked quietly).
pub(crate) async fn head_author(build: &Build, scope: &Scope) -> Result<Option<String>, StepError> {
    let git = Git::new(build, scope, scope.cwd.clone());
    let done = git
        .exec(&["log", "-1", "--format=%aN <%aE>"], Capture::Quietly)
        .await?;
    let out = String::from_utf8_lossy(&done.stdout).trim().to_owned();
    Ok((done.status.success() && out.contains('@')).then_some(out))
}

/// The commit the workspace is at as `[author] subject` and a line break, as emailext's
/// `$CHANGES` shows a change; `None` outside a git checkout.
pub(crate) async fn head_change(build: &Build, scope: &Scope) -> Result<Option<String>, StepError> {
    let git = Git::new(build, scope, scope.cwd.clone());
    let done = git
        .exec(&["log", "-1", "--format=[%aN] %s"], Capture::Quietly)
        .await?;
    let out = String::from_utf8_lossy(&done.stdout).trim().to_owned();
    Ok((done.status.success() && !out.is_empty()).then(|| format!("{out}\n")))
}

/// git commands in one directory, logged like Jenkins' git plugin (`> git fetch ...`).
struct Git<'a> {
    build: &'a Build,
    scope: Scope,
    dir: PathBuf,
}

impl<'a> Git<'a> {
    fn new(build: &'a Build, scope: &Scope, dir: PathBuf) -> Self {
        // Never wait for a password on a terminal nobody watches.
        let scope = scope.with_env([("GIT_TERMINAL_PROMPT".to_owned(), "0".to_owned())]);
        Git { build, scope, dir }
    }

    /// The executor git runs on; refused outside any agent.
    fn executor(&self) -> Result<&Arc<dyn Executor>, StepError> {
        self.scope.executor(self.build, "git")
    }

    fn log(&self, line: &str) {
        self.build.log(self.scope.node, line, self.scope.timestamps);
    }

    /// Creates the repository (`git init` of an existing one changes nothing) and fetches
    /// every branch and tag of `url`. Every decision here comes from a process, never from
    /// the workspace's files: a resumed build runs the steps again and must take the same
    /// path (see `process_key.rs`).
    async fn fetch(&self, url: &str) -> Result<(), StepError> {
        self.fetch_with(url, "+refs/heads/*:refs/remotes/origin/*", None)
            .await
    }

    /// `fetch` with a refspec and, for a shallow clone, a depth.
    async fn fetch_with(
        &self,
        url: &str,
        refspec: &str,
        depth: Option<u32>,
    ) -> Result<(), StepError> {
        self.executor()?.create_dir(&self.dir).await?;
        self.run(&["init", "--quiet"]).await?;
        self.run(&["config", "remote.origin.url", url]).await?;
        self.run(&["config", "remote.origin.fetch", refspec])
            .await?;
        let depth = depth.map(|d| format!("--depth={d}"));
        let mut args = vec!["fetch", "--quiet", "--tags", "--force"];
        args.extend(depth.as_deref());
        args.extend(["origin", refspec]);
        self.run(&args).await
    }

    /// Fetches the merge kiln made from its bundle: the bundle is copied from the
    /// controller's disk into this repository's `.git` through the executor (so a pod gets
    /// it over the agent's connection), fetched from, and removed. The target branch's head
    /// the bundle needs is fetched from `origin` first when the branches did not bring it
    /// (the branch moved on since).
    async fn fetch_merge(&self, merge: &MergeBundle) -> Result<(), StepError> {
        let base = format!("{}^{{commit}}", merge.base);
        if !self.ok(&["cat-file", "-e", &base]).await? {
            self.run(&["fetch", "--quiet", "origin", &merge.base])
                .await?;
        }
        let bytes = tokio::fs::read(&merge.path).await.map_err(|e| {
            StepError::failed(format!(
                "checkout scm: cannot read the merge's bundle {}: {e}",
                merge.path.display()
            ))
        })?;
        let dir = self.dir.join(".git").join("kiln-merge");
        let executor = self.executor()?;
        executor
            .write_file(&dir.join("merge.bundle"), &bytes)
            .await?;
        self.log(&format!(
            "Fetching the merge commit from kiln's bundle ({} bytes)",
            bytes.len()
        ));
        let fetched = self
            .run(&["fetch", "--quiet", ".git/kiln-merge/merge.bundle", "HEAD"])
            .await;
        executor.delete_dir(&dir).await?;
        fetched
    }

    /// The remote's default branch (what its `HEAD` points to).
    async fn default_branch(&self) -> Result<String, StepError> {
        self.run(&["remote", "set-head", "origin", "--auto"])
            .await?;
        let out = self
            .capture(&["symbolic-ref", "--short", "refs/remotes/origin/HEAD"])
            .await?;
        let name = out.trim().trim_start_matches("origin/").to_owned();
        if name.is_empty() {
            return Err(StepError::failed(
                "git: cannot tell the remote's default branch; give `branch:`",
            ));
        }
        Ok(name)
    }

    /// The checked-out commit, or `None` when `dir` is not the top of a git work tree
    /// (`--git-dir` is `.git` only there; a failure, e.g. no repository, is quiet). `dir`
    /// is created first, as the checkout will.
    async fn head(&self) -> Result<Option<String>, StepError> {
        self.executor()?.create_dir(&self.dir).await?;
        let done = self
            .exec(&["rev-parse", "--git-dir", "HEAD"], Capture::Quietly)
            .await?;
        if !done.status.success() {
            return Ok(None);
        }
        let out = String::from_utf8_lossy(&done.stdout);
        let mut lines = out.lines();
        if lines.next() != Some(".git") {
            return Ok(None);
        }
        Ok(lines.next().map(|c| c.trim().to_owned()))
    }

    async fn run(&self, args: &[&str]) -> Result<(), StepError> {
        self.log(&format!("> git {}", args.join(" ")));
        let done = self.exec(args, Capture::Nothing).await?;
        if done.status.success() {
            Ok(())
        } else {
            Err(StepError::failed(format!(
                "`git {}` failed with exit code {}",
                args.first().copied().unwrap_or_default(),
                done.status.code()
            )))
        }
    }

    async fn ok(&self, args: &[&str]) -> Result<bool, StepError> {
        Ok(self.exec(args, Capture::Stdout).await?.status.success())
    }

    async fn capture(&self, args: &[&str]) -> Result<String, StepError> {
        let done = self.exec(args, Capture::Stdout).await?;
        Ok(String::from_utf8_lossy(&done.stdout).into_owned())
    }

    async fn exec(
        &self,
        args: &[&str],
        capture: Capture,
    ) -> Result<super::process::Finished, StepError> {
        self.executor()?;
        let mut argv = vec!["git".to_owned()];
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        run_process(
            self.build,
            &self.scope,
            (argv, None),
            self.dir.clone(),
            capture,
        )
        .await
    }
}
