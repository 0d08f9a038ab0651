//! The store `kiln server` and `kiln store` use: what `store:` in kiln.yaml selects, else
//! sled in the data directory (no PostgreSQL code runs then).

use anyhow::Context as _;
use kiln_config::{Config, StoreConfig};
use kiln_store::{SledStore, Store};
use kiln_store_pg::{PgOptions, PgStore};
use std::sync::Arc;

/// Opens the configured store (the data directory must exist for sled).
pub fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    match &config.store {
        StoreConfig::Sled => {
            let dir = config.server.data_dir.join("store");
            Ok(Arc::new(SledStore::open(&dir)?))
        }
        StoreConfig::Postgres(pg) => {
            // Read here, by the server only: a build's environment never holds it.
            let url = pg
                .url
                .resolve()
                .context("cannot read `store.postgres.url`")?;
            let options = PgOptions {
                url: url.expose().to_owned(),
                pool_size: pg.pool,
                ca_file: pg.ca_file.clone(),
            };
            let store = PgStore::open(&options)?;
            tracing::info!(database = store.target(), "state in PostgreSQL");
            Ok(Arc::new(store))
        }
    }
}

/// Where the store is, for messages: the sled directory or the database (no password).
pub fn describe(config: &Config) -> String {
    match &config.store {
        StoreConfig::Sled => config.server.data_dir.join("store").display().to_string(),
        StoreConfig::Postgres(_) => "the PostgreSQL store of `store.postgres`".to_owned(),
    }
}
