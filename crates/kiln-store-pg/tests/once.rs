//! Exactly once on a real PostgreSQL started by the test: several stores on one database
//! stand for several controllers racing to build one webhook delivery or one timer's due
//! time, and taking turns under an advisory lock.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a broken setup should stop it loudly"
)]

use kiln_store::{NewBuild, Page, Store};
use kiln_store_pg::{Once, PgOptions, PgStore};
use kiln_testkit::TestPostgres;
use kiln_types::JobName;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn open(url: &str) -> PgStore {
    PgStore::open(&PgOptions::new(url)).unwrap_or_else(|e| panic!("cannot open {url}: {e:?}"))
}

fn job(name: &str) -> JobName {
    JobName::new(name).unwrap()
}

fn count(store: &PgStore, name: &str) -> usize {
    let page = Page {
        before: None,
        limit: 1000,
    };
    store.list_builds(&job(name), page).unwrap().len()
}

#[test]
fn a_delivery_builds_each_job_once_whichever_store_races_for_it() {
    let server = TestPostgres::start();
    let url = server.new_database();
    let stores: Vec<PgStore> = (0..4).map(|_| open(&url)).collect();
    let once = Once::Delivery("github:d-1".to_owned());
    let created: Vec<bool> = std::thread::scope(|s| {
        let racing: Vec<_> = stores
            .iter()
            .map(|store| {
                s.spawn(|| {
                    store
                        .create_build_once(&job("app"), NewBuild::default(), 0, &once)
                        .unwrap()
                        .is_some()
                })
            })
            .collect();
        racing.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(created.iter().filter(|c| **c).count(), 1, "{created:?}");
    assert_eq!(count(&stores[0], "app"), 1);
    // The same delivery builds another job once too; taken alone, it is taken already.
    let other = stores[1].create_build_once(&job("lib"), NewBuild::default(), 0, &once);
    assert!(other.unwrap().is_some());
    assert!(!stores[2].take_once(&once, "app").unwrap());
    assert!(stores[2].take_once(&once, "").unwrap());
    assert!(!stores[3].take_once(&once, "").unwrap());
    let again = Once::Delivery("github:d-2".to_owned());
    let built = stores[3].create_build_once(&job("app"), NewBuild::default(), 0, &again);
    assert_eq!(built.unwrap().unwrap().id.number, 2);
}

#[test]
fn a_timer_fires_once_per_due_time_and_never_for_an_older_one() {
    let server = TestPostgres::start();
    let url = server.new_database();
    let (a, b) = (open(&url), open(&url));
    let at = |due_ms| Once::Timer {
        key: "cron:nightly".to_owned(),
        due_ms,
    };
    let fire = |store: &PgStore, due_ms| {
        store
            .create_build_once(&job("nightly"), NewBuild::default(), 0, &at(due_ms))
            .unwrap()
            .is_some()
    };
    assert!(fire(&a, 60_000));
    assert!(!fire(&b, 60_000), "the same due time");
    assert!(
        !fire(&b, 0),
        "an older due time (a controller whose clock is behind)"
    );
    assert!(fire(&b, 120_000));
    assert!(!a.take_once(&at(120_000), "").unwrap());
    assert!(a.take_once(&at(180_000), "").unwrap());
    // Another timer of its own.
    let poll = Once::Timer {
        key: "poll:nightly".to_owned(),
        due_ms: 60_000,
    };
    assert!(a.take_once(&poll, "").unwrap());
    assert_eq!(count(&a, "nightly"), 2);
}

#[test]
fn an_exclusive_name_is_held_by_one_store_at_a_time() {
    let server = TestPostgres::start();
    let url = server.new_database();
    let (a, b) = (open(&url), open(&url));
    let held = a.exclusive("retention:app").unwrap();
    // Another name is free.
    drop(b.exclusive("retention:lib").unwrap());
    let got = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let _turn = b.exclusive("retention:app").unwrap();
            got.store(true, Ordering::SeqCst);
        });
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !got.load(Ordering::SeqCst),
            "the second waits while the first holds it"
        );
        drop(held);
    });
    assert!(got.load(Ordering::SeqCst));
    // Given back: the first takes it again at once.
    drop(a.exclusive("retention:app").unwrap());
}
