//! A fake Kubernetes for kiln's tests: an API server speaking real HTTP/JSON on 127.0.0.1 that
//! kube-rs and kubectl accept, with a scheduler and a simulated kubelet that runs each
//! container's command as a local process in its own mount namespace.
//!
//! Start one with [`FakeKube::start`], point a client at [`FakeKube::url`] (or write a
//! kubeconfig with [`FakeKube::write_kubeconfig`]), and inject faults through the handle.
//! This crate is test support: no production crate may depend on it. It does not depend on
//! kube or k8s-openapi (objects are JSON), so it can describe what the real apiserver does
//! without borrowing a client's idea of it.

mod agent_ports;
mod api;
mod api_error;
mod autoscaler;
mod catalog;
mod config;
mod controller;
mod events;
mod fake_kube;
mod faults;
mod field_schema;
mod garbage;
mod kiln_identity;
mod kubelet;
mod log_store;
mod node_lifecycle;
mod patch;
mod pod_defaults;
pub mod pod_security;
mod process_table;
mod quantity;
pub mod rbac;
mod recorder;
mod scheduler;
mod selector;
mod store;
mod time;
mod validation;
mod workspace_binary;

pub use agent_ports::free_agent_ports;
pub use api_error::{ApiError, FieldCause};
pub use config::{
    AutoscalerConfig, FakeKubeConfig, ImageConfig, Isolation, NodeConfig, UnknownImages,
};
pub use fake_kube::{FakeKube, FakeKubeError};
pub use kiln_identity::KILN_ACCOUNT;
pub use recorder::RequestRecord;
pub use workspace_binary::workspace_binary;
