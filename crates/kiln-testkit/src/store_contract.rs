//! The operations every [`Store`] answers alike, as data: each [`Case`] is a script of
//! operations and the transcript of their results. `tests/memory_store.rs` runs every case on
//! `SledStore` and [`MemoryStore`](crate::MemoryStore), kiln-store-pg's `tests/contract.rs` on
//! `PgStore`; each must give the transcript written here.

use kiln_store::{
    BuildStatus, JobRecord, LogEvent, LogEventKind, NewBuild, Page, Store, StoreError,
};
use kiln_types::{BuildRef, JobName};
use std::collections::BTreeMap;

/// A script of operations and the results every store gives.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub name: &'static str,
    /// Operations, `;`-separated: `new JOB MS` (create a build queued at MS), `status JOB#N S`
    /// (S: q, r, i, f), `get JOB#N`, `page JOB BEFORE LIMIT` (BEFORE `-` for none), `in S,S`,
    /// `log JOB#N TEXT`, `logev JOB#N TEXT` (TEXT as a step's line and a process's output),
    /// `events JOB#N`, `read JOB#N OFFSET MAX`, `rm JOB#N`, `jobs`, `job JOB LAST [K=V]`,
    /// `meta JOB`, `rmjob JOB`.
    pub script: &'static str,
    /// The results, `; `-separated (`error: MESSAGE` for an error).
    pub expected: &'static str,
}

/// Every case of the contract.
pub const CASES: &[Case] = &[
    Case {
        name: "builds are numbered per job",
        script: "new a 0; new a 0; new b 0; new a 0; jobs",
        expected: "a#1; a#2; b#1; a#3; a:3 b:1",
    },
    Case {
        name: "numbers are not reused after a delete",
        script: "new a 0; new a 0; rm a#2; new a 0; page a - 10",
        expected: "a#1; a#2; ok; a#3; a#3 a#1",
    },
    Case {
        name: "put_job never lowers the last number",
        script: "new a 0; new a 0; job a 0; jobs; job a 9; new a 0",
        expected: "a#1; a#2; ok; a:2; ok; a#10",
    },
    Case {
        name: "jobs keep their meta and list by name",
        script: "job b 0 polled=abc; job a 3; meta b; meta a; meta c; jobs; job b 0 polled=def; meta b",
        expected: "ok; ok; b:0 polled=abc; a:3; none; a:3 b:0; ok; b:0 polled=def",
    },
    Case {
        name: "a job's record goes only once its builds went, and numbers start again",
        script: "new a 0; rmjob a; rm a#1; rmjob a; jobs; new a 0; rmjob zz",
        expected: "a#1; kept; ok; removed; ; a#1; kept",
    },
    Case {
        name: "pages are newest first and bounded",
        script: "new a 0; new a 0; new a 0; new b 0; page a - 2; page a 3 10; page a 1 10; page a - 0",
        expected: "a#1; a#2; a#3; b#1; a#3 a#2; a#2 a#1; -; -",
    },
    Case {
        name: "builds in states are oldest queued first",
        script: "new a 30; new b 10; new a 20; status a#2 r; status b#1 r; in r; in q,r; in f",
        expected: "a#1; b#1; a#2; ok; ok; b#1 a#2; b#1 a#2 a#1; -",
    },
    Case {
        name: "updates replace the record",
        script: "new a 5; get a#1; status a#1 i; get a#1; status a#1 f; get a#1; in i; in f",
        expected: "a#1; a#1 Queued; ok; a#1 WaitingForInput; ok; a#1 Finished; -; a#1",
    },
    Case {
        name: "logs append and read in slices",
        script: "new a 0; log a#1 hello; log a#1 world; read a#1 0 100; read a#1 3 4; read a#1 50 4",
        expected: "a#1; 5; 10; \"helloworld\"@0/10; \"lowo\"@3/10; \"\"@50/10",
    },
    Case {
        name: "log events are placed where their append landed",
        script: "new a 0; log a#1 hi; logev a#1 abcd; events a#1; log a#1 ; read a#1 1 4",
        expected: "a#1; 2; 6; plain@0+2 line@2+2 output(p1 0..2)@4+2; 6; \"iabc\"@1/6",
    },
    Case {
        name: "missing builds are errors",
        script: "status a#1 r; log a#1 x; read a#1 0 1; rm a#1; new a 0; rm a#1; rm a#1; read a#1 0 1; events a#1",
        expected: "error: build a#1 does not exist; error: build a#1 does not exist; \
         error: build a#1 does not exist; error: build a#1 does not exist; a#1; ok; \
         error: build a#1 does not exist; error: build a#1 does not exist; \
         error: build a#1 does not exist",
    },
];

