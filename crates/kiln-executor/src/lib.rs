//! Where a build's steps run: the [`Executor`] trait, process specs, output streams with
//! byte offsets, and the local-process backend.
//!
//! The engine asks an executor for processes ([`ProcessSpec`]: argv, env, working directory)
//! and for file operations inside the build's workspace; it never spawns anything itself.
//! The same process runner ([`process`]) serves the local backend and, later, the kiln agent
//! inside each pod container, so a step behaves the same on a laptop and in a pod. So does
//! the Ant-pattern file matcher ([`FileSet`]).
//!
//! Must not depend on any other kiln crate: it knows processes and files, not pipelines.

mod confine;
mod error;
mod executor;
mod fileset;
mod image;
mod layer;
mod local;
pub mod process;
pub mod sandbox;
mod spec;

pub use confine::{Confinement, workspace_tmp};
pub use error::{ExecError, one_line};
pub use executor::{Executor, FileEntry};
pub use fileset::{ANT_DEFAULT_EXCLUDES, FileSet};
pub use image::{BuiltImage, ImageBuild, ImageBuilt, ImageLog, ImageLogLine};
pub use layer::{Layered, SpawnLayer};
pub use local::LocalExecutor;
pub use process::{KillMode, ProcessHandle, ProcessKiller, SpawnOptions};
pub use sandbox::Sandbox;
pub use spec::{ExitStatus, OutputChunk, OutputMode, ProcessSpec, StreamKind};
