//! The process runner: spawns a process in its own process group and turns its pipes into a
//! stream of [`OutputChunk`](crate::OutputChunk)s numbered by byte offset.
//!
//! It knows nothing of pipelines so that the kiln agent inside pod containers can reuse it.
//! [`ProcessHandle`] and [`ProcessKiller`] are built from channels and a function, so a
//! backend that runs processes elsewhere can hand out the same types.

mod group;
mod handle;
mod killer;
mod options;
mod pump;
mod spawn;

pub use handle::ProcessHandle;
pub use killer::{KillMode, ProcessKiller};
pub use options::SpawnOptions;
pub use spawn::{spawn_local, spawn_local_with};
