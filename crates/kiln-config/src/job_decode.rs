//! One `jobs:` entry -> [`JobConfig`].

use crate::cron::Schedule;
use crate::decode::{Places, source};
use crate::reader::{Ctx, Fields, list, string_of};
use crate::{JobConfig, RetentionConfig, Source, TriggersConfig};
use kiln_diagnostics::{Diagnostic, Spanned};
use kiln_types::JobName;
use kiln_yaml::{Node, NodeKind};
use std::collections::BTreeMap;

const JOB: &[&str] = &[
    "name",
    "repo",
    "dir",
    "branch",
    "jenkinsfile",
    "parameters",
    "triggers",
    "concurrency",
    "quiet_period_secs",
    "retention",
    "webhook_secret",
    "webhook_secret_env",
    "webhook_secret_file",
    "forge",
    "multibranch",
    "branches",
];
const TRIGGERS: &[&str] = &["cron", "poll", "upstream"];
const RETENTION: &[&str] = &["builds", "days"];

pub(crate) const DEFAULT_BRANCH: &str = "main";
pub(crate) const DEFAULT_JENKINSFILE: &str = "Jenkinsfile";

pub(crate) fn job(ctx: &mut Ctx, node: &Node, i: usize, places: &mut Places) -> Option<JobConfig> {
    let path = format!("jobs[{i}]");
    let f = Fields::new(ctx, node, &path, JOB)?;
    let mark = ctx.diags.len();
    let name = job_name(ctx, &f, places);
    let label = format!("job `{}`", name.as_ref().map_or("?", JobName::as_str));
    let source = source(ctx, &f, &label);
    if matches!(source, Some(Source::Dir(_)))
        && let Some(span) = f.key_span("branch")
    {
        ctx.error(
            Diagnostic::warning("ignored-key", "`branch` is ignored for a `dir` job")
                .with_primary(span, "a `dir` job builds the directory as it is"),
        );
    }
    let seed = name.as_ref().map_or("", JobName::as_str);
    let branch = non_empty(ctx, &f, "branch").unwrap_or_else(|| DEFAULT_BRANCH.to_owned());
    let jenkinsfile =
        non_empty(ctx, &f, "jenkinsfile").unwrap_or_else(|| DEFAULT_JENKINSFILE.to_owned());
    let parameters = f
        .get("parameters")
        .map(|n| parameters(ctx, n, &f.sub("parameters")))
        .unwrap_or_default();
    let triggers = f
        .get("triggers")
        .map(|n| triggers(ctx, n, &f.sub("triggers"), seed, places))
        .unwrap_or_default();
    let concurrency = f
        .number(ctx, "concurrency", 1)
        .map_or(1, |c| usize::try_from(c).unwrap_or(usize::MAX));
    let quiet_period_secs = f.number(ctx, "quiet_period_secs", 0).unwrap_or(0);
    let retention = f
        .get("retention")
        .map(|n| retention(ctx, n, &f.sub("retention")))
        .unwrap_or_default();
    let webhook_secret = f.secret(ctx, "webhook_secret");
    let forge = f
        .get("forge")
        .and_then(|n| crate::forge_decode::job_forge(ctx, n, &f.sub("forge"), places));
    let multibranch = crate::multibranch_decode::multibranch(ctx, &f, seed);
    if multibranch.is_some()
        && matches!(source, Some(Source::Dir(_)))
        && let Some(span) = f.key_span("multibranch").or_else(|| f.key_span("branches"))
    {
        ctx.error(
            Diagnostic::error("invalid-value", "a `dir` job cannot be multibranch")
                .with_primary(span, "multibranch jobs discover the branches of a `repo`"),
        );
    }
    f.finish(ctx);
    if ctx.had_errors_since(mark) {
        return None;
    }
    Some(JobConfig {
        name: name?,
        source: source?,
        branch,
        jenkinsfile,
        parameters,
        triggers,
        concurrency,
        quiet_period_secs,
        retention,
        webhook_secret,
        forge,
        multibranch,
        tag: None,
    })
}

