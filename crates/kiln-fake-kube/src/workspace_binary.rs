//! Binaries of this workspace for the fake's containers to run (e.g. the kiln agent a pod's
//! init container installs), found next to the running test and built when missing.

use std::path::PathBuf;

/// The binary `bin` of package `package` in the target directory of the running test or
/// benchmark (`target/debug/` or `target/release/`), built with cargo when it is not there.
pub fn workspace_binary(package: &str, bin: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the running test: {e}"))?;
    // Tests and benches run from `<target>/<profile>/deps/`.
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or_else(|| format!("unexpected test location {}", exe.display()))?
        .to_path_buf();
    let path = profile_dir.join(bin);
    if !path.exists() {
        let target = profile_dir
            .parent()
            .ok_or_else(|| format!("unexpected target directory {}", profile_dir.display()))?;
        // The directory is named after the profile, except `dev`'s.
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "--profile", profile, "-p", package, "--bin", bin])
            .env("CARGO_TARGET_DIR", target)
            .status()
            .map_err(|e| format!("cannot run cargo to build {bin}: {e}"))?;
        if !status.success() {
            return Err(format!("building {bin} failed"));
        }
    }
    if path.exists() {
        Ok(path)
    } else {
        Err(format!("no {bin} at {}", path.display()))
    }
}
