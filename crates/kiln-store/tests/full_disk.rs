//! A full disk loses nothing: the store on a 20 MB tmpfs, filled while a log is written. Needs
//! root (to mount the tmpfs); fails, loudly, where it cannot mount.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_store::{NewBuild, SledStore, Store};
use kiln_types::{BuildRef, JobName};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("mnt");
        std::fs::create_dir(&dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test needs to mount a tmpfs (run it as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs {
            dir,
            _parent: parent,
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Fills the filesystem of `dir` with a file until the disk is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![b'f'; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    let _ = file.sync_all();
}

fn line(n: usize) -> String {
    format!("line {n:08} {}\n", "x".repeat(1000))
}

fn whole_log(store: &dyn Store, id: &BuildRef) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let slice = store.read_log(id, out.len() as u64, 1 << 20).unwrap();
        if slice.bytes.is_empty() {
            return out;
        }
        out.extend_from_slice(&slice.bytes);
    }
}

/// Regression: on a full disk, log bytes the API had served were gone after a restart, and
/// writes failed until kiln was restarted.
#[test]
fn a_full_disk_loses_nothing_served_and_writes_resume_when_space_returns() {
    let fs = Tmpfs::mount("20m");
    let store_dir = fs.dir.join("store");
    let store = SledStore::open(&store_dir).unwrap();
    let job = JobName::new("app").unwrap();
    let id = store.create_build(&job, NewBuild::default()).unwrap().id;
    for n in 0..200 {
        store.append_log(&id, line(n).as_bytes()).unwrap();
    }
    let filler = fs.dir.join("filler");
    fill(&filler);

    // Write until the store refuses; read (serve) the log after every append, as followers do.
    let mut served = whole_log(&store, &id);
    let mut failed = None;
    for n in 200..40_000 {
        match store.append_log(&id, line(n).as_bytes()) {
            Ok(_) => served = whole_log(&store, &id),
            Err(err) => {
                failed = Some(err);
                break;
            }
        }
    }
    let failed = failed.expect("appends kept succeeding on a full disk");
    eprintln!("append failed as expected: {failed}");
    assert!(store.check_writable().is_err(), "writable on a full disk");
    let seen = whole_log(&store, &id);
    assert!(seen.starts_with(&served), "the log went back while full");
    served = seen;

    // Space returns: writes go on without a restart.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Err(err) = store.check_writable() {
        assert!(
            Instant::now() < deadline,
            "the store did not write again: {err}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    store
        .append_log(&id, b"after the disk was freed\n")
        .unwrap();
    let after = whole_log(&store, &id);
    assert!(after.starts_with(&served), "bytes served before were lost");
    assert!(after.ends_with(b"after the disk was freed\n"));

    // And a restart keeps every byte served.
    drop(store);
    let store = SledStore::open(&store_dir).unwrap();
    assert_eq!(whole_log(&store, &id), after);
}