fn job_name(ctx: &mut Ctx, f: &Fields, places: &mut Places) -> Option<JobName> {
    let text = f.required_string(ctx, "name", "a job")?;
    let node = f.get("name")?;
    match JobName::new(text.clone())
        .ok()
        .filter(|n| n.parent().is_none())
    {
        Some(name) => {
            places.job_names.push(Spanned::new(text, node.span));
            Some(name)
        }
        None => {
            ctx.error(
                Diagnostic::error("invalid-value", format!("invalid job name `{text}`"))
                    .with_primary(node.span, "not a valid job name")
                    .with_note("help: job names use letters, digits, `-`, `_` and `.`, do not start with `.`, and have at most 100 characters"),
            );
            None
        }
    }
}

fn non_empty(ctx: &mut Ctx, f: &Fields, key: &str) -> Option<String> {
    let value = f.string(ctx, key)?;
    if value.trim().is_empty() {
        if let Some(n) = f.get(key) {
            ctx.expected(n, &f.sub(key), "a non-empty string");
        }
        return None;
    }
    Some(value.trim().to_owned())
}

fn parameters(ctx: &mut Ctx, node: &Node, path: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let NodeKind::Map(entries) = &node.kind else {
        if node.kind != NodeKind::Null {
            ctx.expected(node, path, "a mapping of parameter names to values");
        }
        return out;
    };
    for (k, v) in entries {
        let Some(key) = string_of(ctx, k, path) else {
            continue;
        };
        let value = match &v.kind {
            NodeKind::Null => Some(String::new()),
            _ => string_of(ctx, v, &format!("{path}.{key}")),
        };
        if let Some(value) = value {
            out.insert(key, value);
        }
    }
    out
}

fn triggers(
    ctx: &mut Ctx,
    node: &Node,
    path: &str,
    job: &str,
    places: &mut Places,
) -> TriggersConfig {
    let mut out = TriggersConfig::default();
    let Some(f) = Fields::new(ctx, node, path, TRIGGERS) else {
        return out;
    };
    out.cron = schedule(ctx, &f, "cron", job);
    out.poll = schedule(ctx, &f, "poll", job);
    if let Some(n) = f.get("upstream") {
        let upstream_path = f.sub("upstream");
        let items: Vec<Node> = match &n.kind {
            NodeKind::Str(_) => vec![n.clone()],
            _ => list(ctx, n, &upstream_path).to_vec(),
        };
        for item in &items {
            let Some(text) = string_of(ctx, item, &upstream_path) else {
                continue;
            };
            match JobName::new(text.clone()) {
                Ok(name) => {
                    places.upstream.push(Spanned::new(text, item.span));
                    out.upstream.push(name);
                }
                Err(_) => ctx.expected(item, &upstream_path, "a list of job names"),
            }
        }
    }
    f.finish(ctx);
    out
}

fn schedule(ctx: &mut Ctx, f: &Fields, key: &str, job: &str) -> Option<Schedule> {
    let node = f.get(key)?;
    let spec = f.string(ctx, key)?;
    match Schedule::parse(&spec, job) {
        Ok(s) => {
            for w in s.warnings() {
                ctx.error(
                    Diagnostic::warning("cron-ignored", w.clone()).with_primary(node.span, ""),
                );
            }
            Some(s)
        }
        Err(e) => {
            ctx.error(
                Diagnostic::error(
                    "invalid-cron",
                    format!("invalid cron spec in `{}`", f.sub(key)),
                )
                .with_primary(node.span, e),
            );
            None
        }
    }
}

fn retention(ctx: &mut Ctx, node: &Node, path: &str) -> RetentionConfig {
    let mut out = RetentionConfig::default();
    if let Some(f) = Fields::new(ctx, node, path, RETENTION) {
        out.builds = f.number(ctx, "builds", 1);
        out.days = f.number(ctx, "days", 1);
        f.finish(ctx);
    }
    out
}