/// Runs `script` on `store` and returns the transcript of its results.
pub fn transcript(store: &dyn Store, script: &str) -> String {
    let results: Vec<String> = script
        .split(';')
        .map(|op| match op_result(store, op.trim()) {
            Ok(Ok(text)) => text,
            Ok(Err(e)) => format!("error: {e}"),
            Err(bad) => format!("bad operation `{bad}`"),
        })
        .collect();
    results.join("; ")
}

/// Runs every case on a fresh store from `open`; returns the cases whose transcript differs,
/// each with what was expected and what came.
pub fn failures(mut open: impl FnMut() -> Box<dyn Store>) -> Vec<String> {
    CASES
        .iter()
        .filter_map(|case| {
            let store = open();
            let got = transcript(store.as_ref(), case.script);
            (got != case.expected).then(|| {
                format!(
                    "{}:\n  script:   {}\n  expected: {}\n  got:      {got}",
                    case.name, case.script, case.expected
                )
            })
        })
        .collect()
}

/// One operation's result; `Err` for an operation the script got wrong.
fn op_result(store: &dyn Store, op: &str) -> Result<Result<String, StoreError>, String> {
    let words: Vec<&str> = op.split_whitespace().collect();
    let bad = || op.to_owned();
    let num = |w: &str| w.parse::<u64>().map_err(|_| op.to_owned());
    Ok(match words.as_slice() {
        ["new", job, ms] => {
            let new = NewBuild {
                cause: "test".into(),
                queued_at_ms: num(ms)?,
                ..NewBuild::default()
            };
            JobName::new(*job)
                .map_err(StoreError::from)
                .and_then(|job| store.create_build(&job, new))
                .map(|b| b.id.to_string())
        }
        ["status", build, s] => {
            let (id, status) = (
                build_ref(build).ok_or_else(bad)?,
                status(s).ok_or_else(bad)?,
            );
            set_status(store, &id, status).map(|()| "ok".into())
        }
        ["get", build] => store
            .get_build(&build_ref(build).ok_or_else(bad)?)
            .map(|b| b.map_or("none".into(), |b| format!("{} {:?}", b.id, b.status))),
        ["page", job, before, limit] => {
            let page = Page {
                before: before.parse().ok(),
                limit: usize::try_from(num(limit)?).map_err(|_| bad())?,
            };
            JobName::new(*job)
                .map_err(StoreError::from)
                .and_then(|job| store.list_builds(&job, page))
                .map(|b| ids(&b))
        }
        ["in", states] => {
            let states = states
                .split(',')
                .map(status)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(bad)?;
            store.builds_in(&states).map(|b| ids(&b))
        }
        ["log", build, text @ ..] => store
            .append_log(
                &build_ref(build).ok_or_else(bad)?,
                text.join(" ").as_bytes(),
            )
            .map(|n| n.to_string()),
        ["logev", build, text] => {
            let (line, output) = text.split_at(text.len() / 2);
            let events = [
                event(0, line.len(), LogEventKind::Line),
                event(
                    line.len(),
                    output.len(),
                    LogEventKind::Output {
                        process: "p1".into(),
                        from: 0,
                        to: output.len() as u64,
                        lines: 1,
                    },
                ),
            ];
            store
                .append_log_events(&build_ref(build).ok_or_else(bad)?, text.as_bytes(), &events)
                .map(|n| n.to_string())
        }
        ["events", build] => store
            .read_log_events(&build_ref(build).ok_or_else(bad)?)
            .map(|events| {
                events
                    .iter()
                    .map(describe_event)
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
        ["read", build, offset, max] => store
            .read_log(
                &build_ref(build).ok_or_else(bad)?,
                num(offset)?,
                usize::try_from(num(max)?).map_err(|_| bad())?,
            )
            .map(|slice| {
                format!(
                    "{:?}@{}/{}",
                    String::from_utf8_lossy(&slice.bytes),
                    slice.offset,
                    slice.end
                )
            }),
        ["rm", build] => store
            .delete_build(&build_ref(build).ok_or_else(bad)?)
            .map(|()| "ok".into()),
        ["rmjob", name] => JobName::new(*name)
            .map_err(StoreError::from)
            .and_then(|name| store.delete_job(&name))
            .map(|removed| if removed { "removed" } else { "kept" }.into()),
        ["jobs"] => store.list_jobs().map(|jobs| {
            let jobs: Vec<String> = jobs
                .iter()
                .map(|j| format!("{}:{}", j.name, j.last_number))
                .collect();
            jobs.join(" ")
        }),
        ["job", name, last, meta @ ..] => {
            let meta: BTreeMap<String, String> = meta
                .iter()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let last = num(last)?;
            JobName::new(*name)
                .map_err(StoreError::from)
                .and_then(|name| {
                    store.put_job(&JobRecord {
                        name,
                        last_number: last,
                        meta,
                    })
                })
                .map(|()| "ok".into())
        }
        ["meta", name] => JobName::new(*name)
            .map_err(StoreError::from)
            .and_then(|name| store.get_job(&name))
            .map(|job| match job {
                None => "none".into(),
                Some(j) => {
                    let mut text = format!("{}:{}", j.name, j.last_number);
                    for (k, v) in &j.meta {
                        text.push_str(&format!(" {k}={v}"));
                    }
                    text
                }
            }),
        _ => return Err(bad()),
    })
}

fn set_status(store: &dyn Store, id: &BuildRef, status: BuildStatus) -> Result<(), StoreError> {
    let mut record = store
        .get_build(id)?
        .ok_or_else(|| StoreError::NoSuchBuild(id.to_string()))?;
    record.status = status;
    store.update_build(&record)
}

fn event(offset: usize, len: usize, kind: LogEventKind) -> LogEvent {
    LogEvent {
        offset: offset as u64,
        len: len as u64,
        at_ms: 1,
        stage: Some(2),
        kind,
    }
}

fn describe_event(e: &LogEvent) -> String {
    let kind = match &e.kind {
        LogEventKind::Plain => "plain".to_owned(),
        LogEventKind::Line => "line".to_owned(),
        LogEventKind::Output {
            process, from, to, ..
        } => format!("output({process} {from}..{to})"),
        other => format!("{other:?}"),
    };
    format!("{kind}@{}+{}", e.offset, e.len)
}

fn ids(builds: &[kiln_store::BuildRecord]) -> String {
    let ids: Vec<String> = builds.iter().map(|b| b.id.to_string()).collect();
    if ids.is_empty() {
        "-".into()
    } else {
        ids.join(" ")
    }
}

fn build_ref(text: &str) -> Option<BuildRef> {
    let (job, number) = text.split_once('#')?;
    Some(BuildRef {
        job: JobName::new(job).ok()?,
        number: number.parse().ok()?,
    })
}

fn status(text: &str) -> Option<BuildStatus> {
    Some(match text {
        "q" => BuildStatus::Queued,
        "r" => BuildStatus::Running,
        "i" => BuildStatus::WaitingForInput,
        "f" => BuildStatus::Finished,
        _ => return None,
    })
}
