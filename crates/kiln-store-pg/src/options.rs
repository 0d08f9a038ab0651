//! How to reach the database.

use std::path::PathBuf;

/// The connection settings of a [`PgStore`](crate::PgStore).
#[derive(Clone)]
pub struct PgOptions {
    /// A libpq-style URL (`postgres://user:password@host:5432/db?sslmode=require`) or
    /// key=value string. Holds the password: never logged, never in `Debug`.
    pub url: String,
    /// The most connections the pool opens.
    pub pool_size: usize,
    /// PEM certificates to trust besides the system's roots (a private CA).
    pub ca_file: Option<PathBuf>,
}

impl PgOptions {
    /// The default pool size.
    pub const DEFAULT_POOL: usize = 16;

    pub fn new(url: impl Into<String>) -> PgOptions {
        PgOptions {
            url: url.into(),
            pool_size: Self::DEFAULT_POOL,
            ca_file: None,
        }
    }
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &"****")
            .field("pool_size", &self.pool_size)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}
