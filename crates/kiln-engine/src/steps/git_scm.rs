//! `checkout([$class: 'GitSCM', branches: [[name: '*/main']], userRemoteConfigs: [[url: u,
//! credentialsId: c, refspec: r]], extensions: [...]])`: the git plugin's long form, read
//! into [`GitScm`] and run with real git (see `scm.rs`).

use super::delegate::class_of;
use crate::error::StepError;
use kiln_script::Value;

/// What a `GitSCM` map asks for.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct GitScm {
    pub url: String,
    /// The branch to check out (`*/main` and `origin/main` are `main`); `None`: the
    /// remote's default branch.
    pub branch: Option<String>,
    pub refspec: Option<String>,
    pub credentials_id: Option<String>,
    /// `CleanBeforeCheckout` / `CleanCheckout`: untracked files are removed.
    pub clean: bool,
    /// `RelativeTargetDirectory`: the checkout goes into this workspace subdirectory.
    pub subdirectory: Option<String>,
    /// `LocalBranch`: check the branch out under this local name (`**`: the remote's name).
    pub local_branch: Option<String>,
    /// `CloneOption` with `shallow: true`: fetch this many commits.
    pub depth: Option<u32>,
    /// `$class` names of extensions kiln does not act on.
    pub ignored: Vec<String>,
}

impl GitScm {
    /// Reads the map; errors name what is missing or malformed.
    pub(crate) fn parse(value: &Value) -> Result<GitScm, StepError> {
        let remote = first_map(value.get("userRemoteConfigs")).ok_or_else(|| {
            StepError::failed("checkout: `GitSCM` needs `userRemoteConfigs: [[url: '...']]`")
        })?;
        let url = string(remote.get("url"))
            .ok_or_else(|| StepError::failed("checkout: `userRemoteConfigs` has no `url`"))?;
        let mut scm = GitScm {
            url,
            branch: first_map(value.get("branches"))
                .and_then(|b| string(b.get("name")))
                .and_then(|n| branch_name(&n)),
            refspec: string(remote.get("refspec")),
            credentials_id: string(remote.get("credentialsId")),
            ..GitScm::default()
        };
        for ext in list(value.get("extensions")) {
            scm.extension(ext)?;
        }
        if let Some(dir) = &scm.subdirectory
            && (dir.starts_with('/') || dir.split(['/', '\\']).any(|c| c == ".."))
        {
            return Err(StepError::failed(format!(
                "checkout: `relativeTargetDir` must stay inside the workspace, not `{dir}`"
            )));
        }
        Ok(scm)
    }

    fn extension(&mut self, ext: &Value) -> Result<(), StepError> {
        let Some((class, args)) = class_of(ext) else {
            return Err(StepError::failed(
                "checkout: each of `extensions` is a map with `$class`",
            ));
        };
        // `scmGit(...)` writes the extensions by their symbols (`cleanBeforeCheckout()`,
        // `localBranch('main')`): the class name with a small first letter, a single
        // argument under `value`.
        let named = |key: &str| string(args.get(key).or_else(|| args.get("value")));
        match class {
            "CleanBeforeCheckout" | "CleanCheckout" | "cleanBeforeCheckout" => self.clean = true,
            "RelativeTargetDirectory" | "relativeTargetDirectory" => {
                self.subdirectory = named("relativeTargetDir");
            }
            "LocalBranch" | "localBranch" => {
                self.local_branch = named("localBranch");
            }
            "CloneOption" | "cloneOption" => {
                let shallow = matches!(args.get("shallow"), Some(Value::Bool(true)));
                let depth = match args.get("depth") {
                    Some(Value::Int(n)) if *n > 0 => u32::try_from(*n).unwrap_or(u32::MAX),
                    _ => 1,
                };
                self.depth = shallow.then_some(depth);
            }
            other => self.ignored.push(other.to_owned()),
        }
        Ok(())
    }

