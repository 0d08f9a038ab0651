//! [`Db`]: the pool, and what every query needs (a connection, record decoding).

use crate::PgError;
use crate::error::query;
use deadpool_postgres::{Object, Pool};
use kiln_store::{BuildStatus, StoreError};
use kiln_types::BuildRef;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The database, as async operations (the [`Store`](kiln_store::Store) methods run them
/// through the bridge). Cheap to clone: a handle on the pool.
#[derive(Clone)]
pub(crate) struct Db {
    pub(crate) pool: Pool,
}

impl Db {
    pub(crate) async fn client(&self) -> Result<Object, StoreError> {
        Ok(self.pool.get().await.map_err(PgError::Pool)?)
    }

    /// Whether a write commits now: the write probe in `kiln_meta`.
    pub(crate) async fn check_writable(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO kiln_meta (key, value) VALUES ('write_probe', now()::text)
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                &[],
            )
            .await
            .map_err(query)?;
        Ok(())
    }
}

/// The status column's value (the record's serde name).
pub(crate) fn status_name(status: BuildStatus) -> &'static str {
    match status {
        BuildStatus::Queued => "queued",
        BuildStatus::Running => "running",
        BuildStatus::WaitingForInput => "waiting_for_input",
        BuildStatus::Finished => "finished",
    }
}

/// How a build is named in errors: `builds/JOB#N`, as the sled store names it.
pub(crate) fn build_key(table: &str, id: &BuildRef) -> String {
    format!("{table}/{}#{}", id.job, id.number)
}

/// Decodes a stored JSON value; a bad one is `Corrupt`, never a panic.
pub(crate) fn decode<T: DeserializeOwned>(key: String, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|source| StoreError::Corrupt { key, source })
}

/// Encodes a record as JSON text.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(Box::new(e)))
}
