//! `locks:`: the lockable resources `lock(...)` steps and options take, with the labels
//! `lock(label: ...)` selects them by (as the Lockable Resources plugin declares them).
//! A resource a pipeline names without it being declared is created when first used.

use crate::reader::{Ctx, Fields, list, string_of};
use kiln_diagnostics::{Diagnostic, Span};
use kiln_yaml::{Node, NodeKind};

const LOCK: &[&str] = &["name", "labels", "description"];

/// One declared resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockConfig {
    pub name: String,
    /// Written as a list, or as one string of labels separated by spaces (the plugin's way).
    pub labels: Vec<String>,
    pub description: Option<String>,
}

/// Reads the `locks:` list; names must be unique.
pub(crate) fn locks(ctx: &mut Ctx, node: &Node) -> Vec<LockConfig> {
    let mut out: Vec<LockConfig> = Vec::new();
    let mut spans: Vec<Span> = Vec::new();
    for (i, item) in list(ctx, node, "locks").iter().enumerate() {
        let Some(f) = Fields::new(ctx, item, &format!("locks[{i}]"), LOCK) else {
            continue;
        };
        let name = f.required_string(ctx, "name", "a lock");
        let labels = f.get("labels").map(|n| labels(ctx, n, &f.sub("labels")));
        let description = f.string(ctx, "description");
        let span = f.get("name").map_or(f.span, |n| n.span);
        f.finish(ctx);
        let Some(name) = name.filter(|n| !n.trim().is_empty()) else {
            continue;
        };
        if let Some(first) = out.iter().position(|l| l.name == name) {
            ctx.error(
                Diagnostic::error("duplicate-name", format!("duplicate lock name `{name}`"))
                    .with_primary(span, "used again here")
                    .with_secondary(spans[first], "first used here"),
            );
            continue;
        }
        spans.push(span);
        out.push(LockConfig {
            name,
            labels: labels.unwrap_or_default(),
            description,
        });
    }
    out
}

fn labels(ctx: &mut Ctx, node: &Node, path: &str) -> Vec<String> {
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    match &node.kind {
        NodeKind::Seq(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, n)| string_of(ctx, n, &format!("{path}[{i}]")))
            .flat_map(|s| words(&s))
            .collect(),
        _ => string_of(ctx, node, path)
            .map(|s| words(&s))
            .unwrap_or_default(),
    }
}
