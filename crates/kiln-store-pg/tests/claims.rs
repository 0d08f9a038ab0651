//! Claiming, leases, takeover, fencing and new-build notifications on a real PostgreSQL
//! started by the test: several stores on one database stand for several controllers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a broken setup should stop it loudly"
)]

use kiln_store::{BuildStatus, LogEvent, NewBuild, Store, StoreError};
use kiln_store_pg::{Claim, ClaimLimits, Lease, PgOptions, PgStore};
use kiln_testkit::TestPostgres;
use kiln_types::{BuildRef, JobName};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn open(url: &str) -> PgStore {
    PgStore::open(&PgOptions::new(url)).unwrap_or_else(|e| panic!("cannot open {url}: {e:?}"))
}

fn job(name: &str) -> JobName {
    JobName::new(name).unwrap()
}

fn queue(store: &PgStore, name: &str, n: usize) {
    for _ in 0..n {
        store.create_build(&job(name), NewBuild::default()).unwrap();
    }
}

fn ids(claims: &[Claim]) -> Vec<String> {
    claims
        .iter()
        .map(|c| format!("{}@{}", c.build, c.epoch))
        .collect()
}

#[test]
fn controllers_racing_to_claim_get_each_build_once() {
    let server = TestPostgres::start();
    let url = server.new_database();
    let stores: Vec<Arc<PgStore>> = (0..4).map(|_| Arc::new(open(&url))).collect();
    for name in ["a", "b", "c"] {
        queue(&stores[0], name, 20);
    }
    let total = AtomicUsize::new(0);
    let claimed: Vec<Claim> = std::thread::scope(|s| {
        let handles: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(i, store)| {
                let total = &total;
                s.spawn(move || {
                    let me = format!("controller-{i}");
                    let mut mine = Vec::new();
                    let deadline = std::time::Instant::now() + Duration::from_secs(120);
                    // `None` can mean every job was locked by another claim at that moment.
                    while total.load(Ordering::SeqCst) < 60 && std::time::Instant::now() < deadline
                    {
                        match store.claim_next(&me, &ClaimLimits::default()).unwrap() {
                            Some(claim) => {
                                total.fetch_add(1, Ordering::SeqCst);
                                mine.push(claim);
                            }
                            None => std::thread::sleep(Duration::from_millis(5)),
                        }
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut builds: Vec<BuildRef> = claimed.iter().map(|c| c.build.clone()).collect();
    builds.sort();
    builds.dedup();
    assert_eq!(
        builds.len(),
        60,
        "every build claimed, none twice: {claimed:?}"
    );
    assert_eq!(claimed.len(), 60);
    assert!(claimed.iter().all(|c| c.epoch == 1));
    assert_eq!(
        stores[0]
            .claim_next("late", &ClaimLimits::default())
            .unwrap(),
        None
    );
    let by = |i: usize| {
        claimed
            .iter()
            .filter(|c| c.build.job.as_str() == ["a", "b", "c"][i])
            .count()
    };
    assert_eq!((by(0), by(1), by(2)), (20, 20, 20));
}

#[test]
fn claims_go_round_robin_across_jobs_within_the_limits() {
    let server = TestPostgres::start();
    let store = open(&server.new_database());
    queue(&store, "a", 3);
    queue(&store, "b", 1);
    queue(&store, "c", 2);
    let limits = ClaimLimits {
        capacity: Some(5),
        per_job: BTreeMap::from([(job("c"), 1)]),
    };
    let mut claims = Vec::new();
    while let Some(c) = store.claim_next("one", &limits).unwrap() {
        claims.push(c);
    }
    // c#2 waits for c#1 (one at a time), and five builds fill the capacity.
    assert_eq!(ids(&claims), ["a#1@1", "b#1@1", "c#1@1", "a#2@1", "a#3@1"]);
    let mut done = store.get_build(&claims[2].build).unwrap().unwrap();
    done.status = BuildStatus::Finished;
    store.update_build_fenced("one", &claims[2], &done).unwrap();
    let next = store.claim_next("one", &limits).unwrap().unwrap();
    assert_eq!(
        ids(&[next]),
        ["c#2@1"],
        "a finished build frees its job's and the global slot"
    );
    assert_eq!(store.claim_next("one", &limits).unwrap(), None);
}

#[test]
fn a_dead_controllers_builds_are_taken_over_and_its_writes_refused() {
    let server = TestPostgres::start();
    let url = server.new_database();
    let (old, new) = (open(&url), open(&url));
    assert!(matches!(
        old.renew_lease("old", Duration::from_millis(800)).unwrap(),
        Lease::Held { .. }
    ));
    assert!(matches!(
        new.renew_lease("new", Duration::from_secs(60)).unwrap(),
        Lease::Held { .. }
    ));
    queue(&old, "app", 2);
    let first = old
        .claim_next("old", &ClaimLimits::default())
        .unwrap()
        .unwrap();
    let second = old
        .claim_next("old", &ClaimLimits::default())
        .unwrap()
        .unwrap();
    // A live lease keeps its builds.
    assert_eq!(new.take_over("new").unwrap(), []);
    std::thread::sleep(Duration::from_millis(1200));
    let taken = new.take_over("new").unwrap();
    assert_eq!(ids(&taken), ["app#1@2", "app#2@2"]);
    assert_eq!(new.take_over("other").unwrap(), [], "taken once");
    // The old owner, back from a pause: its lease is not renewed, its writes are refused.
    assert_eq!(
        old.renew_lease("old", Duration::from_secs(5)).unwrap(),
        Lease::Lost
    );
    let mut record = old.get_build(&first.build).unwrap().unwrap();
    record.status = BuildStatus::Running;
    let err = old.update_build_fenced("old", &first, &record).unwrap_err();
    assert!(
        matches!(err, StoreError::Fenced { epoch: 1, .. }),
        "{err:?}"
    );
    let err = old.append_log_fenced("old", &first, b"late\n", &[LogEvent::plain(0, 5)]);
    assert!(matches!(err, Err(StoreError::Fenced { .. })), "{err:?}");
    new.update_build_fenced("new", &taken[0], &record).unwrap();
    let len = new.append_log_fenced("new", &taken[0], b"resumed\n", &[LogEvent::plain(0, 8)]);
    assert_eq!(len.unwrap(), 8, "only the owner's line is in the log");
    let stale = Claim {
        build: second.build.clone(),
        epoch: 2,
    };
    let err = old.update_build_fenced("old", &stale, &record).unwrap_err();
    assert!(
        matches!(err, StoreError::NoSuchBuild(_)),
        "a claim of another build: {err:?}"
    );
    // A released lease's builds go at once.
    new.release_lease("new").unwrap();
    let again = old.take_over("old-2").unwrap();
    assert_eq!(ids(&again), ["app#1@3", "app#2@3"]);
}

#[test]
fn new_builds_are_notified_to_every_listener() {
    let server = TestPostgres::start();
    let url = server.new_database();
    let (a, b) = (open(&url), open(&url));
    let mut on_a = a.new_builds().unwrap();
    let mut on_b = b.new_builds().unwrap();
    let made = b.create_build(&job("app"), NewBuild::default()).unwrap();
    for rx in [&mut on_a, &mut on_b] {
        let got = rx.blocking_recv().expect("a notification");
        assert_eq!(got, made.id);
    }
    drop(on_a);
    let second = a.create_build(&job("app"), NewBuild::default()).unwrap();
    assert_eq!(on_b.blocking_recv().unwrap(), second.id);
}

#[test]
fn a_build_in_its_quiet_period_is_not_claimed_before_its_end() {
    let server = TestPostgres::start();
    let store = open(&server.new_database());
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let quiet = store
        .create_build_not_before(&job("a"), NewBuild::default(), now_ms + 600_000)
        .unwrap();
    let soon = store
        .create_build_not_before(&job("b"), NewBuild::default(), now_ms + 1_500)
        .unwrap();
    let limits = ClaimLimits::default();
    assert_eq!(store.claim_next("c1", &limits).unwrap(), None);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let claim = loop {
        if let Some(claim) = store.claim_next("c1", &limits).unwrap() {
            break claim;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "b#1 is claimed once due"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(claim.build, soon.id);
    let waited = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        waited >= now_ms + 1_500,
        "not before its quiet period's end"
    );
    assert_eq!(
        store.claim_next("c1", &limits).unwrap(),
        None,
        "{quiet:?} waits"
    );
}

#[test]
fn files_kept_by_an_owner_paused_past_its_lease_are_refused_after_a_takeover() {
    let server = TestPostgres::start();
    let url = server.new_database();
    let (old, new) = (open(&url), open(&url));
    old.renew_lease("old", Duration::from_millis(800)).unwrap();
    new.renew_lease("new", Duration::from_secs(60)).unwrap();
    queue(&old, "app", 1);
    let claim = old
        .claim_next("old", &ClaimLimits::default())
        .unwrap()
        .unwrap();
    let file = |path: &str, bytes: &[u8]| kiln_store::BuildFile {
        path: path.to_owned(),
        bytes: bytes.to_vec(),
    };
    // The owner keeps a stash under its claim.
    old.put_files_fenced("old", &claim, "stash/out", &[file("a.txt", b"old")])
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let taken = new.take_over("new").unwrap();
    assert_eq!(ids(&taken), ["app#1@2"]);
    new.put_files_fenced("new", &taken[0], "stash/out", &[file("a.txt", b"new")])
        .unwrap();
    // Back from its pause, the old owner can neither replace a set nor add one.
    for set in ["stash/out", "artifacts"] {
        let err = old
            .put_files_fenced("old", &claim, set, &[file("a.txt", b"late")])
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Fenced { epoch: 1, .. }),
            "{set}: {err:?}"
        );
    }
    assert_eq!(
        new.get_files(&claim.build, "stash/out").unwrap(),
        Some(vec![file("a.txt", b"new")])
    );
    assert_eq!(new.get_files(&claim.build, "artifacts").unwrap(), None);
    // One file of a set, and the set's own entry.
    assert_eq!(
        old.get_file(&claim.build, "stash/out", "a.txt").unwrap(),
        Some(b"new".to_vec())
    );
    assert_eq!(
        old.get_file(&claim.build, "stash/out", "").unwrap(),
        Some(vec![])
    );
    assert_eq!(old.get_file(&claim.build, "stash/out", "b").unwrap(), None);
    // A build of another claim is not this claim's to write.
    let other = Claim {
        build: BuildRef {
            job: job("app"),
            number: 9,
        },
        epoch: 1,
    };
    let err = new
        .put_files_fenced("new", &other, "stash/out", &[])
        .unwrap_err();
    assert!(matches!(err, StoreError::NoSuchBuild(_)), "{err:?}");
}
