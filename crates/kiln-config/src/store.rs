//! `store:`: where the server keeps its state.

use crate::SecretSource;
use std::path::PathBuf;

/// `store:`: the embedded sled store in `server.data_dir` (the default, when `store:` is not
/// written), or PostgreSQL.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum StoreConfig {
    #[default]
    Sled,
    Postgres(PostgresConfig),
}

/// `store.postgres:`: the database's URL and the connection pool.
#[derive(Clone, Debug, PartialEq)]
pub struct PostgresConfig {
    /// `url`, `url_env` or `url_file`: a `postgres://` URL (or libpq `key=value` string),
    /// which holds the password; read by the server only, never handed to a build.
    pub url: SecretSource,
    /// `pool`: the most connections the server opens (default 16).
    pub pool: usize,
    /// `ca_file`: PEM certificates to trust besides the system's roots.
    pub ca_file: Option<PathBuf>,
    /// `files_dir`: a directory every controller mounts (a shared volume), where builds'
    /// artifacts, stashes and reports are kept instead of each controller's data directory.
    pub files_dir: Option<PathBuf>,
}

impl StoreConfig {
    /// `store.postgres.files_dir`, when set.
    pub fn files_dir(&self) -> Option<&std::path::Path> {
        match self {
            StoreConfig::Postgres(pg) => pg.files_dir.as_deref(),
            StoreConfig::Sled => None,
        }
    }
}

impl PostgresConfig {
    pub const DEFAULT_POOL: usize = 16;
    /// The largest `pool` accepted (PostgreSQL's default `max_connections` is 100).
    pub const MAX_POOL: u64 = 1000;
}
