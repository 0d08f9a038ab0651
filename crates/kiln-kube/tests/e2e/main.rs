//! kiln-kube's executor end to end against the fake cluster (kiln-fake-kube): real pods whose
//! containers run the real kiln-agent binary, pipelines run by the real engine.
//!
//! The agent binary: the fake's containers see the host's file system (a copy-on-write
//! overlay), so the init container installs the kiln-agent built in this target directory
//! (`target/debug/kiln-agent`, found next to this test's `deps/` directory; built with
//! `cargo build -p kiln-agent` when missing).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent_tls;
mod api_faults;
mod autoscale;
mod harness;
mod kaniko;
mod lifecycle;
mod local_run;
mod node_loss;
mod orphans;
mod pipelines;
mod pool;
mod proxy;
#[path = "../support/registry.rs"]
mod registry_support;
mod slots;
mod steps;
