//! What goes wrong talking to PostgreSQL, carried inside [`StoreError::Backend`].

use kiln_store::StoreError;

/// An error of the PostgreSQL store.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("PostgreSQL query failed")]
    Query(#[source] tokio_postgres::Error),
    #[error("no PostgreSQL connection could be had from the pool")]
    Pool(#[source] deadpool_postgres::PoolError),
    #[error("cannot build the connection pool")]
    Build(#[source] deadpool_postgres::BuildError),
    #[error("invalid PostgreSQL connection URL (`store.postgres.url`)")]
    Url(#[source] tokio_postgres::Error),
    #[error("cannot read the CA certificates in {path}")]
    CaFile {
        path: std::path::PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("cannot set up TLS")]
    Tls(#[source] rustls::Error),
    #[error("cannot start the PostgreSQL store's runtime")]
    Runtime(#[source] std::io::Error),
    #[error("the PostgreSQL store's runtime stopped before answering")]
    Stopped,
    #[error("{what} {value} is out of range")]
    OutOfRange { what: &'static str, value: String },
}

impl From<PgError> for StoreError {
    fn from(e: PgError) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        PgError::Query(e)
    }
}

impl From<deadpool_postgres::PoolError> for PgError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        PgError::Pool(e)
    }
}

/// A query's error as the store's.
pub(crate) fn query(e: tokio_postgres::Error) -> StoreError {
    PgError::Query(e).into()
}

/// A stored number (`bigint`) as kiln's.
pub(crate) fn to_u64(what: &'static str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| {
        PgError::OutOfRange {
            what,
            value: value.to_string(),
        }
        .into()
    })
}

/// kiln's number as PostgreSQL's `bigint`.
pub(crate) fn to_i64(what: &'static str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| {
        PgError::OutOfRange {
            what,
            value: value.to_string(),
        }
        .into()
    })
}