    /// The local branch name to check out, if `LocalBranch` asked for one.
    pub(crate) fn local_name(&self, branch: &str) -> Option<String> {
        self.local_branch.as_ref().map(|l| match l.as_str() {
            "" | "**" => branch.to_owned(),
            name => name.to_owned(),
        })
    }
}

/// `*/main`, `origin/main`, `refs/heads/main` -> `main`; `**` or empty -> none (default).
fn branch_name(pattern: &str) -> Option<String> {
    let name = pattern
        .trim()
        .trim_start_matches("refs/heads/")
        .trim_start_matches("*/")
        .trim_start_matches("origin/");
    (!name.is_empty() && name != "**" && name != "*").then(|| name.to_owned())
}

fn list(value: Option<&Value>) -> Vec<&Value> {
    match value {
        Some(Value::List(items)) => items.iter().collect(),
        Some(v @ Value::Map(_)) => vec![v],
        _ => Vec::new(),
    }
}

fn first_map(value: Option<&Value>) -> Option<&Value> {
    list(value).into_iter().find(|v| matches!(v, Value::Map(_)))
}

fn string(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Str(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.to_owned())
    }

    fn map(entries: &[(&str, Value)]) -> Value {
        Value::Map(
            entries
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn reads_branches_remote_and_extensions() {
        let v = map(&[
            ("$class", s("GitSCM")),
            (
                "branches",
                Value::List(vec![map(&[("name", s("*/release"))])]),
            ),
            (
                "userRemoteConfigs",
                Value::List(vec![map(&[
                    ("url", s("https://example.com/r.git")),
                    ("credentialsId", s("bot")),
                    (
                        "refspec",
                        s("+refs/heads/release:refs/remotes/origin/release"),
                    ),
                ])]),
            ),
            (
                "extensions",
                Value::List(vec![
                    map(&[("$class", s("CleanBeforeCheckout"))]),
                    map(&[
                        ("$class", s("RelativeTargetDirectory")),
                        ("relativeTargetDir", s("src")),
                    ]),
                    map(&[("$class", s("LocalBranch")), ("localBranch", s("**"))]),
                    map(&[
                        ("$class", s("CloneOption")),
                        ("shallow", Value::Bool(true)),
                        ("depth", Value::Int(3)),
                    ]),
                    map(&[("$class", s("SubmoduleOption"))]),
                ]),
            ),
        ]);
        let scm = GitScm::parse(&v).unwrap();
        assert_eq!(scm.url, "https://example.com/r.git");
        assert_eq!(scm.branch.as_deref(), Some("release"));
        assert_eq!(scm.credentials_id.as_deref(), Some("bot"));
        assert!(scm.refspec.is_some() && scm.clean);
        assert_eq!(scm.subdirectory.as_deref(), Some("src"));
        assert_eq!(scm.local_name("release").as_deref(), Some("release"));
        assert_eq!(scm.depth, Some(3));
        assert_eq!(scm.ignored, vec!["SubmoduleOption".to_owned()]);
    }

    #[test]
    fn a_missing_url_or_an_escaping_directory_is_an_error() {
        let no_url = map(&[("userRemoteConfigs", Value::List(vec![map(&[])]))]);
        assert!(GitScm::parse(&no_url).is_err());
        let escaping = map(&[
            (
                "userRemoteConfigs",
                Value::List(vec![map(&[("url", s("u"))])]),
            ),
            (
                "extensions",
                Value::List(vec![map(&[
                    ("$class", s("RelativeTargetDirectory")),
                    ("relativeTargetDir", s("../elsewhere")),
                ])]),
            ),
        ]);
        assert!(GitScm::parse(&escaping).is_err());
    }

    #[test]
    fn branch_patterns_become_names() {
        assert_eq!(branch_name("*/main").as_deref(), Some("main"));
        assert_eq!(branch_name("origin/dev").as_deref(), Some("dev"));
        assert_eq!(branch_name("refs/heads/x").as_deref(), Some("x"));
        assert_eq!(branch_name("**"), None);
    }
}
