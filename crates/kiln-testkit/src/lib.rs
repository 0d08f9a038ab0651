//! Test support for kiln's crates: a [`FakeExecutor`] (scripted processes, an in-memory
//! workspace, virtual time through `tokio::time`), a [`MemoryStore`] behind kiln-store's
//! `Store` trait, the operations every store must answer alike ([`store_contract`]), a
//! PostgreSQL server of the test's own ([`TestPostgres`]), and git repositories made by the
//! test ([`git`], [`GitRepo`]).
//!
//! Dev-only: crates name it under `[dev-dependencies]`, never as a normal dependency (the
//! layering test in `tests/layering.rs` fails otherwise). It depends on the two traits it
//! implements (kiln-executor, kiln-store) and nothing above them, so any crate above them can
//! use it in its tests without a dependency cycle.
//!
//! Helpers here panic with a message when a test's setup cannot be made (git missing, a
//! command failing): a test must fail loudly, never pass without testing.

mod fake_executor;
mod git;
mod memory_store;
mod postgres;
mod scripted_process;
pub mod store_contract;

pub use fake_executor::FakeExecutor;
pub use git::{GitRepo, git};
pub use memory_store::MemoryStore;
pub use postgres::{TEST_ROLE, TestPostgres};
pub use scripted_process::ScriptedProcess;
