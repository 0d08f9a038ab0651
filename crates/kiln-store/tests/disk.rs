//! SledStore against hand-made databases: corrupt values, schema versions and migrations,
//! interrupted deletes. These tests write sled directly with the documented layout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_store::{
    BuildStatus, LogEvent, LogEventKind, NewBuild, Page, SledStore, Store, StoreError,
};
use kiln_types::{BuildRef, JobName};
use std::path::Path;

fn build_key(job: &str, number: u64) -> Vec<u8> {
    [job.as_bytes(), &[0], &number.to_be_bytes()].concat()
}

fn id(job: &str, number: u64) -> BuildRef {
    BuildRef {
        job: JobName::new(job).unwrap(),
        number,
    }
}

/// Opens the store's sled database directly (the store must be closed). A store dropped just
/// before may hold sled's file lock a little longer (its I/O threads drop their handles after
/// the last flush returned; on a loaded machine that can be late), so a held lock is waited for.
fn raw(dir: &Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let opened = sled::Config::new()
            .path(dir)
            .segment_size(kiln_store::SledStore::SEGMENT_BYTES)
            .open();
        match opened {
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other.unwrap(),
        }
    }
}

/// One raw edit: tree, key, and the new value (`None` removes the entry).
type RawEdit<'a> = (&'a str, Vec<u8>, Option<&'a [u8]>);

/// Writes or removes raw entries behind the store's back, then flushes.
fn poke(dir: &Path, edits: &[RawEdit<'_>]) {
    let db = raw(dir);
    for (tree, key, value) in edits {
        let tree = db.open_tree(tree).unwrap();
        match value {
            Some(v) => drop(tree.insert(key.as_slice(), *v).unwrap()),
            None => drop(tree.remove(key.as_slice()).unwrap()),
        }
    }
    db.flush().unwrap();
}

/// A store with one job `a` and builds a#1 (queued) and a#2 (running, log "hello").
fn store_with_builds(dir: &Path) {
    let store = SledStore::open(dir).unwrap();
    let job = JobName::new("a").unwrap();
    store.create_build(&job, NewBuild::default()).unwrap();
    let mut b2 = store.create_build(&job, NewBuild::default()).unwrap();
    b2.status = BuildStatus::Running;
    store.update_build(&b2).unwrap();
    store.append_log(&b2.id, b"hello").unwrap();
}

#[test]
fn corrupt_values_are_reported_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    store_with_builds(dir.path());
    poke(
        dir.path(),
        &[
            ("builds", build_key("a", 2), Some(b"{not json")),
            ("jobs", b"a".to_vec(), Some(b"[]")),
            ("log_len", build_key("a", 2), Some(b"\"x\"")),
        ],
    );
    let store = SledStore::open(dir.path()).unwrap();
    let corrupt_key = |r: Result<_, StoreError>| match r {
        Err(StoreError::Corrupt { key, .. }) => key,
        other => panic!("expected Corrupt, got {:?}", other.map(|_| ())),
    };
    assert_eq!(
        corrupt_key(store.get_build(&id("a", 2)).map(drop)),
        "builds/a#2"
    );
    assert_eq!(
        corrupt_key(store.builds_in(&[BuildStatus::Running]).map(drop)),
        "builds/a#2"
    );
    assert_eq!(
        corrupt_key(
            store
                .list_builds(
                    &JobName::new("a").unwrap(),
                    Page {
                        before: None,
                        limit: 5
                    }
                )
                .map(drop)
        ),
        "builds/a#2"
    );
    assert_eq!(
        corrupt_key(store.get_job(&JobName::new("a").unwrap()).map(drop)),
        "jobs/a"
    );
    assert_eq!(corrupt_key(store.list_jobs().map(drop)), "jobs/a");
    assert_eq!(
        corrupt_key(store.read_log(&id("a", 2), 0, 10).map(drop)),
        "log_len/a#2"
    );
    assert_eq!(
        corrupt_key(store.append_log(&id("a", 2), b"x").map(drop)),
        "log_len/a#2"
    );
    // Good records next to the corrupt ones still read.
    assert_eq!(
        store.get_build(&id("a", 1)).unwrap().unwrap().status,
        BuildStatus::Queued
    );
    let err = store.get_build(&id("a", 2)).unwrap_err().to_string();
    assert_eq!(err, "stored record `builds/a#2` is corrupt");
}

