//! The Email Extension plugin's content tokens in `emailext`'s subject and body:
//! `$DEFAULT_SUBJECT`, `$DEFAULT_CONTENT`, `$PROJECT_NAME`, `$BUILD_STATUS`, `$BUILD_URL`,
//! `${ENV, var="X"}`, `$BUILD_LOG` and `${BUILD_LOG, maxLines=N}` (the last lines of the
//! build's log so far, 250 by default, as the plugin), `$CHANGES` (see [`Tokens::changes`]),
//! the build's environment variables and the other tokens listed in [`Tokens::value`]. Any
//! other token (`${SCRIPT, ...}`, ...) is left as written.

use crate::BuildResult;
use regex::{Captures, Regex};
use std::collections::BTreeMap;
use std::sync::LazyLock;

const DEFAULT_SUBJECT: &str = "$PROJECT_NAME - Build # $BUILD_NUMBER - $BUILD_STATUS!";
const DEFAULT_CONTENT: &str = "$PROJECT_NAME - Build # $BUILD_NUMBER - $BUILD_STATUS:\n\nCheck console output at $BUILD_URL to view the results.";

#[expect(
    clippy::expect_used,
    reason = "a constant pattern, checked by the tests"
)]
static TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\s*((?:,[^}]*)?)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
        .expect("token pattern")
});

/// What the tokens stand for in one build.
pub(crate) struct Tokens<'a> {
    pub(crate) env: &'a BTreeMap<String, String>,
    pub(crate) result: BuildResult,
    pub(crate) previous: Option<BuildResult>,
    pub(crate) cause: String,
    /// The build's log so far (masked), when the text asks for `$BUILD_LOG`.
    pub(crate) build_log: Option<String>,
    /// `$CHANGES`: one `[author] subject` line per change. kiln does not record the commit
    /// of the previous build, so the change is the commit the build runs; empty outside a
    /// git checkout.
    pub(crate) changes: Option<String>,
}

/// The plugin's default `maxLines` of `$BUILD_LOG`.
const BUILD_LOG_LINES: usize = 250;

/// Whether `text` uses token `name` (so the caller computes it only then).
pub(crate) fn uses(text: &str, name: &str) -> bool {
    TOKEN.captures_iter(text).any(|c| {
        c.get(1)
            .or_else(|| c.get(3))
            .is_some_and(|m| m.as_str() == name)
    })
}

impl Tokens<'_> {
    /// `text` with every known token replaced.
    pub(crate) fn expand(&self, text: &str) -> String {
        let once = TOKEN.replace_all(text, |c: &Captures<'_>| self.replace(c, true));
        once.into_owned()
    }

    fn replace(&self, c: &Captures<'_>, defaults: bool) -> String {
        let whole = c.get(0).map_or("", |m| m.as_str());
        let name = c.get(1).or_else(|| c.get(3)).map_or("", |m| m.as_str());
        let args = c.get(2).map_or("", |m| m.as_str());
        let expanded = match name {
            "DEFAULT_SUBJECT" if defaults => Some(self.expand_inner(DEFAULT_SUBJECT)),
            "DEFAULT_CONTENT" if defaults => Some(self.expand_inner(DEFAULT_CONTENT)),
            "ENV" => env_arg(args).map(|var| self.env.get(var).cloned().unwrap_or_default()),
            "BUILD_LOG" => self.build_log.as_deref().map(|log| {
                let max = named_arg(args, "maxLines")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(BUILD_LOG_LINES);
                last_lines(log, max)
            }),
            "CHANGES" => self.changes.clone(),
            _ if !args.trim().is_empty() => None,
            _ => self.value(name),
        };
        expanded.unwrap_or_else(|| whole.to_owned())
    }

    fn expand_inner(&self, text: &str) -> String {
        TOKEN
            .replace_all(text, |c: &Captures<'_>| self.replace(c, false))
            .into_owned()
    }

    /// The value of a token without arguments.
    fn value(&self, name: &str) -> Option<String> {
        let var = |k: &str| self.env.get(k).cloned().unwrap_or_default();
        Some(match name {
            "PROJECT_NAME" | "PROJECT_DISPLAY_NAME" => var("JOB_NAME"),
            "BUILD_STATUS" => build_status(self.result, self.previous).to_owned(),
            "BUILD_URL" => self.build_url(),
            "PROJECT_URL" | "JOB_URL" => self.job_url(),
            "CAUSE" => self.cause.clone(),
            "DEFAULT_RECIPIENTS" | "DEFAULT_REPLYTO" => String::new(),
            other => self.env.get(other).cloned()?,
        })
    }

    fn job_url(&self) -> String {
        match self.env.get("KILN_URL") {
            Some(base) => format!(
                "{}/jobs/{}/",
                base.trim_end_matches('/'),
                self.env.get("JOB_NAME").map_or("", String::as_str)
            ),
            None => String::new(),
        }
    }

    fn build_url(&self) -> String {
        if let Some(url) = self.env.get("BUILD_URL") {
            return url.clone();
        }
        let job = self.job_url();
        if job.is_empty() {
            return job;
        }
        let number = self.env.get("BUILD_NUMBER").map_or("", String::as_str);
        format!("{job}{number}/")
    }
}

/// `var="NAME"` of `${ENV, var="NAME"}`.
fn env_arg(args: &str) -> Option<&str> {
    named_arg(args, "var")
}

/// The value of argument `name` in `, a=1, b="x"` (quotes removed).
fn named_arg<'t>(args: &'t str, name: &str) -> Option<&'t str> {
    args.split(',').find_map(|part| {
        let (key, value) = part.split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches(|c| c == '"' || c == '\''))
    })
}

