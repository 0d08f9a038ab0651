//! The integration tests of kiln-executor, in one binary: the process runner against real
//! processes, and the local executor's file operations against a temporary workspace.

// Helper functions outside `#[test]` functions are test code too; a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod files;
mod process;
