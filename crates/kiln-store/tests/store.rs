//! SledStore operations as data: each `check` runs a script of store operations on a fresh store
//! and compares the transcript of their results.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_store::{
    BuildRecord, BuildStatus, JobRecord, NewBuild, Page, SledStore, Store, StoreError,
};
use kiln_types::{BuildRef, BuildResult, JobName};

/// Runs `script` (operations separated by `;`) and compares the results (separated by `; `).
///
/// Operations: `create JOB [at MS]`, `set JOB#N STATUS`, `get JOB#N`, `list JOB [before N] [limit L]`,
/// `in STATUS,...`, `append JOB#N TEXT`, `read JOB#N OFFSET MAX`, `delete JOB#N`, `jobs`,
/// `putjob JOB LAST`.
#[track_caller]
fn check(script: &str, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let results: Vec<String> = script.split(';').map(|op| run(&store, op.trim())).collect();
    assert_eq!(results.join("; "), expected, "script: {script}");
}

fn run(store: &SledStore, op: &str) -> String {
    let (verb, rest) = op.split_once(' ').unwrap_or((op, ""));
    let words: Vec<&str> = rest.split_whitespace().collect();
    let outcome = match verb {
        "create" => create(store, &words),
        "set" => set_status(store, words[0], status(words[1])),
        "get" => store
            .get_build(&id(words[0]))
            .map(|b| b.map_or("none".into(), |b| format!("{} {:?}", b.id, b.status))),
        "list" => list(store, &words),
        "in" => {
            let states: Vec<BuildStatus> = words[0].split(',').map(status).collect();
            store.builds_in(&states).map(|bs| ids(&bs))
        }
        "append" => {
            let text = rest.split_once(' ').map_or("", |(_, t)| t);
            store
                .append_log(&id(words[0]), text.as_bytes())
                .map(|n| n.to_string())
        }
        "read" => store
            .read_log(
                &id(words[0]),
                words[1].parse().unwrap(),
                words[2].parse().unwrap(),
            )
            .map(|s| {
                format!(
                    "{:?}@{} end {}",
                    String::from_utf8(s.bytes).unwrap(),
                    s.offset,
                    s.end
                )
            }),
        "delete" => store.delete_build(&id(words[0])).map(|()| "ok".into()),
        "jobs" => store.list_jobs().map(|js| {
            let names: Vec<String> = js
                .iter()
                .map(|j| format!("{}:{}", j.name, j.last_number))
                .collect();
            names.join(" ")
        }),
        "putjob" => JobName::new(words[0])
            .map_err(StoreError::from)
            .and_then(|name| {
                let job = JobRecord {
                    name,
                    last_number: words[1].parse().unwrap(),
                    meta: Default::default(),
                };
                store.put_job(&job).map(|()| "ok".into())
            }),
        other => panic!("unknown operation `{other}`"),
    };
    outcome.unwrap_or_else(|e| format!("error: {e}"))
}

fn create(store: &SledStore, words: &[&str]) -> Result<String, StoreError> {
    let job = JobName::new(words[0])?;
    let queued_at_ms = match words {
        [_, "at", ms] => ms.parse().unwrap(),
        _ => 0,
    };
    let new = NewBuild {
        cause: "test".into(),
        queued_at_ms,
        ..NewBuild::default()
    };
    Ok(store.create_build(&job, new)?.id.to_string())
}

fn set_status(store: &SledStore, build: &str, status: BuildStatus) -> Result<String, StoreError> {
    let mut record = store
        .get_build(&id(build))?
        .unwrap_or_else(|| BuildRecord::queued(id(build), NewBuild::default()));
    record.status = status;
    if status == BuildStatus::Finished {
        record.result = Some(BuildResult::Success);
    }
    store.update_build(&record).map(|()| "ok".into())
}

fn list(store: &SledStore, words: &[&str]) -> Result<String, StoreError> {
    let mut page = Page {
        before: None,
        limit: 50,
    };
    for pair in words[1..].chunks(2) {
        match pair {
            ["before", n] => page.before = Some(n.parse().unwrap()),
            ["limit", n] => page.limit = n.parse().unwrap(),
            _ => panic!("bad list arguments {pair:?}"),
        }
    }
    Ok(ids(&store.list_builds(&JobName::new(words[0])?, page)?))
}

fn ids(builds: &[BuildRecord]) -> String {
    let ids: Vec<String> = builds.iter().map(|b| b.id.to_string()).collect();
    if ids.is_empty() {
        "-".into()
    } else {
        ids.join(" ")
    }
}

fn id(text: &str) -> BuildRef {
    let (job, number) = text.split_once('#').unwrap();
    BuildRef {
        job: JobName::new(job).unwrap(),
        number: number.parse().unwrap(),
    }
}

fn status(text: &str) -> BuildStatus {
    match text {
        "queued" => BuildStatus::Queued,
        "running" => BuildStatus::Running,
        "input" => BuildStatus::WaitingForInput,
        "finished" => BuildStatus::Finished,
        other => panic!("unknown status `{other}`"),
    }
}