/// The last `max` lines of `log`, each ending in a line break.
fn last_lines(log: &str, max: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let start = lines.len().saturating_sub(max);
    lines[start..].iter().map(|l| format!("{l}\n")).collect()
}

/// The plugin's `$BUILD_STATUS`: the result, compared with the previous build's.
fn build_status(result: BuildResult, previous: Option<BuildResult>) -> &'static str {
    let was = |r: BuildResult| previous == Some(r);
    match result {
        BuildResult::Success if was(BuildResult::Failure) || was(BuildResult::Unstable) => "Fixed",
        BuildResult::Success => "Successful",
        BuildResult::Unstable if was(BuildResult::Unstable) => "Still Unstable",
        BuildResult::Unstable => "Unstable",
        BuildResult::Failure if was(BuildResult::Failure) => "Still Failing",
        BuildResult::Failure => "Failure",
        BuildResult::Aborted => "Aborted",
        BuildResult::NotBuilt => "Not Built",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        let env: BTreeMap<String, String> = [
            ("JOB_NAME", "app"),
            ("BUILD_NUMBER", "7"),
            ("KILN_URL", "http://ci/"),
            ("GREETING", "hi"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let tokens = Tokens {
            env: &env,
            result: BuildResult::Success,
            previous: Some(BuildResult::Failure),
            cause: "Started by user ann".into(),
            build_log: Some("one\ntwo\nthree\n".into()),
            changes: Some("[Ann Lee] Fix the cart\n".into()),
        };
        assert_eq!(tokens.expand(input), expected);
    }

    #[test]
    fn tokens() {
        check("$DEFAULT_SUBJECT", "app - Build # 7 - Fixed!");
        check(
            "${DEFAULT_CONTENT}",
            "app - Build # 7 - Fixed:\n\nCheck console output at http://ci/jobs/app/7/ to view the results.",
        );
        check("${ENV, var=\"GREETING\"} $GREETING", "hi hi");
        check("$CAUSE", "Started by user ann");
        check(
            "${BUILD_LOG, maxLines=2}$CHANGES $5",
            "two\nthree\n[Ann Lee] Fix the cart\n $5",
        );
        check("$BUILD_LOG", "one\ntwo\nthree\n");
        check("${SCRIPT, template=\"x\"}", "${SCRIPT, template=\"x\"}");
        assert!(uses("a ${BUILD_LOG, maxLines=3}", "BUILD_LOG"));
        assert!(!uses("$BUILD_LOGS", "BUILD_LOG"));
        check("$PROJECT_URL", "http://ci/jobs/app/");
    }
}
