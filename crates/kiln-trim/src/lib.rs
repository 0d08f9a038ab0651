//! Gives the memory the allocator keeps after it was freed back to the system.
//!
//! glibc's `malloc` returns freed memory to the system only from the top of a heap (and
//! whole blocks that had a mapping of their own). A loud build's log path frees many
//! megabytes of small and mid-sized blocks among what lives on (the store's cache, other
//! builds), and glibc keeps those pages resident: the server's resident size crept up by a
//! few MB with each loud build while its live heap stayed flat. `malloc_trim(0)` walks
//! glibc's arenas and gives every free page back (`MADV_DONTNEED`), leaving what lives in
//! place.
//!
//! This crate is the workspace's single exception to `unsafe_code = "forbid"`: one call
//! into glibc, which takes no pointer and is thread-safe (glibc locks each arena as it walks
//! it). Elsewhere (musl, macOS, Windows) [`give_back`] does nothing.

/// Asks the allocator to return the free memory it holds to the system; whether it
/// returned any. Costs a walk of glibc's arenas (milliseconds for a few hundred MB), so it
/// is meant for the end of something large (a build), not for a hot path.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(
    unsafe_code,
    reason = "the reviewed FFI call to glibc's malloc_trim; see the crate docs"
)]
pub fn give_back() -> bool {
    // SAFETY: `malloc_trim` takes a size (how much free memory to keep at a heap's top) and
    // no pointer; it only releases pages of free chunks and locks each arena while it
    // walks it, so it is sound to call from any thread at any time.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Other C libraries have no such call (and return freed memory themselves).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn give_back() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `VmRSS` of this process, in KiB.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn resident_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse().ok())
            .unwrap_or(0)
    }

    /// Freed small blocks below one that lives on stay resident until they are given back.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn freed_small_blocks_go_back_to_the_system() {
        const BLOCKS: usize = 64 * 1024;
        const SIZE: usize = 1024;
        // 64 MiB in blocks of 1 KiB (under glibc's mmap threshold: they come from a heap),
        // each written so its pages are resident, then one more block that lives on above
        // them, so glibc's own trimming of a heap's top cannot return them.
        let blocks: Vec<Vec<u8>> = (0..BLOCKS).map(|i| vec![i as u8 | 1; SIZE]).collect();
        let pin = vec![1_u8; SIZE];
        drop(blocks);
        let before = resident_kib();
        assert!(give_back(), "glibc had free memory to give back");
        let after = resident_kib();
        assert!(
            before.saturating_sub(after) > 32 * 1024,
            "VmRSS went from {before} KiB to {after} KiB after giving back 64 MiB of freed blocks"
        );
        assert_eq!(pin.len(), SIZE);
    }

    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    #[test]
    fn elsewhere_nothing_is_given_back() {
        assert!(!give_back());
    }
}