#[test]
fn numbers_are_allocated_per_job() {
    check(
        "create a; create a; create b; create a",
        "a#1; a#2; b#1; a#3",
    );
    check("create a; create b; jobs", "a#1; b#1; a:1 b:1");
    check(
        "create app; create app-2; create app.x",
        "app#1; app-2#1; app.x#1",
    );
}

#[test]
fn put_job_never_moves_the_number_back() {
    check(
        "create a; create a; putjob a 0; create a; jobs",
        "a#1; a#2; ok; a#3; a:3",
    );
    check("putjob a 41; create a", "ok; a#42");
}

#[test]
fn lists_newest_first_with_before_and_limit() {
    let five = "create a; create a; create a; create a; create a";
    let made = "a#1; a#2; a#3; a#4; a#5";
    check(
        &format!("{five}; list a"),
        &format!("{made}; a#5 a#4 a#3 a#2 a#1"),
    );
    check(
        &format!("{five}; list a limit 2"),
        &format!("{made}; a#5 a#4"),
    );
    check(
        &format!("{five}; list a before 4 limit 2"),
        &format!("{made}; a#3 a#2"),
    );
    check(&format!("{five}; list a before 2"), &format!("{made}; a#1"));
    check(&format!("{five}; list a before 1"), &format!("{made}; -"));
    check(&format!("{five}; list a limit 0"), &format!("{made}; -"));
    check(
        "create a; create ab; create a; list a",
        "a#1; ab#1; a#2; a#2 a#1",
    );
    check("list nobody", "-");
}

#[test]
fn lists_past_256_in_number_order() {
    let script: Vec<&str> = std::iter::repeat_n("create a", 300).collect();
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    for op in &script {
        run(&store, op);
    }
    assert_eq!(
        run(&store, "list a before 258 limit 3"),
        "a#257 a#256 a#255"
    );
}

#[test]
fn builds_in_follows_status_changes() {
    check(
        "create a at 5; create b at 3; in queued",
        "a#1; b#1; b#1 a#1",
    );
    check(
        "create a; create a; set a#1 running; in queued; in running",
        "a#1; a#2; ok; a#2; a#1",
    );
    check(
        "create a; create a; set a#1 running; set a#1 finished; in queued,running; in finished",
        "a#1; a#2; ok; ok; a#2; a#1",
    );
    check(
        "create a; set a#1 input; in input; in queued,running",
        "a#1; ok; a#1; -",
    );
}

#[test]
fn update_and_get_round_trip() {
    check(
        "create a; set a#1 running; get a#1; get a#2",
        "a#1; ok; a#1 Running; none",
    );
    check("set a#3 running", "error: build a#3 does not exist");
}

#[test]
fn full_records_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let job = JobName::new("app").unwrap();
    let new = NewBuild {
        cause: "push by alice".into(),
        started_by: Some(kiln_store::CauseRecord::Webhook {
            what: "push by alice".into(),
        }),
        params: [("GREETING".to_string(), "hi".to_string())].into(),
        commit: Some("0123abcd".into()),
        branch: Some("main".into()),
        queued_at_ms: 1_700_000_000_000,
        change: Some(kiln_store::ChangeRecord {
            vars: [("CHANGE_ID".to_string(), "42".to_string())].into(),
            trusted: false,
            note: "Running Jenkinsfile of the target branch".into(),
        }),
    };
    let mut build = store.create_build(&job, new.clone()).unwrap();
    assert_eq!(
        build,
        BuildRecord::queued(
            BuildRef {
                job: job.clone(),
                number: 1
            },
            new
        )
    );
    build.status = BuildStatus::Finished;
    build.result = Some(BuildResult::Aborted);
    build.reason = Some("controller restarted".into());
    build.tests = Some(kiln_store::TestSummary {
        total: 3,
        failed: 1,
        skipped: 0,
    });
    build.artifacts.push(kiln_store::ArtifactRecord {
        path: "out/app.tar".into(),
        size: 42,
    });
    store.update_build(&build).unwrap();
    drop(store);
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.get_build(&build.id).unwrap(), Some(build));
}

