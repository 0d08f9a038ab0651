//! `MemoryStore` answers as `SledStore` does: every case of kiln-testkit's store contract
//! (`store_contract::CASES`, which `PgStore` must pass too) runs on both, and each must give
//! the transcript written there.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: bad scripts should stop it loudly"
)]

use kiln_store::{NewBuild, SledStore, Store, StoreError};
use kiln_testkit::MemoryStore;
use kiln_testkit::store_contract::failures;
use kiln_types::JobName;

#[test]
fn sled_passes_the_store_contract() {
    let mut dirs = Vec::new();
    let failed = failures(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        dirs.push(dir);
        Box::new(store)
    });
    assert!(failed.is_empty(), "SledStore:\n{}", failed.join("\n"));
}

#[test]
fn memory_store_passes_the_store_contract() {
    let failed = failures(|| Box::new(MemoryStore::new()));
    assert!(failed.is_empty(), "MemoryStore:\n{}", failed.join("\n"));
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
