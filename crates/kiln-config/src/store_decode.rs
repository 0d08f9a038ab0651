//! The YAML tree -> [`StoreConfig`]: `store: {postgres: {url | url_env | url_file, pool, ca_file}}`.

use crate::SecretSource;
use crate::reader::{Ctx, Fields};
use crate::store::{PostgresConfig, StoreConfig};
use kiln_diagnostics::Diagnostic;
use kiln_yaml::Node;
use std::path::PathBuf;

const STORE: &[&str] = &["postgres"];
const POSTGRES: &[&str] = &["url", "url_env", "url_file", "pool", "ca_file", "files_dir"];

pub(crate) fn store(ctx: &mut Ctx, node: &Node) -> StoreConfig {
    let Some(f) = Fields::new(ctx, node, "store", STORE) else {
        return StoreConfig::Sled;
    };
    let out = match f.get("postgres") {
        Some(n) => postgres(ctx, n).map_or(StoreConfig::Sled, StoreConfig::Postgres),
        None => StoreConfig::Sled,
    };
    f.finish(ctx);
    out
}

fn postgres(ctx: &mut Ctx, node: &Node) -> Option<PostgresConfig> {
    let f = Fields::new(ctx, node, "store.postgres", POSTGRES)?;
    let mark = ctx.diags.len();
    let url = f.secret(ctx, "url");
    if url.is_none() && !ctx.had_errors_since(mark) {
        f.missing(ctx, "url", "a PostgreSQL store (or `url_env`, `url_file`)");
    }
    if let (Some(SecretSource::Value(value)), Some(n)) = (&url, f.get("url")) {
        if !looks_like_url(value.expose()) {
            ctx.error(
                Diagnostic::error(
                    "invalid-value",
                    "`store.postgres.url` must be a `postgres://` URL or libpq `key=value` settings",
                )
                .with_primary(n.span, "not a PostgreSQL connection string")
                .with_note("help: keep the password out of the file with `url_env` or `url_file`"),
            );
        }
    }
    let pool = match f.number(ctx, "pool", 1) {
        None => Some(PostgresConfig::DEFAULT_POOL),
        Some(n) if n <= PostgresConfig::MAX_POOL => usize::try_from(n).ok(),
        Some(_) => {
            if let Some(n) = f.get("pool") {
                ctx.expected(
                    n,
                    "store.postgres.pool",
                    &format!(
                        "a number of connections from 1 to {}",
                        PostgresConfig::MAX_POOL
                    ),
                );
            }
            None
        }
    };
    let ca_file = f.string(ctx, "ca_file").map(PathBuf::from);
    let files_dir = f.string(ctx, "files_dir").map(PathBuf::from);
    if let (Some(dir), Some(n)) = (&files_dir, f.get("files_dir")) {
        if !dir.is_absolute() {
            ctx.expected(
                n,
                "store.postgres.files_dir",
                "an absolute path (a directory every controller mounts)",
            );
        }
    }
    f.finish(ctx);
    Some(PostgresConfig {
        url: url?,
        pool: pool?,
        ca_file,
        files_dir,
    })
}

/// A URL of PostgreSQL's scheme, or `key=value` settings (`host=db dbname=kiln`).
fn looks_like_url(text: &str) -> bool {
    let text = text.trim();
    text.starts_with("postgres://")
        || text.starts_with("postgresql://")
        || (text.contains('=') && !text.contains("://"))
}