#[test]
fn a_corrupt_build_can_be_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    store_with_builds(dir.path());
    poke(
        dir.path(),
        &[("builds", build_key("a", 1), Some(b"garbage"))],
    );
    let store = SledStore::open(dir.path()).unwrap();
    let mut repaired = kiln_store::BuildRecord::queued(id("a", 1), NewBuild::default());
    repaired.status = BuildStatus::Finished;
    store.update_build(&repaired).unwrap();
    assert_eq!(store.get_build(&id("a", 1)).unwrap(), Some(repaired));
    assert!(store.builds_in(&[BuildStatus::Queued]).unwrap().is_empty());
}

/// The file of a log (frames), named by its build key in hex.
fn log_file(dir: &Path, job: &str, number: u64) -> std::path::PathBuf {
    named_log_file(dir, job, number, "lz4")
}

/// A log's file with the given extension (`log`: the text itself, before schema 4).
fn named_log_file(dir: &Path, job: &str, number: u64, extension: &str) -> std::path::PathBuf {
    let hex: String = build_key(job, number)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    dir.join("logs").join(format!("{hex}.{extension}"))
}

#[test]
fn a_log_whose_file_lost_text_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let b = {
        let store = SledStore::open(dir.path()).unwrap();
        let b = store
            .create_build(&JobName::new("a").unwrap(), NewBuild::default())
            .unwrap()
            .id;
        for part in ["abc", "def", "ghi"] {
            store.append_log(&b, part.as_bytes()).unwrap();
        }
        b
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(log_file(dir.path(), "a", 1))
        .unwrap();
    // Each three-byte append is one frame holding the text as it is: 5 cuts the second.
    file.set_len(5).unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.read_log(&b, 0, 3).unwrap().bytes, b"abc");
    for (offset, max) in [(0, 9), (4, 2), (6, 3)] {
        let err = store.read_log(&b, offset, max).unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt { .. }),
            "{offset}/{max}: {err}"
        );
        assert!(err.to_string().contains("logs/a#1"), "{err}");
    }
    // An append does not paper over the lost text.
    assert!(matches!(
        store.append_log(&b, b"x").unwrap_err(),
        StoreError::Corrupt { .. }
    ));
    std::fs::remove_file(log_file(dir.path(), "a", 1)).unwrap();
    assert!(matches!(
        store.read_log(&b, 0, 1).unwrap_err(),
        StoreError::Corrupt { .. }
    ));
}

/// Version 2: log text as chunks in sled. Each log moves to its file, without the chunks of
/// an append that was never flushed (past the recorded length); a log whose chunks have a
/// gap keeps the text before it and says it is corrupt past it; the chunks are gone.
#[test]
fn migrates_a_version_2_store_with_logs_in_chunks() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = raw(dir.path());
        let chunks = db.open_tree("logs").unwrap();
        let lens = db.open_tree("log_len").unwrap();
        let events = db.open_tree("log_events").unwrap();
        for n in [1, 2] {
            let record = serde_json::json!({
                "id": {"job": "a", "number": n}, "status": "finished", "result": null,
                "cause": "v2", "params": {}, "commit": null, "branch": null, "queued_at_ms": n,
                "started_at_ms": null, "finished_at_ms": null, "stages": [], "tests": null,
                "artifacts": [], "reason": null, "pending_input": null,
            });
            db.open_tree("builds")
                .unwrap()
                .insert(build_key("a", n), serde_json::to_vec(&record).unwrap())
                .unwrap();
            db.open_tree("status")
                .unwrap()
                .insert([&b"F"[..], &build_key("a", n)].concat(), &[])
                .unwrap();
            lens.insert(build_key("a", n), &b"12"[..]).unwrap();
            events
                .insert(
                    [build_key("a", n), 0u64.to_be_bytes().to_vec()].concat(),
                    serde_json::to_vec(&[LogEvent::plain(0, 12)]).unwrap(),
                )
                .unwrap();
        }
        let chunk = |n: u64, at: u64, text: &[u8]| {
            chunks
                .insert(
                    [build_key("a", n), at.to_be_bytes().to_vec()].concat(),
                    text,
                )
                .unwrap();
        };
        // a#1: two chunks and one past its length; a#2: a gap at 4..8.
        chunk(
            1, 0, b"first
",
        );
        chunk(
            1, 6, b"secnd
",
        );
        chunk(
            1,
            12,
            b"never flushed
",
        );
        chunk(2, 0, b"abcd");
        chunk(2, 8, b"ijkl");
        db.open_tree("jobs")
            .unwrap()
            .insert("a", &br#"{"name":"a","last_number":2}"#[..])
            .unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", &b"2"[..])
            .unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.schema_version(), 4);
    assert_eq!(
        store.read_log(&id("a", 1), 0, 100).unwrap().bytes,
        b"first\nsecnd\n"
    );
    assert_eq!(
        std::fs::read(log_file(dir.path(), "a", 1)).unwrap().len(),
        12
    );
    assert_eq!(store.read_log(&id("a", 2), 0, 4).unwrap().bytes, b"abcd");
    assert!(matches!(
        store.read_log(&id("a", 2), 0, 12).unwrap_err(),
        StoreError::Corrupt { .. }
    ));
    assert_eq!(store.append_log(&id("a", 1), b"third\n").unwrap(), 18);
    drop(store);
    let db = raw(dir.path());
    assert_eq!(db.open_tree("logs").unwrap().len(), 0);
}

