//! The kiln agent: a small program that runs in every step container of a build pod, runs the
//! processes and file operations the controller asks for, and keeps each process's output in a
//! file on the shared volume so a lost connection or a restarted controller loses nothing.
//!
//! [`protocol`] is the wire protocol, the single source of truth for both sides; the
//! controller side lives in kiln-kube. This crate must stay small and must not depend on kube,
//! k8s-openapi or any kiln crate other than kiln-executor (whose process runner it reuses, so
//! a step behaves the same on a laptop and in a pod).

mod agent;
mod cli;
mod controller_url;
mod failure;
pub mod fence;
mod files;
pub mod handshake;
pub mod init;
mod output_log;
mod presence;
pub mod protocol;
mod runner;
mod session;
pub mod tls;

pub use agent::{Agent, AgentConfig, TOKEN_ENV};
pub use cli::{CliError, DEFAULT_RUN_DIR, Options, main_with_args};
pub use controller_url::ControllerUrl;
pub use output_log::Ended;
pub use presence::Presence;
pub use runner::{dial, listen};
pub use tls::{CA_ENV, ControllerTls};
