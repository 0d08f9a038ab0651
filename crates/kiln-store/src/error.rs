use std::path::PathBuf;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the store in {} is in use by another process: one kiln server per data directory; \
         stop the other server or give this one another data directory",
        path.display()
    )]
    InUse { path: PathBuf },
    #[error(
        "cannot open the store in {}; if it is damaged, restore the directory from a backup, or \
         move it aside and start with an empty store (builds and logs are in it)",
        path.display()
    )]
    Open {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "cannot open the store at {target}; check that the database is reachable and the \
         connection settings (`store.postgres` in kiln.yaml) are right"
    )]
    Connect {
        /// Where the store is, without credentials (e.g. `db.example.com:5432/kiln`).
        target: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("store I/O failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("stored record `{key}` is corrupt")]
    Corrupt {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the store is not open: reopening it after a failed write has not succeeded yet")]
    Reopening,
    #[error("build {0} does not exist")]
    NoSuchBuild(String),
    #[error("store schema version {found} is newer than this kiln understands ({supported})")]
    SchemaTooNew { found: u32, supported: u32 },
    #[error(
        "build {build} moved on: this controller's claim (epoch {epoch}) is no longer its \
         claim (another controller took it over)"
    )]
    Fenced { build: String, epoch: u64 },
    #[error("log events do not match the appended text: {0}")]
    BadEvents(String),
    #[error(transparent)]
    InvalidJobName(#[from] kiln_types::InvalidJobName),
}
