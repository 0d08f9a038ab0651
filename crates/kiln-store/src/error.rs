/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store I/O failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("stored record `{key}` is corrupt")]
    Corrupt {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("build {0} does not exist")]
    NoSuchBuild(String),
    #[error("store schema version {found} is newer than this kiln understands ({supported})")]
    SchemaTooNew { found: u32, supported: u32 },
    #[error("invalid job name `{0}`: use letters, digits, `-`, `_` and `.`")]
    InvalidJobName(String),
}
