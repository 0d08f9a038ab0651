//! The scheduler end to end: a real sled store in a temporary data directory, real git
//! repositories made by the tests, `dir:` and `repo:` jobs, the local executor.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod builds;
mod computed;
mod control;
mod kube;
mod kube_dockerfile;
mod kube_stages;
mod multibranch;
mod queue;
mod recovery;
mod repo;
mod retention;
mod scripts;
mod triggers;
