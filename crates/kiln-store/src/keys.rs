//! Key encodings of the sled trees.
//!
//! A build key is the job name's bytes, a 0x00 separator (job names never contain it) and the
//! build number as a big-endian u64, so a job's builds sort by number and a job's keys share the
//! prefix `job 0x00`. Log chunks extend the build key with the chunk's start offset (big-endian
//! u64); status index entries prefix the build key with one status byte.

use crate::BuildStatus;
use kiln_types::{BuildRef, JobName};

/// Length of the big-endian numbers in keys.
const NUM_LEN: usize = 8;

/// `job 0x00`: the prefix every key of the job's builds starts with.
pub(crate) fn job_prefix(job: &JobName) -> Vec<u8> {
    let mut key = Vec::with_capacity(job.as_str().len() + 1 + NUM_LEN);
    key.extend_from_slice(job.as_str().as_bytes());
    key.push(0);
    key
}

/// `job 0x00 number`.
pub(crate) fn build_key(job: &JobName, number: u64) -> Vec<u8> {
    let mut key = job_prefix(job);
    key.extend_from_slice(&number.to_be_bytes());
    key
}

pub(crate) fn build_key_of(id: &BuildRef) -> Vec<u8> {
    build_key(&id.job, id.number)
}

/// `build_key offset`: the key of the log chunk starting at `offset`.
pub(crate) fn chunk_key(build_key: &[u8], offset: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(build_key.len() + NUM_LEN);
    key.extend_from_slice(build_key);
    key.extend_from_slice(&offset.to_be_bytes());
    key
}

/// The start offset of a log chunk, from its key (the key's last eight bytes).
pub(crate) fn chunk_offset(key: &[u8]) -> Option<u64> {
    trailing_number(key)
}

/// The build key a chunk key belongs to.
pub(crate) fn chunk_build_key(key: &[u8]) -> Option<&[u8]> {
    key.len().checked_sub(NUM_LEN).map(|n| &key[..n])
}

/// The one-byte tag of a status in the status index. Readable in a dump on purpose.
pub(crate) fn status_tag(status: BuildStatus) -> u8 {
    match status {
        BuildStatus::Queued => b'Q',
        BuildStatus::Running => b'R',
        BuildStatus::WaitingForInput => b'W',
        BuildStatus::Finished => b'F',
    }
}

pub(crate) const ALL_STATUSES: [BuildStatus; 4] = [
    BuildStatus::Queued,
    BuildStatus::Running,
    BuildStatus::WaitingForInput,
    BuildStatus::Finished,
];

/// `tag build_key`: a status index entry.
pub(crate) fn status_key(status: BuildStatus, build_key: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + build_key.len());
    key.push(status_tag(status));
    key.extend_from_slice(build_key);
    key
}

/// A readable name for a key of `tree`, for error messages: `builds/JOB#N`.
pub(crate) fn describe(tree: &str, key: &[u8]) -> String {
    match key.iter().position(|&b| b == 0) {
        Some(sep) if key.len() >= sep + 1 + NUM_LEN => {
            let job = String::from_utf8_lossy(&key[..sep]);
            let mut number = [0u8; NUM_LEN];
            number.copy_from_slice(&key[sep + 1..sep + 1 + NUM_LEN]);
            let number = u64::from_be_bytes(number);
            match key.len() - (sep + 1 + NUM_LEN) {
                NUM_LEN => match trailing_number(key) {
                    Some(offset) => format!("{tree}/{job}#{number}@{offset}"),
                    None => format!("{tree}/{job}#{number}"),
                },
                _ => format!("{tree}/{job}#{number}"),
            }
        }
        _ => format!("{tree}/{}", String::from_utf8_lossy(key)),
    }
}

pub(crate) fn trailing_number(key: &[u8]) -> Option<u64> {
    let start = key.len().checked_sub(NUM_LEN)?;
    let mut bytes = [0u8; NUM_LEN];
    bytes.copy_from_slice(&key[start..]);
    Some(u64::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str) -> JobName {
        JobName::new(name).unwrap()
    }

    #[test]
    fn build_keys_sort_by_number_within_a_job() {
        let a = job("app");
        assert!(build_key(&a, 9) < build_key(&a, 10));
        assert!(build_key(&a, 255) < build_key(&a, 256));
        // A job whose name extends another's sorts after all of the shorter job's builds.
        assert!(build_key(&a, u64::MAX) < build_key(&job("app-2"), 0));
        assert!(build_key(&a, 1).starts_with(&job_prefix(&a)));
        assert!(!build_key(&job("app-2"), 1).starts_with(&job_prefix(&a)));
    }

    #[test]
    fn chunk_keys_round_trip() {
        let bk = build_key(&job("app"), 7);
        let ck = chunk_key(&bk, 65_536);
        assert_eq!(chunk_offset(&ck), Some(65_536));
        assert_eq!(chunk_build_key(&ck), Some(bk.as_slice()));
        assert!(chunk_key(&bk, 1) < chunk_key(&bk, 256));
    }

    #[test]
    fn describe_names_builds_and_chunks() {
        let bk = build_key(&job("app"), 7);
        assert_eq!(describe("builds", &bk), "builds/app#7");
        assert_eq!(describe("logs", &chunk_key(&bk, 42)), "logs/app#7@42");
        assert_eq!(describe("jobs", b"app"), "jobs/app");
    }
}
