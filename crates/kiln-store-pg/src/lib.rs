//! kiln's [`Store`](kiln_store::Store) on PostgreSQL: [`PgStore`].
//!
//! Jobs, builds and logs live in `kiln_*` tables of one database (see `schema.rs`); the
//! schema is versioned and migrated at [`PgStore::open`] under an advisory lock, so several
//! kiln processes starting at once migrate it once. A log is its appends, each a row with its
//! text and its [`LogEvent`](kiln_store::LogEvent)s, written in the transaction that moves
//! the build's log length: an append is atomic with its events, and a read by offset returns
//! exactly the committed bytes. Every write returns once its transaction committed (with
//! `synchronous_commit` on, which the store sets on each connection).
//!
//! The [`Store`](kiln_store::Store) trait is synchronous; the store owns a small tokio
//! runtime of its own for tokio-postgres and deadpool's pool, and a call blocks its caller
//! (never a runtime of the caller's) until the answer comes back (`bridge.rs`).
//!
//! Depends on kiln-store (the trait and records) and kiln-types only; the only crate that
//! names tokio-postgres and deadpool.

mod bridge;
mod builds;
mod claims;
mod controls;
mod db;
mod error;
mod files;
mod listen;
mod logs;
mod once;
mod options;
mod pg_store;
mod schema;
mod tls;

pub use error::PgError;
pub use kiln_store::{Claim, ClaimLimits, Lease, Once};
pub use options::PgOptions;
pub use pg_store::PgStore;
