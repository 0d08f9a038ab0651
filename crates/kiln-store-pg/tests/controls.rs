//! Controls and log signals across controllers on a real PostgreSQL started by the test:
//! several stores on one database stand for several controllers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a broken setup should stop it loudly"
)]

use kiln_store::{Coordination, NewBuild, Signal, Store};
use kiln_store_pg::{ClaimLimits, Lease, PgOptions, PgStore};
use kiln_testkit::TestPostgres;
use kiln_types::JobName;
use std::time::Duration;
use tokio::sync::mpsc::Receiver;

fn open(url: &str) -> PgStore {
    PgStore::open(&PgOptions::new(url)).unwrap_or_else(|e| panic!("cannot open {url}: {e:?}"))
}

/// The next signal `pick` keeps (others are skipped), waiting at most 30 s.
fn next<T>(rx: &mut Receiver<Signal>, pick: impl Fn(Signal) -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        match rx.try_recv() {
            Ok(signal) => {
                if let Some(t) = pick(signal) {
                    return t;
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    panic!("no such signal within 30 s");
}

#[test]
fn a_control_reaches_the_owner_and_its_answer_the_sender_and_a_takeover_finds_it_pending() {
    let server = TestPostgres::start();
    let url = server.new_database();
    let (owner, sender, heir) = (open(&url), open(&url), open(&url));
    let app = JobName::new("app").unwrap();
    let queued = sender.create_build(&app, NewBuild::default()).unwrap();
    // Nobody drives a queued build yet: nothing is sent.
    assert_eq!(sender.send_control(&queued.id, "{}").unwrap(), None);
    assert!(matches!(
        owner
            .renew_lease("owner", Duration::from_millis(1500))
            .unwrap(),
        Lease::Held { .. }
    ));
    let claim = owner
        .claim_next("owner", &ClaimLimits::default())
        .unwrap()
        .unwrap();
    assert_eq!(claim.build, queued.id);
    let mut on_owner = owner.signals().unwrap();
    let mut on_sender = sender.signals().unwrap();

    let id = sender
        .send_control(&queued.id, r#"{"cancel":"by me"}"#)
        .unwrap()
        .expect("a driven build takes a control");
    let to = next(&mut on_owner, |s| match s {
        Signal::Control { owner } => Some(owner),
        _ => None,
    });
    assert_eq!(to, "owner");
    let pending = owner.pending_controls("owner").unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].id, &pending[0].build, pending[0].body.as_str()),
        (id, &queued.id, r#"{"cancel":"by me"}"#)
    );
    assert_eq!(heir.pending_controls("heir").unwrap(), []);
    assert_eq!(sender.control_outcome(id).unwrap(), None);
    owner.answer_control(id, "ok").unwrap();
    let answered = next(&mut on_sender, |s| match s {
        Signal::ControlAnswered(n) => Some(n),
        _ => None,
    });
    assert_eq!(answered, id);
    assert_eq!(sender.control_outcome(id).unwrap().as_deref(), Some("ok"));
    // The first answer stays.
    owner.answer_control(id, "again").unwrap();
    assert_eq!(sender.control_outcome(id).unwrap().as_deref(), Some("ok"));
    assert_eq!(owner.pending_controls("owner").unwrap(), []);

    // Sent to an owner that dies before answering: its heir finds it after the takeover.
    let unanswered = sender.send_control(&queued.id, "late").unwrap().unwrap();
    std::thread::sleep(Duration::from_millis(2000));
    assert!(matches!(
        heir.renew_lease("heir", Duration::from_secs(60)).unwrap(),
        Lease::Held { .. }
    ));
    assert_eq!(heir.take_over("heir").unwrap().len(), 1);
    let found = heir.pending_controls("heir").unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].id, found[0].body.as_str()), (unanswered, "late"));
    assert_eq!(owner.pending_controls("owner").unwrap(), []);
}

#[test]
fn every_log_append_is_signalled_to_other_controllers() {
    let server = TestPostgres::start();
    let url = server.new_database();
    let (writer, reader) = (open(&url), open(&url));
    let app = JobName::new("app").unwrap();
    let build = writer.create_build(&app, NewBuild::default()).unwrap();
    let mut on_reader = reader.signals().unwrap();
    writer.append_log(&build.id, b"hello\n").unwrap();
    let grew = next(&mut on_reader, |s| match s {
        Signal::LogGrew(b) => Some(b),
        _ => None,
    });
    assert_eq!(grew, build.id);
    assert_eq!(
        reader.read_log(&build.id, 0, 100).unwrap().bytes,
        b"hello\n"
    );
    // The same through the trait a scheduler holds.
    let (tx, rx) = std::sync::mpsc::channel();
    let shared: &dyn Coordination = &reader;
    shared
        .listen(Box::new(move |s| {
            let _ = tx.send(s.clone());
        }))
        .unwrap();
    writer.append_log(&build.id, b"again\n").unwrap();
    let got = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(got, Signal::LogGrew(build.id.clone()));
}

#[test]
fn a_builds_files_kept_by_one_controller_are_read_by_another() {
    let server = TestPostgres::start();
    let url = server.new_database();
    let (one, other) = (open(&url), open(&url));
    let app = JobName::new("app").unwrap();
    let build = one.create_build(&app, NewBuild::default()).unwrap();
    assert_eq!(other.get_files(&build.id, "stash/out").unwrap(), None);
    let file = |path: &str, bytes: &[u8]| kiln_store::BuildFile {
        path: path.to_owned(),
        bytes: bytes.to_vec(),
    };
    one.put_files(
        &build.id,
        "stash/out",
        &[file("a/b.txt", b"b"), file("c", &[0, 255])],
    )
    .unwrap();
    one.put_files(&build.id, "stash/empty", &[]).unwrap();
    one.put_files(&build.id, "stash/outer", &[file("x", b"x")])
        .unwrap();
    assert_eq!(
        other.get_files(&build.id, "stash/out").unwrap(),
        Some(vec![file("a/b.txt", b"b"), file("c", &[0, 255])])
    );
    assert_eq!(
        other.get_files(&build.id, "stash/empty").unwrap(),
        Some(vec![])
    );
    // Kept again, a set replaces what it held, and only that set.
    one.put_files(&build.id, "stash/out", &[file("new", b"n")])
        .unwrap();
    assert_eq!(
        other.get_files(&build.id, "stash/out").unwrap(),
        Some(vec![file("new", b"n")])
    );
    assert_eq!(
        other.get_files(&build.id, "stash/outer").unwrap(),
        Some(vec![file("x", b"x")])
    );
}
