//! `PgStore` against a real PostgreSQL started by the test on 127.0.0.1: every case of
//! kiln-testkit's store contract (which `SledStore` and `MemoryStore` pass too), the schema
//! and its migration lock, several stores on one database, and what the store refuses.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a broken setup should stop it loudly"
)]

use kiln_store::{LogEvent, NewBuild, Store, StoreError};
use kiln_store_pg::{PgOptions, PgStore};
use kiln_testkit::TestPostgres;
use kiln_testkit::store_contract::failures;
use kiln_types::JobName;
use std::sync::Arc;

fn open(url: &str) -> PgStore {
    PgStore::open(&PgOptions::new(url)).unwrap_or_else(|e| panic!("cannot open {url}: {e:?}"))
}

#[test]
fn postgres_passes_the_store_contract() {
    let server = TestPostgres::start();
    let failed = failures(|| Box::new(open(&server.new_database())));
    assert!(failed.is_empty(), "PgStore:\n{}", failed.join("\n"));
}

#[test]
fn concurrent_opens_migrate_once_and_reopening_keeps_the_data() {
    let server = TestPostgres::start();
    let url = server.new_database();
    let opened: Vec<PgStore> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| open(&url))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(opened.iter().all(|s| s.schema_version() == 5));
    let job = JobName::new("app").unwrap();
    opened[0].create_build(&job, NewBuild::default()).unwrap();
    drop(opened);
    let again = open(&url);
    assert_eq!(again.list_jobs().unwrap()[0].last_number, 1);
}

#[test]
fn stores_on_one_database_number_builds_once_and_append_whole() {
    let server = TestPostgres::start();
    let url = server.new_database();
    let stores: Vec<Arc<PgStore>> = (0..3).map(|_| Arc::new(open(&url))).collect();
    let job = JobName::new("app").unwrap();
    let first = stores[0].create_build(&job, NewBuild::default()).unwrap();
    let numbers: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = stores
            .iter()
            .map(|store| {
                let (store, job, id) = (store.clone(), job.clone(), first.id.clone());
                s.spawn(move || {
                    let mut numbers = Vec::new();
                    for i in 0..10 {
                        numbers.push(
                            store
                                .create_build(&job, NewBuild::default())
                                .unwrap()
                                .id
                                .number,
                        );
                        let line = format!("line {i} of a writer\n");
                        store.append_log(&id, line.as_bytes()).unwrap();
                    }
                    numbers
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut sorted = numbers.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (2..=31).collect::<Vec<u64>>(),
        "each number handed out once"
    );
    // Every append landed whole, its event where its text is.
    let log = stores[1].read_log(&first.id, 0, usize::MAX).unwrap();
    let text = String::from_utf8(log.bytes).unwrap();
    assert_eq!(text.lines().count(), 30);
    assert!(
        text.lines()
            .all(|l| l.starts_with("line ") && l.ends_with(" of a writer"))
    );
    let events = stores[2].read_log_events(&first.id).unwrap();
    assert_eq!(events.len(), 30);
    let mut at = 0;
    for e in &events {
        assert_eq!(e.offset, at);
        assert!(text[at as usize..e.end() as usize].ends_with('\n'));
        at = e.end();
    }
    assert_eq!(at, log.end);
}

#[test]
fn logs_keep_any_bytes_and_bad_events_are_refused() {
    let server = TestPostgres::start();
    let store = open(&server.new_database());
    let build = store
        .create_build(&JobName::new("app").unwrap(), NewBuild::default())
        .unwrap();
    let bytes: Vec<u8> = (0..=255u8).chain([0, 0xff, b'\n']).collect();
    assert_eq!(store.append_log(&build.id, &bytes).unwrap(), 259);
    assert_eq!(store.read_log(&build.id, 0, 1000).unwrap().bytes, bytes);
    assert_eq!(store.read_log(&build.id, 255, 2).unwrap().bytes, [255, 0]);
    let err = store
        .append_log_events(&build.id, b"abc", &[LogEvent::plain(0, 2)])
        .unwrap_err();
    assert!(matches!(err, StoreError::BadEvents(_)), "{err:?}");
    assert_eq!(
        store.read_log(&build.id, 0, 1000).unwrap().end,
        259,
        "nothing of it written"
    );
    // A record with a NUL in a string (which `jsonb` would refuse) round-trips.
    let mut record = build.clone();
    record.reason = Some("bad\u{0}byte".into());
    store.update_build(&record).unwrap();
    assert_eq!(store.get_build(&build.id).unwrap().unwrap(), record);
    store.check_writable().unwrap();
}

#[test]
fn an_unreachable_database_is_a_connect_error_without_the_password() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url =
        format!("postgres://kiln:s3cret@127.0.0.1:{port}/ci?sslmode=disable&connect_timeout=2");
    let err = PgStore::open(&PgOptions::new(url)).unwrap_err();
    let text = format!("{err}");
    assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
    assert!(
        text.contains(&format!("postgres://127.0.0.1:{port}/ci")),
        "{text}"
    );
    assert!(!format!("{err:?}").contains("s3cret"), "{err:?}");
    let bad = PgStore::open(&PgOptions::new("postgres://[::1")).unwrap_err();
    assert!(matches!(bad, StoreError::Backend(_)), "{bad:?}");
}

#[test]
fn a_schema_from_a_newer_kiln_is_refused_untouched() {
    let server = TestPostgres::start();
    let url = server.new_database();
    drop(open(&url));
    // A newer kiln's version, written as it would be.
    let output = std::process::Command::new("psql")
        .args([url.as_str(), "-c", "UPDATE kiln_schema SET version = 99"])
        .output();
    let output = output.expect("psql (Debian's postgresql-client) is needed");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let err = PgStore::open(&PgOptions::new(&url)).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                found: 99,
                supported: 5
            }
        ),
        "{err:?}"
    );
}

#[test]
fn sslmode_require_refuses_a_server_without_tls() {
    let server = TestPostgres::start();
    let url = server
        .new_database()
        .replace("sslmode=disable", "sslmode=require");
    let err = PgStore::open(&PgOptions::new(&url)).unwrap_err();
    assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
    // `prefer` (libpq's default) falls back to plain text with such a server.
    let url = url.replace("sslmode=require", "sslmode=prefer");
    open(&url).check_writable().unwrap();
}

#[test]
fn tls_verifies_the_server_against_the_ca_file() {
    let server = TestPostgres::start_tls();
    let plain = server.new_database();
    let url = plain
        .replace("sslmode=disable", "sslmode=require")
        .replace("127.0.0.1", "localhost");
    let mut options = PgOptions::new(&url);
    // Without the test's CA the certificate is not trusted.
    let err = PgStore::open(&options).unwrap_err();
    assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
    options.ca_file = Some(server.ca_file());
    let store = PgStore::open(&options).unwrap();
    let build = store
        .create_build(&JobName::new("app").unwrap(), NewBuild::default())
        .unwrap();
    assert_eq!(build.id.number, 1);
    // The certificate names localhost and 127.0.0.1, not another name: the same server
    // reached as `wrong.invalid` (`hostaddr` dials 127.0.0.1) is refused.
    let other = format!(
        "{}&hostaddr=127.0.0.1",
        url.replace("localhost", "wrong.invalid")
    );
    let err = PgStore::open(&PgOptions {
        url: other,
        ..options.clone()
    })
    .unwrap_err();
    let chain = format!("{err:?}");
    assert!(matches!(err, StoreError::Connect { .. }), "{chain}");
    assert!(
        chain.contains("NotValidForName"),
        "refused for its name: {chain}"
    );
}
