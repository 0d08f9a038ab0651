//! `executors.local`: capacity, the environment builds get, the paths they may use and
//! their sandbox.

use crate::config::{LocalExecutorConfig, PassEnv, SandboxMode};
use crate::reader::{Ctx, Fields, list, string_of};
use kiln_yaml::Node;
use std::path::PathBuf;

const LOCAL: &[&str] = &["capacity", "env", "allow_paths", "sandbox"];

pub(crate) fn local(ctx: &mut Ctx, node: &Node) -> LocalExecutorConfig {
    let mut out = LocalExecutorConfig::default();
    let Some(f) = Fields::new(ctx, node, "executors.local", LOCAL) else {
        return out;
    };
    if let Some(c) = f.number(ctx, "capacity", 1) {
        out.capacity = usize::try_from(c).unwrap_or(usize::MAX);
    }
    if let Some(n) = f.get("env") {
        let path = f.sub("env");
        for (i, item) in list(ctx, n, &path).iter().enumerate() {
            out.env.extend(pass_env(ctx, item, &format!("{path}[{i}]")));
        }
    }
    if let Some(n) = f.get("allow_paths") {
        let path = f.sub("allow_paths");
        for (i, item) in list(ctx, n, &path).iter().enumerate() {
            out.allow_paths
                .extend(allow_path(ctx, item, &format!("{path}[{i}]")));
        }
    }
    if let Some(n) = f.get("sandbox") {
        out.sandbox = sandbox(ctx, n, &f.sub("sandbox")).unwrap_or_default();
    }
    f.finish(ctx);
    out
}

/// `NAME` or `NAME=value`, with a name a shell accepts.
fn pass_env(ctx: &mut Ctx, node: &Node, path: &str) -> Option<PassEnv> {
    let text = string_of(ctx, node, path)?;
    let (name, value) = match text.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (text.as_str(), None),
    };
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        ctx.expected(node, path, "a variable name (`NAME`) or `NAME=value`");
        return None;
    }
    Some(match value {
        Some(value) => PassEnv::Set(name.to_owned(), value.to_owned()),
        None => PassEnv::Inherit(name.to_owned()),
    })
}

fn allow_path(ctx: &mut Ctx, node: &Node, path: &str) -> Option<PathBuf> {
    let text = string_of(ctx, node, path)?;
    if text.trim().is_empty() {
        ctx.expected(node, path, "a directory path");
        return None;
    }
    Some(PathBuf::from(text))
}

fn sandbox(ctx: &mut Ctx, node: &Node, path: &str) -> Option<SandboxMode> {
    let from_name = |name: &str| match name {
        "landlock" => Some(SandboxMode::Landlock),
        "off" => Some(SandboxMode::Off),
        _ => None,
    };
    let (names, from_name) = (SandboxMode::NAMES, from_name);
    crate::reader::named(
        ctx,
        node,
        path,
        names,
        from_name,
        "`landlock` or `off`",
        "a sandbox",
    )
}
