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

#[test]
fn a_log_with_a_missing_chunk_is_corrupt() {
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
    {
        let db = raw(dir.path());
        let chunk = [build_key("a", 1), 3u64.to_be_bytes().to_vec()].concat();
        db.open_tree("logs").unwrap().remove(chunk).unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.read_log(&b, 0, 3).unwrap().bytes, b"abc");
    assert_eq!(store.read_log(&b, 6, 3).unwrap().bytes, b"ghi");
    for (offset, max) in [(0, 9), (2, 3), (4, 1)] {
        let err = store.read_log(&b, offset, max).unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt { .. }),
            "{offset}/{max}: {err}"
        );
    }
}

#[test]
fn a_new_store_is_at_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.schema_version(), 2);
    drop(store);
    let db = raw(dir.path());
    assert_eq!(
        db.open_tree("meta")
            .unwrap()
            .get("schema_version")
            .unwrap()
            .unwrap(),
        &b"2"[..]
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
    assert_eq!(store.schema_version(), 2);
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
    // A second open finds version 2 and runs nothing.
    assert_eq!(SledStore::open(dir.path()).unwrap().schema_version(), 2);
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
                supported: 2
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "store schema version 7 is newer than this kiln understands (2)"
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
    drop(SledStore::open(dir.path()).unwrap());
    let db = raw(dir.path());
    assert_eq!(db.open_tree("logs").unwrap().len(), 0);
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
    assert_eq!(store.schema_version(), 2);
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
