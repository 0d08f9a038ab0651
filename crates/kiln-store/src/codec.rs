//! JSON values and the mapping of sled's errors onto [`StoreError`].

use crate::StoreError;
use crate::keys::describe;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::{ConflictableTransactionError, TransactionError};

/// Decodes the JSON value stored under `key` in `tree`; a bad value is `Corrupt`, never a panic.
pub(crate) fn decode<T: DeserializeOwned>(
    tree: &str,
    key: &[u8],
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt {
        key: describe(tree, key),
        source,
    })
}

/// Encodes a record as JSON. kiln's records always serialize; a failure is reported, not hidden.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Backend(Box::new(e)))
}

/// A `Corrupt` error for a structural problem found outside JSON (e.g. a gap in a log).
pub(crate) fn corrupt(tree: &str, key: &[u8], what: &str) -> StoreError {
    StoreError::Corrupt {
        key: describe(tree, key),
        source: <serde_json::Error as serde::de::Error>::custom(what),
    }
}

pub(crate) fn backend(e: sled::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// Aborts a sled transaction with a store error.
pub(crate) fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

pub(crate) fn from_transaction(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => backend(e),
    }
}

/// An error with its sources, `a: b: c`, for log lines.
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