#[test]
fn a_new_store_is_at_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.schema_version(), 4);
    drop(store);
    let db = raw(dir.path());
    assert_eq!(
        db.open_tree("meta")
            .unwrap()
            .get("schema_version")
            .unwrap()
            .unwrap(),
        &b"4"[..]
    );
}

/// Version 0: builds, jobs and logs written without a version key, a status index or log lengths.
#[test]
fn migrates_a_version_0_store() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = raw(dir.path());
        let jobs = db.open_tree("jobs").unwrap();
        let builds = db.open_tree("builds").unwrap();
        let logs = db.open_tree("logs").unwrap();
        jobs.insert("a", &br#"{"name":"a","last_number":3}"#[..])
            .unwrap();
        for (n, status) in [(1, "finished"), (2, "running"), (3, "queued")] {
            let record = serde_json::json!({
                "id": {"job": "a", "number": n}, "status": status, "result": null,
                "cause": "v0", "params": {}, "commit": null, "branch": null, "queued_at_ms": n,
                "started_at_ms": null, "finished_at_ms": null, "stages": [], "tests": null,
                "artifacts": [], "reason": null, "pending_input": null,
            });
            builds
                .insert(build_key("a", n), serde_json::to_vec(&record).unwrap())
                .unwrap();
        }
        logs.insert(
            [build_key("a", 2), 0u64.to_be_bytes().to_vec()].concat(),
            &b"line 1\n"[..],
        )
        .unwrap();
        logs.insert(
            [build_key("a", 2), 7u64.to_be_bytes().to_vec()].concat(),
            &b"line 2\n"[..],
        )
        .unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.schema_version(), 4);
    let ids = |states: &[BuildStatus]| -> Vec<u64> {
        store
            .builds_in(states)
            .unwrap()
            .iter()
            .map(|b| b.id.number)
            .collect()
    };
    assert_eq!(ids(&[BuildStatus::Running]), [2]);
    assert_eq!(ids(&[BuildStatus::Queued, BuildStatus::Running]), [2, 3]);
    assert_eq!(ids(&[BuildStatus::Finished]), [1]);
    assert_eq!(store.read_log(&id("a", 2), 0, 100).unwrap().end, 14);
    assert_eq!(
        store.read_log_events(&id("a", 2)).unwrap(),
        [LogEvent::plain(0, 14)]
    );
    assert_eq!(store.append_log(&id("a", 2), b"line 3\n").unwrap(), 21);
    assert_eq!(
        store.read_log(&id("a", 2), 0, 100).unwrap().bytes,
        b"line 1\nline 2\nline 3\n"
    );
    assert_eq!(
        store
            .create_build(&JobName::new("a").unwrap(), NewBuild::default())
            .unwrap()
            .id
            .number,
        4
    );
    drop(store);
    // A second open finds version 3 and runs nothing.
    assert_eq!(SledStore::open(dir.path()).unwrap().schema_version(), 4);
}

