//! End-to-end tests of the engine: real pipelines (parsed, planned) run by `run_build` with
//! the local executor in temporary directories. No test asserts on timing.

mod harness;

mod concurrency;
mod sequential;
