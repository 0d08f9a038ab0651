//! The YAML tree -> a job's `multibranch:` / `branches:`.

use crate::cron::Schedule;
use crate::multibranch::{ChangeBuild, MultibranchConfig, OrphanedItemStrategy};
use crate::reader::{Ctx, Fields, list, string_of};
use kiln_diagnostics::Diagnostic;
use kiln_yaml::{Node, NodeKind};

const MULTIBRANCH: &[&str] = &[
    "branches",
    "tags",
    "change_requests",
    "change_build",
    "scan",
    "orphaned_item_strategy",
];
const ORPHANED: &[&str] = &["days_to_keep", "num_to_keep", "keep_builds"];
const DEFAULT_SCAN: &str = "H * * * *";

/// A job's `multibranch:` and `branches:` (either makes the job multibranch).
pub(crate) fn multibranch(ctx: &mut Ctx, job: &Fields, name: &str) -> Option<MultibranchConfig> {
    let shorthand = job
        .get("branches")
        .map(|n| patterns(ctx, n, &job.sub("branches")));
    let mut config = match job.get("multibranch").map(|n| (n, &n.kind)) {
        None | Some((_, NodeKind::Bool(false))) => {
            return shorthand.map(|branches| defaults(name, branches));
        }
        Some((_, NodeKind::Bool(true))) => defaults(name, vec!["**".to_owned()]),
        Some((node, NodeKind::Map(_))) => detailed(ctx, node, &job.sub("multibranch"), name)?,
        Some((node, _)) => {
            ctx.expected(
                node,
                &job.sub("multibranch"),
                "`true`, `false` or a mapping",
            );
            return None;
        }
    };
    if let Some(branches) = shorthand {
        if let Some(span) = job.key_span("branches")
            && job
                .get("multibranch")
                .is_some_and(|n| matches!(n.kind, NodeKind::Map(_)))
        {
            ctx.error(
                Diagnostic::warning("ignored-key", "`branches` beside `multibranch.branches`")
                    .with_primary(span, "the job's `branches:` is used"),
            );
        }
        config.branches = branches;
    }
    Some(config)
}

fn defaults(name: &str, branches: Vec<String>) -> MultibranchConfig {
    MultibranchConfig {
        branches,
        tags: Vec::new(),
        change_requests: true,
        change_build: ChangeBuild::Merge,
        scan: default_scan(name),
        orphaned: OrphanedItemStrategy::default(),
    }
}

/// The hourly scan (`H * * * *` always parses; were it not to, no periodic scan).
fn default_scan(name: &str) -> Option<Schedule> {
    Schedule::parse(DEFAULT_SCAN, name).ok()
}

fn detailed(ctx: &mut Ctx, node: &Node, path: &str, name: &str) -> Option<MultibranchConfig> {
    let f = Fields::new(ctx, node, path, MULTIBRANCH)?;
    let branches = f.get("branches").map_or_else(
        || vec!["**".to_owned()],
        |n| patterns(ctx, n, &f.sub("branches")),
    );
    let tags = f
        .get("tags")
        .map(|n| match &n.kind {
            NodeKind::Bool(true) => vec!["**".to_owned()],
            NodeKind::Bool(false) => Vec::new(),
            _ => patterns(ctx, n, &f.sub("tags")),
        })
        .unwrap_or_default();
    let change_requests = boolean(ctx, &f, "change_requests", true);
    let change_build = match f.string(ctx, "change_build").as_deref() {
        None | Some("merge") => ChangeBuild::Merge,
        Some("head") => ChangeBuild::Head,
        Some(_) => {
            if let Some(n) = f.get("change_build") {
                ctx.expected(n, &f.sub("change_build"), "`merge` or `head`");
            }
            ChangeBuild::Merge
        }
    };
    let scan = match (f.get("scan"), f.string(ctx, "scan")) {
        (Some(_), Some(spec)) if spec == "off" => None,
        (Some(n), Some(spec)) => match Schedule::parse(&spec, name) {
            Ok(s) => Some(s),
            Err(e) => {
                ctx.error(
                    Diagnostic::error(
                        "invalid-cron",
                        format!("invalid cron spec in `{}`", f.sub("scan")),
                    )
                    .with_primary(n.span, e),
                );
                None
            }
        },
        _ => default_scan(name),
    };
    let orphaned = f
        .get("orphaned_item_strategy")
        .map(|n| orphaned(ctx, n, &f.sub("orphaned_item_strategy")))
        .unwrap_or_default();
    f.finish(ctx);
    Some(MultibranchConfig {
        branches,
        tags,
        change_requests,
        change_build,
        scan,
        orphaned,
    })
}

fn orphaned(ctx: &mut Ctx, node: &Node, path: &str) -> OrphanedItemStrategy {
    let Some(f) = Fields::new(ctx, node, path, ORPHANED) else {
        return OrphanedItemStrategy::default();
    };
    let out = OrphanedItemStrategy {
        days_to_keep: f.number(ctx, "days_to_keep", 0),
        num_to_keep: f.number(ctx, "num_to_keep", 0),
        keep_builds: boolean(ctx, &f, "keep_builds", false),
    };
    f.finish(ctx);
    out
}

fn boolean(ctx: &mut Ctx, f: &Fields, key: &str, default: bool) -> bool {
    match f.get(key).map(|n| (n, &n.kind)) {
        None => default,
        Some((_, NodeKind::Bool(b))) => *b,
        Some((n, _)) => {
            ctx.expected(n, &f.sub(key), "`true` or `false`");
            default
        }
    }
}

/// A pattern or a list of them.
fn patterns(ctx: &mut Ctx, node: &Node, path: &str) -> Vec<String> {
    let items: Vec<Node> = match &node.kind {
        NodeKind::Str(_) => vec![node.clone()],
        _ => list(ctx, node, path).to_vec(),
    };
    let mut out = Vec::new();
    for item in &items {
        match string_of(ctx, item, path) {
            Some(p) if !p.trim().is_empty() => out.push(p.trim().to_owned()),
            Some(_) => ctx.expected(item, path, "a non-empty branch pattern"),
            None => {}
        }
    }
    out
}
