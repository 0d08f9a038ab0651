//! The server's memory after loud builds. glibc's allocator serves a request of 128 KiB or
//! more with a mapping of its own, returned to the system when freed, but once such a block
//! is freed it raises that limit to the block's size (up to 32 MiB): from then on a loud
//! build's log buffers (a few MiB each, in flight between the recorder, the store and the
//! followers) come from its heaps, where what a build frees stays resident among what lives
//! on. The server's resident size so crept up by a few MB with every loud build. A fixed
//! limit (glibc's `mmap_threshold` tunable, which also turns the raising off) keeps large
//! blocks as mappings that go back to the system when freed.
//!
//! glibc reads its tunables when the process starts, so `kiln server` runs itself again
//! with the tunable added to `GLIBC_TUNABLES` (the process keeps its id, arguments, open
//! files and the rest of its environment) unless the tunable is set already, by kiln or by
//! the operator (who may set another value).

/// The tunable `kiln server` runs with: glibc's initial limit, fixed.
const TUNABLE: &str = "glibc.malloc.mmap_threshold=131072";

/// Runs this `kiln server` process again with [`TUNABLE`] set, unless glibc's
/// `mmap_threshold` is set already; returns (after logging why) if it cannot.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn fixed_mmap_threshold() {
    use std::os::unix::process::CommandExt as _;
    let current = std::env::var_os("GLIBC_TUNABLES").unwrap_or_default();
    if current
        .to_string_lossy()
        .contains("glibc.malloc.mmap_threshold")
    {
        return;
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => {
            tracing::warn!(%error, "cannot find kiln's own executable; glibc's malloc keeps its default mmap threshold");
            return;
        }
    };
    let mut tunables = current;
    if !tunables.is_empty() {
        tunables.push(":");
    }
    tunables.push(TUNABLE);
    // `exec` only returns on failure.
    let error = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("GLIBC_TUNABLES", tunables)
        .exec();
    tracing::warn!(%error, "cannot run kiln again with a fixed malloc mmap threshold; going on without");
}

/// Other C libraries have no such tunable.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn fixed_mmap_threshold() {}
