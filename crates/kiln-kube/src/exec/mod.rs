//! The Kubernetes `Executor`: one pod per build (or stage), steps in its containers through
//! the agent link, taking a pod over after a controller restart, its typed errors, and
//! `kiln run --kubeconfig`'s cluster reached from a laptop.

pub(crate) mod error;
pub(crate) mod executor;
pub(crate) mod local_run;
