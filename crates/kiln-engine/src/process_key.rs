//! Process keys: the identity of each process a build starts, the same every time the
//! build's steps run again. A build resumed after a controller restart runs its steps again
//! from the start against the same pod; the agent there knows every process by its key, so
//! a process that already ran answers with its recorded output and exit, the one that was
//! running is followed, and nothing runs twice (see `ProcessSpec::key`).
//!
//! A key is `NUMBER.JOB.STAGE.N.COMMAND`: the build number and a digest of the job name (a
//! pooled pod serves many builds), the stage's node id (`p` for pipeline-level posts), the
//! count of processes the stage started before this one, and a digest of the command, its
//! directory and container (a replay that took another path starts a fresh process rather
//! than follow an unrelated one). Within a stage steps run one after the other, so the count
//! is the same on every run that takes the same path.

use crate::shared::Locked;
use kiln_plan::NodeId;
use std::collections::HashMap;
use std::path::Path;

/// Hands out the per-stage positions of one build's processes.
#[derive(Debug)]
pub(crate) struct ProcessKeys {
    prefix: String,
    counts: Locked<HashMap<Option<NodeId>, u64>>,
}

/// A process's place in its build, taken before the process is prepared (a `sh` script
/// with a `#!` line is written to a file named after it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProcessSlot(String);

impl ProcessSlot {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The key of the process at this place running `argv` in `cwd` and `container`.
    pub(crate) fn key(&self, argv: &[String], cwd: &Path, container: Option<&str>) -> String {
        let mut hash = Fnv::default();
        for arg in argv {
            hash.write(arg.as_bytes());
            hash.write(&[0]);
        }
        hash.write(&[1]);
        hash.write(cwd.to_string_lossy().as_bytes());
        hash.write(&[1]);
        hash.write(container.unwrap_or_default().as_bytes());
        format!("{}.{:016x}", self.0, hash.0)
    }
}

impl ProcessKeys {
    pub(crate) fn new(job: &str, number: u64) -> Self {
        let mut hash = Fnv::default();
        hash.write(job.as_bytes());
        ProcessKeys {
            prefix: format!("{number}.{:08x}", hash.0 as u32),
            counts: Locked::default(),
        }
    }

    /// The next process place of stage `node` (`None`: the pipeline's own post blocks).
    pub(crate) fn next(&self, node: Option<NodeId>) -> ProcessSlot {
        let mut counts = self.counts.lock();
        let count = counts.entry(node).or_insert(0);
        *count += 1;
        let stage = node.map_or_else(|| "p".to_owned(), |n| n.0.to_string());
        ProcessSlot(format!("{}.{stage}.{count}", self.prefix))
    }
}

/// FNV-1a, 64 bits: stable across kiln versions and machines (unlike std's hasher), which
/// keys must be since a new controller recomputes them.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn keys_count_per_stage_and_are_the_same_on_every_run() {
        let keys = |job: &str, n: u64| {
            let k = ProcessKeys::new(job, n);
            let a1 = k
                .next(Some(NodeId(1)))
                .key(&argv("sh -c make"), Path::new("/w"), None);
            let b1 = k
                .next(Some(NodeId(2)))
                .key(&argv("sh -c make"), Path::new("/w"), None);
            let a2 = k
                .next(Some(NodeId(1)))
                .key(&argv("sh -c make"), Path::new("/w"), None);
            let post = k.next(None).key(&argv("sh -c make"), Path::new("/w"), None);
            [a1, b1, a2, post]
        };
        let first = keys("app", 7);
        assert_eq!(first, keys("app", 7));
        let [a1, b1, a2, post] = &first;
        assert!(a1.starts_with("7.") && a1.contains(".1.1."), "{a1}");
        assert!(b1.contains(".2.1."), "{b1}");
        assert!(a2.contains(".1.2."), "{a2}");
        assert!(post.contains(".p.1."), "{post}");
        // Another job's build with the same number (a pooled pod) never shares a key.
        assert!(keys("lib", 7).iter().all(|k| !first.contains(k)));
        assert!(keys("app", 8).iter().all(|k| !first.contains(k)));
    }

    #[test]
    fn the_command_directory_and_container_are_part_of_the_key() {
        let slot = ProcessKeys::new("app", 1).next(Some(NodeId(0)));
        let base = slot.key(&argv("sh -c make"), Path::new("/w"), None);
        let others = [
            slot.key(&argv("sh -c make test"), Path::new("/w"), None),
            slot.key(&argv("sh -c make"), Path::new("/w/sub"), None),
            slot.key(&argv("sh -c make"), Path::new("/w"), Some("maven")),
            slot.key(&argv("sh -cmake"), Path::new("/w"), None),
        ];
        for other in &others {
            assert_ne!(&base, other);
        }
        // What the kiln agent accepts as a process id: 1-128 of A-Z a-z 0-9 . _ -
        let long = ProcessKeys::new("j", u64::MAX).next(Some(NodeId(u32::MAX)));
        let key = long.key(&argv("true"), Path::new("/"), None);
        assert!(key.len() <= 128, "{key}");
        assert!(
            key.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
        );
    }
}
