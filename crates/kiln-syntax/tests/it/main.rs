//! The kiln-syntax test suite: one binary (fixture snapshots, span sanity, properties,
//! limits, small focused checks).

// Helpers here are test code; a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fixtures;
mod limits;
mod props;
mod snippets;
mod spans;