#[test]
fn refuses_a_newer_schema_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    store_with_builds(dir.path());
    poke(
        dir.path(),
        &[("meta", b"schema_version".to_vec(), Some(b"7"))],
    );
    let err = SledStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                found: 7,
                supported: 4
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "store schema version 7 is newer than this kiln understands (4)"
    );
    let db = raw(dir.path());
    assert_eq!(
        db.open_tree("meta")
            .unwrap()
            .get("schema_version")
            .unwrap()
            .unwrap(),
        &b"7"[..]
    );
    assert_eq!(db.open_tree("builds").unwrap().len(), 2);
}

#[test]
fn a_corrupt_schema_version_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    poke(
        dir.path(),
        &[("meta", b"schema_version".to_vec(), Some(b"one"))],
    );
    let err = SledStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { key, .. } if key == "meta/schema_version"),
        "{err:?}"
    );
}

#[test]
fn open_finishes_an_interrupted_delete() {
    let dir = tempfile::tempdir().unwrap();
    store_with_builds(dir.path());
    // The state right after the delete transaction and before the chunks were removed.
    poke(
        dir.path(),
        &[
            ("builds", build_key("a", 2), None),
            ("log_len", build_key("a", 2), None),
            ("status", [&b"R"[..], &build_key("a", 2)].concat(), None),
            (
                "meta",
                [&b"deleting/"[..], &build_key("a", 2)].concat(),
                Some(b""),
            ),
        ],
    );
    assert!(log_file(dir.path(), "a", 2).exists());
    drop(SledStore::open(dir.path()).unwrap());
    assert!(!log_file(dir.path(), "a", 2).exists());
    let db = raw(dir.path());
    assert_eq!(db.open_tree("log_events").unwrap().len(), 0);
    assert_eq!(db.open_tree("log_frames").unwrap().len(), 0);
    assert_eq!(
        db.open_tree("meta")
            .unwrap()
            .scan_prefix("deleting/")
            .count(),
        0
    );
}

/// Version 1: logs without events (kiln before its build records were structured). They still
/// open and serve their text, their events are one plain event each, and new appends add
/// typed events after it.
#[test]
fn migrates_a_version_1_store_whose_logs_have_no_events() {
    let dir = tempfile::tempdir().unwrap();
    let b = {
        let db = raw(dir.path());
        let record = serde_json::json!({
            "id": {"job": "a", "number": 1}, "status": "running", "result": null,
            "cause": "v1", "params": {}, "commit": null, "branch": null, "queued_at_ms": 1,
            "started_at_ms": null, "finished_at_ms": null, "stages": [], "tests": null,
            "artifacts": [], "reason": null, "pending_input": null,
        });
        db.open_tree("jobs")
            .unwrap()
            .insert("a", &br#"{"name":"a","last_number":1}"#[..])
            .unwrap();
        db.open_tree("builds")
            .unwrap()
            .insert(build_key("a", 1), serde_json::to_vec(&record).unwrap())
            .unwrap();
        db.open_tree("status")
            .unwrap()
            .insert([&b"R"[..], &build_key("a", 1)].concat(), &[])
            .unwrap();
        let text = b"Started by user alice\n[Build] Stage started\n";
        db.open_tree("logs")
            .unwrap()
            .insert(
                [build_key("a", 1), 0u64.to_be_bytes().to_vec()].concat(),
                &text[..],
            )
            .unwrap();
        db.open_tree("log_len")
            .unwrap()
            .insert(
                build_key("a", 1),
                serde_json::to_vec(&(text.len() as u64)).unwrap(),
            )
            .unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", &b"1"[..])
            .unwrap();
        db.flush().unwrap();
        id("a", 1)
    };
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.schema_version(), 4);
    let old = "Started by user alice\n[Build] Stage started\n";
    assert_eq!(store.read_log(&b, 0, 1000).unwrap().bytes, old.as_bytes());
    assert_eq!(
        store.read_log_events(&b).unwrap(),
        [LogEvent::plain(0, old.len() as u64)]
    );
    let line = LogEvent {
        offset: 0,
        len: 4,
        at_ms: 9,
        stage: Some(1),
        kind: LogEventKind::Line,
    };
    store
        .append_log_events(&b, b"[B] ", std::slice::from_ref(&line))
        .unwrap();
    let events = store.read_log_events(&b).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[1].offset,
        old.len() as u64,
        "placed after the old text"
    );
    assert_eq!(events[1].kind, line.kind);
    drop(store);
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(
        store.read_log_events(&b).unwrap(),
        events,
        "a second open changes nothing"
    );
}

