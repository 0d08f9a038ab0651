//! `MemoryStore` answers as `SledStore` does: each script of operations runs against both,
//! and the transcripts must be equal (and equal to the one written here, so a change in
//! both shows too).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: bad scripts should stop it loudly"
)]

use kiln_store::{BuildStatus, JobRecord, NewBuild, Page, SledStore, Store, StoreError};
use kiln_testkit::MemoryStore;
use kiln_types::{BuildRef, JobName};

/// Operations, `;`-separated: `new JOB MS` (create a build queued at MS), `status JOB#N S`
/// (S: q, r, i, f), `page JOB BEFORE LIMIT` (BEFORE `-` for none), `in S,S`, `log JOB#N TEXT`,
/// `read JOB#N OFFSET MAX`, `rm JOB#N`, `jobs`, `job JOB LAST`.
#[track_caller]
fn check(script: &str, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let sled = SledStore::open(dir.path()).unwrap();
    let memory = MemoryStore::new();
    let on_sled = transcript(&sled, script);
    let in_memory = transcript(&memory, script);
    assert_eq!(
        in_memory, on_sled,
        "MemoryStore and SledStore differ on: {script}"
    );
    assert_eq!(in_memory, expected, "script: {script}");
}

fn transcript(store: &dyn Store, script: &str) -> String {
    let results: Vec<String> = script
        .split(';')
        .map(|op| op_result(store, op.trim()).unwrap_or_else(|e| format!("error: {e}")))
        .collect();
    results.join("; ")
}

fn op_result(store: &dyn Store, op: &str) -> Result<String, StoreError> {
    let words: Vec<&str> = op.split_whitespace().collect();
    Ok(match words.as_slice() {
        ["new", job, ms] => {
            let new = NewBuild {
                cause: "test".into(),
                queued_at_ms: ms.parse().unwrap(),
                ..NewBuild::default()
            };
            store
                .create_build(&JobName::new(*job)?, new)?
                .id
                .to_string()
        }
        ["status", build, s] => {
            let mut record = store
                .get_build(&build_ref(build))?
                .ok_or_else(|| StoreError::NoSuchBuild((*build).to_owned()))?;
            record.status = status(s);
            store.update_build(&record)?;
            "ok".into()
        }
        ["page", job, before, limit] => {
            let page = Page {
                before: before.parse().ok(),
                limit: limit.parse().unwrap(),
            };
            ids(&store.list_builds(&JobName::new(*job)?, page)?)
        }
        ["in", states] => {
            ids(&store.builds_in(&states.split(',').map(status).collect::<Vec<_>>())?)
        }
        ["log", build, text] => store
            .append_log(&build_ref(build), text.as_bytes())?
            .to_string(),
        ["read", build, offset, max] => {
            let slice = store.read_log(
                &build_ref(build),
                offset.parse().unwrap(),
                max.parse().unwrap(),
            )?;
            format!(
                "{:?}@{}/{}",
                String::from_utf8(slice.bytes).unwrap(),
                slice.offset,
                slice.end
            )
        }
        ["rm", build] => {
            store.delete_build(&build_ref(build))?;
            "ok".into()
        }
        ["jobs"] => {
            let jobs: Vec<String> = store
                .list_jobs()?
                .iter()
                .map(|j| format!("{}:{}", j.name, j.last_number))
                .collect();
            jobs.join(" ")
        }
        ["job", name, last] => {
            store.put_job(&JobRecord {
                name: JobName::new(*name)?,
                last_number: last.parse().unwrap(),
                meta: Default::default(),
            })?;
            "ok".into()
        }
        _ => panic!("bad operation `{op}`"),
    })
}

fn ids(builds: &[kiln_store::BuildRecord]) -> String {
    let ids: Vec<String> = builds.iter().map(|b| b.id.to_string()).collect();
    if ids.is_empty() {
        "-".into()
    } else {
        ids.join(" ")
    }
}

fn build_ref(text: &str) -> BuildRef {
    let (job, number) = text.split_once('#').unwrap();
    BuildRef {
        job: JobName::new(job).unwrap(),
        number: number.parse().unwrap(),
    }
}

fn status(text: &str) -> BuildStatus {
    match text {
        "q" => BuildStatus::Queued,
        "r" => BuildStatus::Running,
        "i" => BuildStatus::WaitingForInput,
        "f" => BuildStatus::Finished,
        other => panic!("bad status `{other}`"),
    }
}

#[test]
fn builds_are_numbered_per_job() {
    check(
        "new a 0; new a 0; new b 0; new a 0; jobs",
        "a#1; a#2; b#1; a#3; a:3 b:1",
    );
}

#[test]
fn numbers_are_not_reused_after_a_delete() {
    check(
        "new a 0; new a 0; rm a#2; new a 0; page a - 10",
        "a#1; a#2; ok; a#3; a#3 a#1",
    );
}

#[test]
fn put_job_never_lowers_the_last_number() {
    check(
        "new a 0; new a 0; job a 0; jobs; job a 9; new a 0",
        "a#1; a#2; ok; a:2; ok; a#10",
    );
}

#[test]
fn pages_are_newest_first_and_bounded() {
    check(
        "new a 0; new a 0; new a 0; new b 0; page a - 2; page a 3 10; page a 1 10; page a - 0",
        "a#1; a#2; a#3; b#1; a#3 a#2; a#2 a#1; -; -",
    );
}

#[test]
fn builds_in_states_are_oldest_queued_first() {
    check(
        "new a 30; new b 10; new a 20; status a#2 r; status b#1 r; in r; in q,r; in f",
        "a#1; b#1; a#2; ok; ok; b#1 a#2; b#1 a#2 a#1; -",
    );
}

#[test]
fn logs_append_and_read_in_slices() {
    check(
        "new a 0; log a#1 hello; log a#1 world; read a#1 0 100; read a#1 3 4; read a#1 50 4",
        "a#1; 5; 10; \"helloworld\"@0/10; \"lowo\"@3/10; \"\"@50/10",
    );
}

#[test]
fn missing_builds_are_errors() {
    check(
        "status a#1 r; log a#1 x; read a#1 0 1; rm a#1; new a 0; rm a#1; rm a#1; read a#1 0 1",
        "error: build a#1 does not exist; error: build a#1 does not exist; \
         error: build a#1 does not exist; error: build a#1 does not exist; a#1; ok; \
         error: build a#1 does not exist; error: build a#1 does not exist",
    );
}

#[test]
fn schema_versions_agree() {
    let dir = tempfile::tempdir().unwrap();
    let sled = SledStore::open(dir.path()).unwrap();
    assert_eq!(MemoryStore::new().schema_version(), sled.schema_version());
}

#[test]
fn failing_writes_fail_and_heal() {
    let store = MemoryStore::new();
    let job = JobName::new("a").unwrap();
    store.fail_writes("no space left on device");
    let err = store.create_build(&job, NewBuild::default()).unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(store.check_writable().is_err());
    assert_eq!(
        store.list_jobs().unwrap(),
        Vec::new(),
        "a failed write wrote nothing"
    );
    store.heal();
    store.check_writable().unwrap();
    assert_eq!(
        store
            .create_build(&job, NewBuild::default())
            .unwrap()
            .id
            .number,
        1
    );
}
