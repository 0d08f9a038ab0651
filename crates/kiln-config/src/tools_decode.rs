//! The YAML tree -> what builds are given besides services: `config_files:` and `tools:`.

use crate::decode::Places;
use crate::reader::{Ctx, Fields, list};
use crate::services::{ConfigFileConfig, ServicesConfig, ToolConfig, ToolKind};
use kiln_yaml::Node;
use std::path::PathBuf;

const CONFIG_FILE: &[&str] = &[
    "id",
    "name",
    "content",
    "content_env",
    "content_file",
    "secret",
];
const TOOL: &[&str] = &["name", "type", "home"];

/// Decodes `config_files:` and `tools:` when present in `top`.
pub(crate) fn build_files(
    ctx: &mut Ctx,
    top: &Fields,
    out: &mut ServicesConfig,
    places: &mut Places,
) {
    if let Some(n) = top.get("config_files") {
        for (i, item) in list(ctx, n, "config_files").iter().enumerate() {
            out.config_files.extend(config_file(ctx, item, i, places));
        }
    }
    if let Some(n) = top.get("tools") {
        for (i, item) in list(ctx, n, "tools").iter().enumerate() {
            out.tools.extend(tool(ctx, item, i, places));
        }
    }
}

fn config_file(
    ctx: &mut Ctx,
    node: &Node,
    i: usize,
    places: &mut Places,
) -> Option<ConfigFileConfig> {
    let f = Fields::new(ctx, node, &format!("config_files[{i}]"), CONFIG_FILE)?;
    let id = f.naming_string(ctx, ("id", "a config file"), &mut places.config_file_ids);
    let content = f.secret(ctx, "content");
    if content.is_none()
        && ["content", "content_env", "content_file"]
            .iter()
            .all(|k| f.get(k).is_none())
    {
        f.missing(
            ctx,
            "content",
            "a config file (or `content_file`, `content_env`)",
        );
    }
    let secret = flag(ctx, &f, "secret");
    let name = f.string(ctx, "name");
    f.finish(ctx);
    Some(ConfigFileConfig {
        id: id?,
        name,
        content: content?,
        secret,
    })
}

fn tool(ctx: &mut Ctx, node: &Node, i: usize, places: &mut Places) -> Option<ToolConfig> {
    let path = format!("tools[{i}]");
    let f = Fields::new(ctx, node, &path, TOOL)?;
    let name = f.naming_string(ctx, ("name", "a tool installation"), &mut places.tool_names);
    let kind = match f.get("type") {
        Some(n) => kind(ctx, n, &f.sub("type")),
        None => {
            f.missing(ctx, "type", "a tool installation");
            None
        }
    };
    let home = f.required_string(ctx, "home", "a tool installation");
    f.finish(ctx);
    Some(ToolConfig {
        name: name?,
        kind: kind?,
        home: PathBuf::from(home?),
    })
}

fn kind(ctx: &mut Ctx, node: &Node, path: &str) -> Option<ToolKind> {
    let (names, from_name) = (ToolKind::NAMES, ToolKind::from_name);
    let must_be = format!("one of {}", ToolKind::NAMES.join(", "));
    crate::reader::named(
        ctx,
        node,
        path,
        names,
        from_name,
        &must_be,
        "a tool type kiln knows",
    )
}

/// `true` or `false` (absent: false).
fn flag(ctx: &mut Ctx, f: &Fields, key: &str) -> bool {
    match f.string(ctx, key).as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            if let Some(n) = f.get(key) {
                ctx.expected(n, &f.sub(key), "`true` or `false`");
            }
            false
        }
    }
}