/// Everything under `path`, in bytes.
fn disk_usage(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .unwrap()
        .flatten()
        .map(|e| {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                disk_usage(&e.path())
            } else {
                m.len()
            }
        })
        .sum()
}

/// Regression (issue 11): a log written in many appends took about 1.75 times its size in
/// the store (sled rewrote the pages of its chunks); then, as a file of the text, its size,
/// which a loud build could not sync as fast as it printed. Now short lines take a small
/// part of their size, and text LZ4 cannot shrink about its size.
#[test]
fn a_log_takes_at_most_about_its_size_on_disk() {
    let short_lines = "[Loud] y\n".repeat(64 * 1024 / 9).into_bytes();
    let (grown, logged) = store_growth(&short_lines);
    assert!(
        grown < logged / 20 + (4 << 20),
        "the store grew by {grown} bytes for a log of {logged} short lines"
    );
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let (grown, logged) = store_growth(&noise);
    assert!(
        grown < logged + logged / 5 + (4 << 20),
        "the store grew by {grown} bytes for a log of {logged} bytes of noise"
    );
    assert!(grown >= logged, "the log's text is in the store");
}

/// How much a new store grows for a 32 MiB log appended as `batch` after `batch`, and the
/// log's length.
fn store_growth(batch: &[u8]) -> (u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let b = store
        .create_build(&JobName::new("loud").unwrap(), NewBuild::default())
        .unwrap()
        .id;
    let before = disk_usage(dir.path());
    let mut logged = 0u64;
    while logged < 32 << 20 {
        logged = store.append_log(&b, batch).unwrap();
    }
    let back = store.read_log(&b, logged - 10, 100).unwrap().bytes;
    assert_eq!(back, batch[batch.len() - 10..]);
    drop(store);
    (disk_usage(dir.path()) - before, logged)
}

/// Version 3: a log file held its text as it is. It is rewritten as frames and the old file
/// goes; a file shorter than its log keeps what it has and says it is corrupt past it.
#[test]
fn migrates_a_version_3_store_whose_log_files_hold_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[Build] line\n".repeat(700_000);
    {
        store_with_builds(dir.path());
        let store = SledStore::open(dir.path()).unwrap();
        let b3 = store
            .create_build(&JobName::new("a").unwrap(), NewBuild::default())
            .unwrap();
        store.append_log(&b3.id, text.as_bytes()).unwrap();
    }
    // Back to version 3: the text itself in `HEX.log`, no frames.
    for (n, body) in [(2, &b"hello"[..]), (3, text.as_bytes())] {
        std::fs::remove_file(log_file(dir.path(), "a", n)).unwrap();
        std::fs::write(named_log_file(dir.path(), "a", n, "log"), body).unwrap();
    }
    {
        let db = raw(dir.path());
        db.open_tree("log_frames").unwrap().clear().unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", &b"3"[..])
            .unwrap();
        db.flush().unwrap();
    }
    // a#2's file lost its last two bytes.
    std::fs::write(named_log_file(dir.path(), "a", 2, "log"), b"hel").unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.schema_version(), 4);
    let whole = store.read_log(&id("a", 3), 0, usize::MAX).unwrap();
    assert!(whole.bytes == text.as_bytes());
    let middle = store.read_log(&id("a", 3), 4_500_001, 50).unwrap();
    assert!(middle.bytes == text.as_bytes()[4_500_001..4_500_051]);
    assert_eq!(store.read_log(&id("a", 2), 0, 3).unwrap().bytes, b"hel");
    assert!(matches!(
        store.read_log(&id("a", 2), 0, 5).unwrap_err(),
        StoreError::Corrupt { .. }
    ));
    for n in [2, 3] {
        assert!(!named_log_file(dir.path(), "a", n, "log").exists());
    }
    assert!(
        std::fs::metadata(log_file(dir.path(), "a", 3))
            .unwrap()
            .len()
            < text.len() as u64 / 4
    );
    assert_eq!(
        store.append_log(&id("a", 3), b"more\n").unwrap(),
        text.len() as u64 + 5
    );
    drop(store);
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(
        store
            .read_log(&id("a", 3), text.len() as u64 - 2, 10)
            .unwrap()
            .bytes,
        b"e\nmore\n"
    );
}