#[test]
fn logs_append_and_read_across_chunks() {
    check("create a; append a#1 hello; append a#1 world", "a#1; 5; 10");
    check(
        "create a; append a#1 abc; append a#1 defg; read a#1 2 3",
        r#"a#1; 3; 7; "cde"@2 end 7"#,
    );
    check(
        "create a; append a#1 abc; append a#1 defg; read a#1 0 100",
        r#"a#1; 3; 7; "abcdefg"@0 end 7"#,
    );
    check(
        "create a; append a#1 abc; append a#1 defg; read a#1 3 4",
        r#"a#1; 3; 7; "defg"@3 end 7"#,
    );
    check(
        "create a; append a#1 abc; read a#1 3 10; read a#1 9 10",
        r#"a#1; 3; ""@3 end 3; ""@9 end 3"#,
    );
    check(
        "create a; append a#1 abc; read a#1 1 0",
        r#"a#1; 3; ""@1 end 3"#,
    );
    check("create a; read a#1 0 10", r#"a#1; ""@0 end 0"#);
    check("append a#1 x", "error: build a#1 does not exist");
    check("read a#1 0 1", "error: build a#1 does not exist");
}

#[test]
fn large_appends_are_split_and_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let b = store
        .create_build(&JobName::new("a").unwrap(), NewBuild::default())
        .unwrap()
        .id;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut end = 0;
    for piece in [
        &data[..1],
        &data[1..70_001],
        &data[70_001..70_002],
        &data[70_002..],
    ] {
        end = store.append_log(&b, piece).unwrap();
    }
    assert_eq!(end, data.len() as u64);
    for (offset, max) in [
        (0, 300_000),
        (16_383, 2),
        (16_384, 1),
        (69_999, 5),
        (1, 100_000),
        (299_990, 50),
    ] {
        let slice = store.read_log(&b, offset as u64, max).unwrap();
        let want = &data[offset..(offset + max).min(data.len())];
        assert!(slice.bytes == want, "read at {offset} max {max}");
        assert_eq!(slice.end, end);
        // Read into a buffer that held something else: the same bytes, in that buffer
        // (a follower's reads reuse their memory).
        let buffer = vec![b'#'; 300_000];
        let at = buffer.as_ptr();
        let into = store.read_log_into(&b, offset as u64, max, buffer).unwrap();
        assert!(
            into.bytes == want,
            "read into a buffer at {offset} max {max}"
        );
        assert_eq!(into.bytes.as_ptr(), at, "the buffer given is reused");
    }
}

#[test]
fn delete_removes_the_build_and_its_log() {
    check(
        "create a; append a#1 abc; set a#1 running; delete a#1; get a#1; in running; read a#1 0 9; list a",
        "a#1; 3; ok; ok; none; -; error: build a#1 does not exist; -",
    );
    check("create a; delete a#1; create a", "a#1; ok; a#2");
    check("delete a#1", "error: build a#1 does not exist");
}

#[test]
fn delete_leaves_other_logs_alone() {
    check(
        "create a; create a; append a#1 one; append a#2 two; delete a#1; read a#2 0 9",
        r#"a#1; a#2; 3; 3; ok; "two"@0 end 3"#,
    );
}

#[test]
fn invalid_job_names_are_rejected() {
    // One `parent/child` level is a multibranch job's child; a deeper one is refused.
    for name in [
        "",
        ".hidden",
        "a/b/c",
        "a/",
        "/b",
        "a b",
        "a\0b",
        "ünï",
        &"x".repeat(101),
    ] {
        let err = StoreError::from(JobName::new(name).unwrap_err());
        assert!(matches!(err, StoreError::InvalidJobName(_)), "{name:?}");
    }
    check(
        "create a/b/c",
        "error: invalid job name `a/b/c`: use letters, digits, `-`, `_` and `.`",
    );
    check(
        "putjob .x 0",
        "error: invalid job name `.x`: use letters, digits, `-`, `_` and `.`",
    );
}

/// The structured record of a log: each append's events are placed where its text went, and
/// go with the build.
#[test]
fn log_events_are_placed_with_their_text_and_deleted_with_the_build() {
    use kiln_store::{LogEvent, LogEventKind};
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let b = store
        .create_build(&JobName::new("a").unwrap(), NewBuild::default())
        .unwrap()
        .id;
    let event = |offset, len, kind| LogEvent {
        offset,
        len,
        at_ms: 5,
        stage: Some(1),
        kind,
    };
    store.append_log(&b, b"Started\n").unwrap();
    let output = LogEventKind::Output {
        process: "p".into(),
        from: 0,
        to: 4,
        lines: 2,
    };
    let appended = [
        event(0, 14, LogEventKind::StageStarted),
        event(14, 12, output.clone()),
    ];
    let text = b"[A] Stage started\n[A] a\n[A] b\n";
    assert_eq!(
        store.append_log_events(&b, &text[..26], &appended).unwrap(),
        34
    );
    let events = store.read_log_events(&b).unwrap();
    assert_eq!(
        events,
        [
            LogEvent::plain(0, 8),
            event(8, 14, LogEventKind::StageStarted),
            event(22, 12, output)
        ]
    );
    // Events that do not tile the appended text are refused, and nothing is appended.
    for bad in [
        vec![event(1, 3, LogEventKind::Line)],
        vec![event(0, 3, LogEventKind::Line)],
        vec![],
    ] {
        let err = store.append_log_events(&b, b"abcd", &bad).unwrap_err();
        assert!(matches!(err, StoreError::BadEvents(_)), "{err}");
    }
    assert_eq!(store.read_log(&b, 0, 100).unwrap().end, 34);
    store.delete_build(&b).unwrap();
    let again = store
        .create_build(&JobName::new("b").unwrap(), NewBuild::default())
        .unwrap()
        .id;
    assert_eq!(store.read_log_events(&again).unwrap(), []);
    assert!(matches!(
        store.read_log_events(&b),
        Err(StoreError::NoSuchBuild(_))
    ));
}
