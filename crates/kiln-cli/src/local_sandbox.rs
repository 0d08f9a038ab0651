//! The sandbox of the server's local builds: Landlock through this binary as the
//! launcher, hiding kiln's configuration, data directory and secret files.

use kiln_config::{Config, SandboxMode};
use kiln_executor::Sandbox;
use kiln_executor::sandbox::probe;

use std::path::Path;

/// The sandbox `kiln server` gives the scheduler, or `None` (with a warning at start when
/// the kernel cannot enforce one that is asked for).
pub fn local_sandbox(
    config: &Config,
    config_file: Option<&Path>,
    data_dir: &Path,
) -> Option<Sandbox> {
    if config.executors.local.sandbox == SandboxMode::Off {
        tracing::warn!("executors.local.sandbox is off: local builds can read what kiln can read");
        return None;
    }
    if let Err(error) = probe() {
        tracing::warn!(%error, "local builds run without a sandbox: they can read kiln's configuration and data directory (use Kubernetes agents, or a kernel with Landlock)");
        return None;
    }
    let launcher = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => {
            tracing::warn!(%error, "local builds run without a sandbox: cannot find kiln's own executable to launch them");
            return None;
        }
    };
    if let Err(error) = kiln_executor::sandbox::protect_server_process() {
        tracing::warn!(%error, "local builds may read kiln's process environment");
    }
    // Absolute now: the launcher runs in the build's workspace, where a relative path would
    // name something else.
    let hidden = config_file
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()))
        .into_iter()
        .chain([data_dir.to_path_buf()])
        .chain(config.store.files_dir().map(std::path::Path::to_path_buf))
        .chain(config.secret_files());
    tracing::info!("local builds run in a Landlock sandbox");
    Some(Sandbox::new(launcher).hide(hidden))
}
